#include "regionlm/encoded_image.hpp"

#include "pipeline/access.hpp"
#include "regionlm/error.hpp"

namespace regionlm {

namespace {
const EncodedImage::Data& checked(const std::shared_ptr<const EncodedImage::Data>& data) {
  if (!data) throw ArgumentError("EncodedImage is empty: make one with Model::encode");
  return *data;
}
}  // namespace

int EncodedImage::height() const { return checked(data_).height; }
int EncodedImage::width() const { return checked(data_).width; }
const std::vector<torch::Tensor>& EncodedImage::features() const { return checked(data_).features; }
const torch::Tensor& EncodedImage::image_tokens() const { return checked(data_).image_tokens; }
double EncodedImage::encode_ms() const { return checked(data_).encode_ms; }

namespace pipeline {

const EncodedImage::Data& Access::data(const EncodedImage& image, const ModelImpl& model) {
  const EncodedImage::Data& data = checked(image.data_);
  if (data.owner.lock().get() != &model) {
    throw ArgumentError("EncodedImage was made by another Model: encode the image with this one");
  }
  return data;
}

}  // namespace pipeline
}  // namespace regionlm
