// torch.save zip archives: central directory, records, the pickled state dict, storages;
// every tensor the reader accepts is loaded and summed.
#include <torch/types.h>

#include "fuzz_util.hpp"
#include "io/torch_checkpoint.hpp"
#include "regionlm/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = regionlm::fuzz::write_scratch("input.bin", data, size);
  try {
    const auto source = regionlm::io::open_torch_checkpoint(file);
    for (const auto& [name, stored] : source->tensors()) {
      const torch::Tensor t = source->load(name);
      if (t.numel() > 0 && t.numel() < (1 << 16)) (void)t.to(torch::kDouble).sum().item<double>();
    }
  } catch (const regionlm::Error&) {
  }
  return 0;
}
