#include "regionlm/llm/loaded_linear.hpp"

namespace regionlm::llm {

void finish_loaded_linear(layers::LinearImpl& linear, const Weights& weights, const std::string& weight_key, bool int8,
                          bool pack) {
  if (int8) linear.quantize_int8();
  if (pack) linear.pack_for_cpu();  // no-op when quantized, off the CPU or not float32
  if (linear.quantized() || linear.packed_for_cpu()) weights.release_pages(weight_key);
}

}  // namespace regionlm::llm
