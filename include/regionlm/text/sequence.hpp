#pragma once
// The decoder input of a prompt as a list of chunks (text ids, the image block, region token
// pairs) whose lengths are known before anything is embedded, and its assembly into
// `inputs_embeds`.
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "regionlm/text/conversation.hpp"
#include "regionlm/text/tokenizer.hpp"

namespace regionlm::text {

/// One contiguous piece of the decoder input.
struct Chunk {
  enum class Kind { Text, Image, Region };
  Kind kind = Kind::Text;
  std::vector<int64_t> ids;  // Text: token ids (embedded with the LLM's table). Image / Region:
                             // the placeholder ids these positions hold in the family's
                             // input_ids where it has them (GPT4RoI: N x <im_patch>, <bbox>;
                             // empty for Osprey); never embedded
  int64_t region_index = -1;  // Region: 0-based region whose tokens go here
  int64_t length = 0;         // positions: ids.size() / image tokens / tokens per region
                              // (Osprey 2: mask + pos; GPT4RoI 1: the box feature)
};

/// A whole prompt (or a continuation of one).
struct PromptLayout {
  std::vector<Chunk> chunks;
  int64_t length = 0;  // total positions
};

/// What build_prompt does when the first question of a conversation leaves regions unmentioned.
enum class UnmentionedRegions {
  Introduce,  // put region_header(num_regions) before that question, as Osprey's training data
              // opens every conversation; later turns may then name any region or none
  Reject,     // strict: ArgumentError naming the regions the conversation never references
};

/// Throws ArgumentError naming `what` when the text of `history` and `question` together is
/// over limits::kMaxPromptBytes; the prompt builders call it before tokenizing.
void check_prompt_bytes(const std::vector<Turn>& history, const std::string& question, const std::string& what);

/// Osprey's IMAGE_TOKEN_INDEX: the id that stands for the image block in its input_ids.
inline constexpr int64_t kImageTokenIndex = -200;

/// The full prompt of a conversation: template system text, the answered `history` turns, then
/// `question` and "ASSISTANT:". Placeholders are rewritten per user message with
/// expand_region_placeholders (so `<region>` counts from region 1 in each message). When the
/// first user message (history[0].user, else `question`) does not reference every one of the
/// `num_regions` regions, `unmentioned` decides: Introduce prepends region_header (expanded on
/// its own, so the message may still use `<region>`), Reject requires every region to be
/// referenced somewhere in the conversation. With
/// `include_image`, the template's image prefix goes before the first question and its
/// "<image>" becomes an Image chunk of `num_image_tokens` positions; the text before and after
/// it is tokenized separately, as Osprey's `tokenizer_image_token` does (BOS only at the start).
/// Throws ArgumentError for placeholder errors, "<image>" / "<mask>" / "<pos>" written in the
/// messages themselves, text over limits::kMaxPromptBytes (checked before tokenizing), or a
/// prompt longer than `max_length` positions (checked before embedding).
PromptLayout build_prompt(const Tokenizer& tok, const ConversationTemplate& tmpl,
                          const std::vector<Turn>& history, const std::string& question,
                          int64_t num_regions, int64_t num_image_tokens, int64_t max_length,
                          bool include_image = true,
                          UnmentionedRegions unmentioned = UnmentionedRegions::Introduce);

/// The continuation of a chat whose earlier turns and the last answer are already in the KV
/// cache: exactly the tokens build_prompt(history + {previous question, answer}, question)
/// has after the answer, i.e. encode(turn_end + "USER: " + question + " ASSISTANT:"), starting
/// with the EOS that ends the answer (the sampled EOS must not have been fed to the cache;
/// after a length cut-off it closes the answer too). Placeholders as in build_prompt, except
/// that regions need not all be referenced again. The template's turn_end must be a special
/// token (ArgumentError otherwise), and the continuation must fit `max_length_remaining`.
PromptLayout build_followup(const Tokenizer& tok, const ConversationTemplate& tmpl,
                            const std::string& question, int64_t num_regions,
                            int64_t max_length_remaining);

/// Decoder input embeddings [1, L, H] of a layout: Text chunks through `embed_fn` (given all
/// text ids at once as a 1-D int64 tensor on image_tokens' device, returning [n, H]), the Image
/// chunk from `image_tokens` [N, H], each Region chunk from mask_tokens[r] then pos_tokens[r]
/// ([R, H] each), or from mask_tokens[r] alone when pos_tokens is undefined (one token per
/// region, Region chunks of length 1). The result has image_tokens' device and dtype (image_tokens may be [0, H]
/// when the layout has no image). ShapeError when the tensors do not match the layout.
torch::Tensor assemble_embeddings(const PromptLayout& layout,
                                  const std::function<torch::Tensor(const torch::Tensor& ids)>& embed_fn,
                                  const torch::Tensor& image_tokens, const torch::Tensor& mask_tokens,
                                  const torch::Tensor& pos_tokens);

/// Position ids [1, L] (int64) of a layout that starts after `past_length` cached positions.
torch::Tensor layout_positions(const PromptLayout& layout, int64_t past_length, const torch::Device& device);

/// The layout as Osprey's input_ids: text ids, one `image_token_index` for the image block,
/// `<mask>`, `<pos>` ids for each region pair (for comparisons with the Python reference).
std::vector<int64_t> layout_ids(const PromptLayout& layout, const Tokenizer& tok,
                                int64_t image_token_index = kImageTokenIndex);

}  // namespace regionlm::text
