#pragma once
// torch.save checkpoints (zip archive of `<prefix>/data.pkl` + one stored record per
// storage, `<prefix>/data/<key>`), the format of the published Osprey `.bin` shards.
#include <filesystem>
#include <memory>

#include "io/source.hpp"

namespace regionlm::io {

/// Maps a torch.save zip, unpickles its state dict and describes every tensor's location;
/// tensor bytes are read lazily from the mapping.
std::shared_ptr<const Weights::Source> open_torch_checkpoint(const std::filesystem::path& file);

}  // namespace regionlm::io
