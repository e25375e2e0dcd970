#pragma once
// libjpeg decodes a truncated JPEG "successfully" (a warning, the missing rows painted gray),
// so OpenCV hands back a plausible-looking image. This check walks the JPEG marker structure
// to tell a complete stream from a cut one.
#include <cstddef>
#include <cstdint>

namespace regionlm::vision::detail {

/// Whether `data` starts with a JPEG start-of-image marker (FF D8 FF).
bool looks_like_jpeg(const uint8_t* data, size_t size);

/// Whether a JPEG stream reaches its end-of-image marker (FF D9) by following the marker
/// segments and entropy-coded scans from the start. Bytes after the end marker (camera
/// trailers, embedded videos) are allowed; a stream that runs out before it is not.
bool jpeg_reaches_end_of_image(const uint8_t* data, size_t size);

}  // namespace regionlm::vision::detail
