#include "io/torch_checkpoint.hpp"

#include "regionlm/error.hpp"

namespace regionlm::io {

std::shared_ptr<const Weights::Source> open_torch_checkpoint(const std::filesystem::path& file) {
  throw FormatError(file.string() + ": torch.save zip checkpoints are not readable yet");
}

}  // namespace regionlm::io
