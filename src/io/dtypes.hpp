#pragma once
// The element types regionlm reads and writes, with their names in the safetensors header.
#include <c10/core/ScalarType.h>

#include <optional>
#include <string>

namespace regionlm::io {

/// Safetensors dtype name ("F32", "BF16", ...) to LibTorch type; nullopt when unknown.
std::optional<c10::ScalarType> dtype_from_safetensors(const std::string& name);
/// LibTorch type to safetensors dtype name; nullopt when the format has no such type.
std::optional<std::string> safetensors_dtype_name(c10::ScalarType type);
/// Comma-separated list of the supported safetensors names (for error messages).
std::string supported_safetensors_dtypes();

}  // namespace regionlm::io
