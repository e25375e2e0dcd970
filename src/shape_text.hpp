#pragma once
// "[2, 3, 4]": how error messages spell a tensor shape (internal to the library).
#include <c10/util/ArrayRef.h>

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

namespace regionlm {

inline std::string shape_text(c10::IntArrayRef shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

}  // namespace regionlm
