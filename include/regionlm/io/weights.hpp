#pragma once
// Read-only access to checkpoint tensors: safetensors, torch.save `.bin` (zip + pickle),
// and sharded checkpoints (`*.index.json` with a `weight_map`). Tensors are returned on
// the CPU in their stored dtype; safetensors data is memory-mapped, not copied.
#include <torch/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace regionlm {

/// One checkpoint (possibly several shard files) opened for reading. Cheap to copy (shared
/// state); immutable after load, so it may be read from several threads.
class Weights {
 public:
  class Source;  // one opened file (implementation detail)

  Weights();
  /// Sorted list of all tensor names.
  const std::vector<std::string>& names() const;
  /// Whether a tensor of that name exists.
  bool contains(const std::string& name) const;
  /// The tensor (CPU, stored dtype). Throws WeightError naming the key (and the checkpoint)
  /// when absent. For memory-mapped files the tensor aliases the mapping: treat it as
  /// read-only (clone before writing).
  torch::Tensor get(const std::string& name) const;
  /// `get(name)` converted to `device`/`dtype` (a copy when either differs).
  torch::Tensor get(const std::string& name, const torch::Device& device,
                    torch::ScalarType dtype) const;
  /// For a tensor the caller has copied into another layout (an int8 or oneDNN-packed layer)
  /// and no longer reads: drops the whole memory pages of its bytes from the process's resident
  /// memory, so that the model does not hold the file's copy as well (page cache keeps them;
  /// a later get() reads them again). Unknown names are ignored.
  void release_pages(const std::string& name) const;
  /// Shape of a tensor without materialising it.
  std::vector<int64_t> shape(const std::string& name) const;
  /// Stored dtype of a tensor without materialising it.
  torch::ScalarType dtype(const std::string& name) const;
  /// The file a tensor lives in.
  std::filesystem::path file_of(const std::string& name) const;
  /// What was opened (a file or a directory); used in error messages.
  const std::filesystem::path& origin() const;
  /// Names of tensors starting with `prefix`.
  std::vector<std::string> names_with_prefix(const std::string& prefix) const;
  size_t size() const;

  struct Impl;

 private:
  friend Weights load_weights(const std::filesystem::path&);
  std::shared_ptr<const Impl> impl_;
};

/// Opens a checkpoint:
///  - a `.safetensors` file, a torch `.bin`/`.pt`/`.pth` file (torch.save zip format);
///  - a `*.index.json` file, or a directory containing `model.safetensors.index.json`,
///    `pytorch_model.bin.index.json`, `model.safetensors` or `pytorch_model.bin`
///    (safetensors preferred when both exist).
/// Throws IoError (unreadable) or FormatError (malformed) naming the file.
Weights load_weights(const std::filesystem::path& file_or_dir);

/// Writes tensors to a safetensors file (contiguous CPU copies are made as needed).
/// `metadata` goes to `__metadata__`. Used by tools (training, conversion) and tests.
void save_safetensors(const std::filesystem::path& file,
                      const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::vector<std::pair<std::string, std::string>>& metadata = {});

/// Reads only the `__metadata__` map of a safetensors file (empty when absent).
std::vector<std::pair<std::string, std::string>> safetensors_metadata(
    const std::filesystem::path& file);

}  // namespace regionlm
