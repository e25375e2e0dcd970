#pragma once
// Everything regionlm offers in one include: the user-facing Model API (model.hpp) and every
// part it is built from (checkpoint I/O, vision, regions, prompting, decoder).
// tests/pipeline/umbrella_test.cpp checks that no public header is missing here.

#include "regionlm/error.hpp"
#include "regionlm/config.hpp"
#include "regionlm/version.hpp"
#include "regionlm/prompts.hpp"
#include "regionlm/answer.hpp"
#include "regionlm/generation_options.hpp"
#include "regionlm/encoded_image.hpp"
#include "regionlm/chat.hpp"
#include "regionlm/model.hpp"
#include "regionlm/osprey.hpp"
#include "regionlm/region_tokens.hpp"

#include "regionlm/io/module_loader.hpp"
#include "regionlm/io/weights.hpp"

#include "regionlm/layers/linear.hpp"

#include "regionlm/vision/convnext.hpp"
#include "regionlm/vision/image.hpp"
#include "regionlm/vision/layers.hpp"
#include "regionlm/vision/preprocess.hpp"
#include "regionlm/vision/projector.hpp"
#include "regionlm/vision/resample.hpp"

#include "regionlm/region/mask_extractor.hpp"
#include "regionlm/region/masks.hpp"
#include "regionlm/region/mlp.hpp"
#include "regionlm/region/region.hpp"
#include "regionlm/region/rle.hpp"

#include "regionlm/text/conversation.hpp"
#include "regionlm/text/placeholders.hpp"
#include "regionlm/text/sequence.hpp"
#include "regionlm/text/tokenizer.hpp"

#include "regionlm/llm/attention.hpp"
#include "regionlm/llm/decoder_layer.hpp"
#include "regionlm/llm/generation.hpp"
#include "regionlm/llm/kv_cache.hpp"
#include "regionlm/llm/llama.hpp"
#include "regionlm/llm/llama_model.hpp"
#include "regionlm/llm/mlp.hpp"
#include "regionlm/llm/rms_norm.hpp"
#include "regionlm/llm/rotary_embedding.hpp"
#include "regionlm/llm/sampler.hpp"
#include "regionlm/llm/text_stream.hpp"
#include "regionlm/llm/token_embedding.hpp"

// GPT4RoI (standalone until regionlm::Model loads both families; docs/gpt4roi.md).
#include "regionlm/gpt4roi/box.hpp"
#include "regionlm/gpt4roi/clip_encoder_layer.hpp"
#include "regionlm/gpt4roi/clip_vision.hpp"
#include "regionlm/gpt4roi/config.hpp"
#include "regionlm/gpt4roi/conv_module.hpp"
#include "regionlm/gpt4roi/mlvl_fuse.hpp"
#include "regionlm/gpt4roi/model.hpp"
#include "regionlm/gpt4roi/prompt.hpp"
#include "regionlm/gpt4roi/roi_align.hpp"
#include "regionlm/gpt4roi/roi_extractor.hpp"
#include "regionlm/gpt4roi/spi_module.hpp"
