#include "regionlm/version.hpp"

namespace regionlm {
const char* version() { return REGIONLM_VERSION_STRING; }
}  // namespace regionlm
