#pragma once
// A small, non-executing unpickler for the `data.pkl` of torch.save checkpoints. It
// understands the opcodes pickle protocols 2-5 use for a (nested) dict of tensors and the
// handful of callables torch.save references (OrderedDict, _rebuild_tensor*, _rebuild_parameter,
// storage and dtype names); anything else is a FormatError, never code execution.
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace regionlm::io {

/// One tensor of the pickled state dict: a strided view into storage record `storage_key`.
struct PickledTensor {
  std::string storage_key;       // record name under `<archive>/data/`
  uint64_t storage_bytes = 0;    // size the pickle declares for the storage
  c10::ScalarType dtype = c10::ScalarType::Float;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;  // in elements
  int64_t storage_offset = 0;    // in elements
};

/// Unpickles a state dict. Nested dicts are flattened with "." (`{"a": {"b": t}}` gives
/// "a.b"); non-tensor leaves (epoch counters, config strings) are skipped. Throws
/// FormatError naming `source` and the byte offset on malformed or unsupported input.
std::vector<std::pair<std::string, PickledTensor>> unpickle_state_dict(const uint8_t* data, uint64_t size,
                                                                       const std::string& source);

}  // namespace regionlm::io
