#pragma once
// Model::load's work: config, tokenizer, modules and weights of an Osprey directory (a GPT4RoI
// one is handed to gpt4roi_family::load).
#include <filesystem>
#include <memory>

#include "pipeline/model_impl.hpp"
#include "regionlm/model.hpp"

namespace regionlm::pipeline {

/// See Model::load.
std::shared_ptr<ModelImpl> load_model(const std::filesystem::path& dir, const LoadOptions& options);

}  // namespace regionlm::pipeline
