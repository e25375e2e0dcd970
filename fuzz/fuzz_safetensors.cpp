// safetensors files: header length, JSON header, offsets into the data section; every tensor
// the reader accepts is loaded (bounds-checked view of the mapping) and summed.
#include <torch/types.h>

#include "fuzz_util.hpp"
#include "io/safetensors.hpp"
#include "regionlm/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = regionlm::fuzz::write_scratch("input.safetensors", data, size);
  try {
    const auto source = regionlm::io::open_safetensors(file);
    for (const auto& [name, stored] : source->tensors()) {
      const torch::Tensor t = source->load(name);
      if (t.numel() > 0 && t.numel() < (1 << 16)) (void)t.to(torch::kDouble).sum().item<double>();
    }
  } catch (const regionlm::Error&) {
  }
  return 0;
}
