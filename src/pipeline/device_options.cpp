#include "pipeline/device_options.hpp"

#include <torch/cuda.h>

#include "regionlm/error.hpp"

namespace regionlm::pipeline {

torch::Device resolve_device(const std::string& device) {
  if (device.empty()) return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (device == "cpu") return torch::Device(torch::kCPU);
  int64_t index = 0;
  if (device == "cuda") {
    index = 0;
  } else if (device.rfind("cuda:", 0) == 0 && device.size() > 5 &&
             device.find_first_not_of("0123456789", 5) == std::string::npos && device.size() < 9) {
    index = std::stoll(device.substr(5));
  } else {
    throw ConfigError("device '" + device + "': expected \"cpu\", \"cuda\" or \"cuda:N\"");
  }
  if (!torch::cuda::is_available()) {
    throw ConfigError("device '" + device + "': CUDA is not available in this build or on this machine");
  }
  const int64_t count = static_cast<int64_t>(torch::cuda::device_count());
  if (index >= count) {
    throw ConfigError("device '" + device + "': only " + std::to_string(count) + " CUDA device(s) present");
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

torch::ScalarType resolve_dtype(const std::string& dtype, const torch::Device& device) {
  if (dtype.empty()) return device.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
  if (dtype == "float32" || dtype == "fp32") return torch::kFloat32;
  if (dtype == "bfloat16" || dtype == "bf16") return torch::kBFloat16;
  if (dtype == "float16" || dtype == "fp16") return torch::kFloat16;
  throw ConfigError("dtype '" + dtype + "': expected \"float32\", \"bfloat16\" or \"float16\"");
}

}  // namespace regionlm::pipeline
