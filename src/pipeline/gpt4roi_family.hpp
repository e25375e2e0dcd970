#pragma once
// regionlm::Model's steps for a GPT4RoI checkpoint (ModelImpl::gpt4roi): the family dispatch
// of pipeline/inference.hpp hands a GPT4RoI model to the function of the same name here, and
// describe, describe_each and ChatSession::ask run one body for both families on top of
// those steps. The public types are Osprey's, in GPT4RoI's form:
//   EncodedImage  image tokens [256, hidden] and, as features(), the fused region pyramid;
//   RegionTokens  one token per region (its box feature), pos_tokens undefined, and a note per
//                 region that was not a box (its bounding box is used);
//   PromptLayout  GPT4RoI's "###" prompt as chunks: text, the <im_patch> block (Image), and a
//                 1-position Region chunk per <bbox> token; concatenating every chunk's ids
//                 gives GPT4RoI's input_ids.
// Generation adds the stop string "###" and cleans the answer as GPT4RoI's demo does, also
// while streaming (gpt4roi::AnswerStream).
#include <opencv2/core/mat.hpp>
#include <torch/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/access.hpp"
#include "pipeline/model_impl.hpp"
#include "regionlm/model.hpp"

namespace regionlm::pipeline::gpt4roi_family {

/// Name of GPT4RoI's conversation template (Model::conversation_template()): LLaVA v0's "###"
/// turns with Human / Assistant roles (GPT4RoI's conv_v1_2).
inline constexpr const char* kTemplateName = "llava_v0";

/// Model::load for a config.json naming SPILlavaMPTForCausalLM (`config_text`, read from
/// `config_file`). LoadOptions: device, dtype, on_progress, vision_tower (the CLIP directory
/// or hub id), image_prefix (GPT4RoI's first-turn prefix), allow_unexpected_keys, quantize;
/// conversation_template must be "" or kTemplateName (ConfigError otherwise).
std::shared_ptr<ModelImpl> load(const std::filesystem::path& dir, const std::string& config_text,
                                const std::filesystem::path& config_file, const LoadOptions& options);

/// CLIP tower, projector and the box-independent region pyramid, once per image.
EncodedImage encode(const std::shared_ptr<const ModelImpl>& model, const cv::Mat& rgb8);

/// Each region as a box (a box region exactly, any other its bounding box, noted) -> one
/// feature per region. ArgumentError naming the box or region. `notes_by_region`, when given,
/// receives one note per region ("" for a box); RegionTokens::notes holds the nonempty ones.
RegionTokens encode_regions(const ModelImpl& model, const EncodedImage::Data& image, const std::vector<Region>& regions,
                            std::vector<std::string>* notes_by_region);

/// The prompt of `prompt` after `history` as chunks. `require_all_regions`: every region must
/// have its <bbox> (describe); a chat may introduce regions in later turns.
text::PromptLayout layout(const ModelImpl& model, const std::string& prompt, int64_t num_regions,
                          const std::vector<text::Turn>& history, bool require_all_regions);

/// Decoder input [1, L, hidden] of a layout (text::assemble_embeddings in the one-token form).
torch::Tensor embed(const ModelImpl& model, const text::PromptLayout& layout, const EncodedImage::Data& image,
                    const RegionTokens& regions);

/// GPT4RoI's generation settings on top of the caller's: the stop string "###" and, when
/// `options.on_step` is set, pieces cleaned as they stream (one gpt4roi::AnswerStream per
/// row of a `rows`-row batch), so the caller sees the answer as it will read it.
GenerationOptions generation_options(const GenerationOptions& options, int64_t rows);

}  // namespace regionlm::pipeline::gpt4roi_family
