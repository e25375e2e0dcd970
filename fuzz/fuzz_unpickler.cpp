// The data.pkl of torch.save checkpoints on its own (no zip around it), so the fuzzer reaches
// deep opcode sequences directly.
#include "io/unpickler.hpp"
#include "regionlm/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    (void)regionlm::io::unpickle_state_dict(data, size, "data.pkl");
  } catch (const regionlm::Error&) {
  }
  return 0;
}
