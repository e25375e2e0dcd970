#pragma once
// Turning LoadOptions' device and dtype strings into torch values.
#include <torch/types.h>

#include <string>

namespace regionlm::pipeline {

/// "" = CUDA when available, else CPU; "cpu", "cuda", "cuda:N". Throws ConfigError for
/// anything else, or for CUDA when this build or machine has none / fewer devices.
torch::Device resolve_device(const std::string& device);

/// "" = bfloat16 on CUDA, float32 elsewhere; "float32"/"fp32", "bfloat16"/"bf16",
/// "float16"/"fp16". Throws ConfigError for anything else.
torch::ScalarType resolve_dtype(const std::string& dtype, const torch::Device& device);

}  // namespace regionlm::pipeline
