#pragma once
// Upper bounds on what outside data may make regionlm allocate, in one place. Each is checked
// before the allocation it bounds and exceeding it is a typed regionlm::Error naming the field
// and the limit (docs/reliability.md lists where each is enforced). The checkpoint readers'
// own bounds (header bytes, tensor ranks) live with their formats in src/io.
#include <cstddef>
#include <cstdint>

namespace regionlm::limits {

inline constexpr int kMaxImageSide = 16384;             // px, either side of an image or region mask; 16384
inline constexpr int64_t kMaxImagePixels = 40'000'000;  // px, width x height of an image or region mask; 40 M
inline constexpr int64_t kMaxRegions = 256;             // regions in one prompt or request; 256
inline constexpr size_t kMaxPromptBytes = 1 << 20;      // bytes of prompt text (all turns), checked before
                                                        // tokenizing; 1 MiB, ~50x a 4096-token context
inline constexpr int kMaxJsonDepth = 64;                // nested arrays/objects in any JSON read; 64
                                                        // (real configs and requests nest < 10)

}  // namespace regionlm::limits
