#include "io/dtypes.hpp"

#include <array>
#include <utility>

namespace regionlm::io {

namespace {
// Every safetensors dtype that LibTorch can hold.
constexpr std::array<std::pair<const char*, c10::ScalarType>, 15> kSafetensorsDtypes{{
    {"F64", c10::ScalarType::Double},
    {"F32", c10::ScalarType::Float},
    {"F16", c10::ScalarType::Half},
    {"BF16", c10::ScalarType::BFloat16},
    {"F8_E4M3", c10::ScalarType::Float8_e4m3fn},
    {"F8_E5M2", c10::ScalarType::Float8_e5m2},
    {"I64", c10::ScalarType::Long},
    {"I32", c10::ScalarType::Int},
    {"I16", c10::ScalarType::Short},
    {"I8", c10::ScalarType::Char},
    {"U64", c10::ScalarType::UInt64},
    {"U32", c10::ScalarType::UInt32},
    {"U16", c10::ScalarType::UInt16},
    {"U8", c10::ScalarType::Byte},
    {"BOOL", c10::ScalarType::Bool},
}};
}  // namespace

std::optional<c10::ScalarType> dtype_from_safetensors(const std::string& name) {
  for (const auto& [text, type] : kSafetensorsDtypes) {
    if (name == text) return type;
  }
  return std::nullopt;
}

std::optional<std::string> safetensors_dtype_name(c10::ScalarType type) {
  for (const auto& [text, candidate] : kSafetensorsDtypes) {
    if (candidate == type) return std::string(text);
  }
  return std::nullopt;
}

std::string supported_safetensors_dtypes() {
  std::string out;
  for (const auto& entry : kSafetensorsDtypes) {
    if (!out.empty()) out += ", ";
    out += entry.first;
  }
  return out;
}

}  // namespace regionlm::io
