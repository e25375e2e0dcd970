#include "regionlm/layers/linear.hpp"

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/torch.h>

#include <string>

#include "regionlm/error.hpp"

namespace regionlm::layers {

namespace {

/// Calls a registered operator by name through the dispatcher (the quantized
/// ops take and return LibTorch's packed-weight class, which has no public C++
/// header).
c10::IValue call_op(const char* name, std::vector<c10::IValue> stack) {
  const auto op = c10::Dispatcher::singleton().findSchemaOrThrow(name, "");
  op.callBoxed(&stack);
  return std::move(stack.front());
}

/// Whether this LibTorch registers operator `name` with a kernel for `key`.
bool has_kernel(const char* name, c10::DispatchKey key) {
  const auto op = c10::Dispatcher::singleton().findOp({name, ""});
  return op && op->hasKernelForDispatchKey(key);
}

}  // namespace

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features, const torch::TensorOptions& options, bool bias)
    : in_features_(in_features), out_features_(out_features) {
  if (in_features <= 0 || out_features <= 0) {
    throw ArgumentError("Linear: in_features and out_features must be positive, got " + std::to_string(in_features) +
                        " and " + std::to_string(out_features));
  }
  weight = register_parameter("weight", torch::empty({out_features, in_features}, options));
  if (bias) this->bias = register_parameter("bias", torch::empty({out_features}, options));
}

void LinearImpl::quantize_int8() {
  if (quantized_) return;
  if (packed_for_cpu()) throw ArgumentError("Linear::quantize_int8: the weight is already in oneDNN's CPU layout (pack_for_cpu); quantize before packing");
  torch::NoGradGuard no_grad;
  const torch::Device device = weight.device();
  const torch::Tensor w = weight.detach().to(torch::kFloat32);  // [out, in]
  // Symmetric per-output-channel: int8 = round(w / scale), scale = max |w| /
  // 127 (an all-zero row keeps scale 1 so that nothing divides by zero).
  torch::Tensor scales = w.abs().amax(1) / 127.0;  // [out]
  scales = torch::where(scales > 0, scales, torch::ones_like(scales));
  if (device.is_cpu()) {
    const auto q = torch::quantize_per_channel(w.contiguous(), scales.to(torch::kDouble),
                                               torch::zeros({out_features_}, torch::kLong), 0, torch::kQInt8);
    const c10::IValue b = bias.defined() ? c10::IValue(bias.detach().to(torch::kFloat32)) : c10::IValue();
    packed_ = call_op("quantized::linear_prepack", {q, b});
  } else if (device.is_cuda()) {
    int8_scales_ = scales;  // [out] float32
    int8_weight_ = torch::round(w / scales.unsqueeze(1)).clamp(-128, 127).to(torch::kInt8).contiguous();  // [out, in]
    cuda_kernel_ = has_kernel("aten::_weight_int8pack_mm", c10::DispatchKey::CUDA);
  } else {
    throw ArgumentError("Linear: int8 weights need a CPU or CUDA device, got " + device.str());
  }
  parameters_.erase("weight");
  weight = torch::Tensor();
  quantized_ = true;
}

bool LinearImpl::pack_for_cpu() {
  if (quantized_ || packed_for_cpu() || !weight.defined() || !weight.device().is_cpu() ||
      weight.scalar_type() != torch::kFloat32) {
    return false;
  }
  static const bool available = has_kernel("mkldnn::_reorder_linear_weight", c10::DispatchKey::CPU) &&
                                has_kernel("mkldnn::_linear_pointwise", c10::DispatchKey::CPU);
  if (!available) return false;
  torch::NoGradGuard no_grad;
  // No batch-size hint: measured, oneDNN's default blocking serves 1, 16 and 1000 rows best.
  onednn_weight_ = call_op("mkldnn::_reorder_linear_weight", {weight.detach().contiguous(), c10::IValue()}).toTensor();
  parameters_.erase("weight");
  weight = torch::Tensor();
  return true;
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) const {
  if (onednn_weight_.defined()) {
    auto shape = x.sizes().vec();
    shape.back() = out_features_;
    const c10::IValue b = bias.defined() ? c10::IValue(bias) : c10::IValue();
    return call_op("mkldnn::_linear_pointwise",
                   {x.reshape({-1, in_features_}).contiguous(), onednn_weight_, b, std::string("none"),
                    c10::List<std::optional<c10::Scalar>>(), c10::IValue()})
        .toTensor()
        .reshape(shape);  // [..., out_features]
  }
  if (!quantized_) return torch::linear(x, weight, bias);  // [..., out_features]; an undefined bias adds nothing
  auto shape = x.sizes().vec();
  shape.back() = out_features_;
  const torch::Tensor rows = x.reshape({-1, in_features_});  // [N, in]
  torch::Tensor y;
  if (x.device().is_cpu()) {
    // FBGEMM computes in float32 (activations quantized per call), bias
    // included.
    y = call_op("quantized::linear_dynamic", {rows.to(torch::kFloat32).contiguous(), packed_, false})
            .toTensor()
            .to(x.scalar_type());  // [N, out]
  } else if (rows.size(0) <= kInt8KernelRows && cuda_kernel_) {
    // Decode: a few rows, bandwidth bound; the kernel reads 1 byte per weight.
    y = at::_weight_int8pack_mm(rows.to(torch::kFloat32).contiguous(), int8_weight_, int8_scales_)
            .to(x.scalar_type());  // [N, out]
    if (bias.defined()) y = y + bias;
  } else {
    // Prefill (many rows, compute bound): dequantize into a temporary and use
    // the GEMM.
    const torch::Tensor w = int8_weight_.to(x.scalar_type()) * int8_scales_.to(x.scalar_type()).unsqueeze(1);
    y = torch::linear(rows, w, bias);  // [N, out]
  }
  return y.reshape(shape);
}

}  // namespace regionlm::layers
