#pragma once
#define REGIONLM_VERSION_STRING "0.1.0"

namespace regionlm {
/// Library version, "major.minor.patch".
const char* version();
}  // namespace regionlm
