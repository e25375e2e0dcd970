#pragma once
// Model::load's work: config, tokenizer, modules and weights of an Osprey directory.
#include <filesystem>
#include <memory>

#include "pipeline/model_impl.hpp"
#include "regionlm/model.hpp"

namespace regionlm::pipeline {

/// Checkpoint prefix of the vision trunk inside Osprey's own shards.
inline constexpr const char* kVisionPrefix = "model.vision_tower.vision_tower.visual.trunk.";
/// Prefix of the trunk in an open_clip file (mm_vision_tower).
inline constexpr const char* kClipVisionPrefix = "visual.trunk.";
inline constexpr const char* kProjectorPrefix = "model.mm_projector.";
inline constexpr const char* kExtractorPrefix = "mask_extractor.";

/// See Model::load.
std::shared_ptr<ModelImpl> load_model(const std::filesystem::path& dir, const LoadOptions& options);

}  // namespace regionlm::pipeline
