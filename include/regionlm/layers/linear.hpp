#pragma once
// The one fully connected layer of every part of the model (ConvNeXt MLPs,
// projector, mask extractor, LLaMA projections). Unlike torch::nn::Linear it
// allocates its parameters uninitialised (torch::empty) in the requested dtype
// and device, so a checkpoint-sized model is never randomly initialised, or
// materialised in float32 first, before its weights load. Parameter names are
// PyTorch's: `weight` [out, in] and, when it has one, `bias` [out].
//
// quantize_int8() turns it into a weight-only int8 layer (symmetric, one scale
// per output channel) computed by kernels LibTorch already has: on the CPU
// FBGEMM's dynamic quantized linear (`quantized::linear_dynamic`: activations
// quantized per call, int8 x int8 -> int32 GEMM), on CUDA
// `aten::_weight_int8pack_mm` for a few rows (decoding) and a dequantized
// temporary weight for many (prefill).
#include <ATen/core/ivalue.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

namespace regionlm::layers {

class LinearImpl : public torch::nn::Module {
 public:
  /// `options`: the parameters' device and dtype. `bias` = false registers no
  /// `bias` (LLaMA's projections, HF `nn.Linear(..., bias=False)`). Throws
  /// ArgumentError for non-positive sizes.
  LinearImpl(int64_t in_features, int64_t out_features, const torch::TensorOptions& options, bool bias = true);

  /// x: [..., in_features] in the parameters' dtype -> [..., out_features].
  torch::Tensor forward(const torch::Tensor& x) const;

  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }

  /// Replaces the float weight by int8 values and per-output-channel scales
  /// (max |w| / 127) and frees it: `weight` is then undefined and no longer a
  /// parameter (a quantized layer is not saved or trained). The bias stays in
  /// the model dtype. Call on the layer's final device. A second call does
  /// nothing. Throws ArgumentError on a device without a kernel.
  void quantize_int8();
  bool quantized() const { return quantized_; }

  /// CPU, float32: moves the weight into oneDNN's blocked layout once (LibTorch's
  /// `mkldnn::_reorder_linear_weight`) and frees the plain one, so that each call runs
  /// oneDNN's GEMM on it (`mkldnn::_linear_pointwise`) instead of MKL repacking the whole
  /// weight on every call (measured gains: docs/performance.md#cpu-weight-layout). `weight`
  /// is then undefined and no longer a parameter, as after quantize_int8(). Returns false,
  /// changing nothing, elsewhere (other device or dtype, quantized, already packed, or a
  /// LibTorch without oneDNN).
  bool pack_for_cpu();
  bool packed_for_cpu() const { return onednn_weight_.defined(); }

  torch::Tensor weight;  // [out_features, in_features]; undefined once quantized
  torch::Tensor bias;    // [out_features]; undefined without bias

 private:
  int64_t in_features_;
  int64_t out_features_;
  bool quantized_ = false;
  static constexpr int64_t kInt8KernelRows = 16;  // CUDA: up to this many rows use the int8 kernel
  torch::Tensor int8_weight_;                     // CUDA: [out, in] int8
  torch::Tensor int8_scales_;                     // CUDA: [out] float32
  bool cuda_kernel_ = false;                      // CUDA: this LibTorch has aten::_weight_int8pack_mm for CUDA
  c10::IValue packed_;                            // CPU: FBGEMM's prepacked int8 weight, scales and bias
  torch::Tensor onednn_weight_;                   // CPU float32 after pack_for_cpu(): oneDNN blocked [out, in]
};
TORCH_MODULE(Linear);

}  // namespace regionlm::layers
