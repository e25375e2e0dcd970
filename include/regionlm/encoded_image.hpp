#pragma once
// An image after the vision trunk: what every question about that image reuses.
#include <torch/types.h>

#include <memory>
#include <vector>

namespace regionlm {

namespace pipeline {
struct Access;
}

/// The vision features of one image, made by Model::encode. Immutable: any number of
/// describe/chat calls (on any threads) may share one EncodedImage, so asking ten questions
/// about an image runs the vision trunk once. Cheap to copy (shared data). Only the Model
/// that made it may use it.
class EncodedImage {
 public:
  /// An empty object (no image); Model calls reject it.
  EncodedImage() = default;

  bool empty() const { return data_ == nullptr; }
  /// Size of the original image (after EXIF orientation), px. Region masks use this size.
  int height() const;
  int width() const;
  /// The trunk's stage outputs (res2..res5 for Osprey), each [1, C, h, w], in the model's
  /// dtype and on its device.
  const std::vector<torch::Tensor>& features() const;
  /// Projected image tokens [N, hidden] (N = 1024 for Osprey), model dtype and device.
  const torch::Tensor& image_tokens() const;
  /// Wall time of the encoding, ms.
  double encode_ms() const;

  struct Data;  // implementation detail (src/pipeline)

 private:
  friend struct pipeline::Access;
  std::shared_ptr<const Data> data_;
};

}  // namespace regionlm
