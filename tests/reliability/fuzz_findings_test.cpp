// Regression tests for what the fuzz targets found (docs/reliability.md, "Findings"); each
// input is also kept in the target's seed corpus (fuzz/corpus/), which every fuzz run replays.
#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "io/unpickler.hpp"
#include "regionlm/error.hpp"
#include "regionlm/vision/image.hpp"

namespace {

// fuzz_unpickler: APPEND was `append(peek(), {pop()})`, whose argument order is unspecified;
// clang evaluates peek() first, so the list operand was the item itself, then a moved-from
// null pointer (UBSan: member access within null pointer). GCC happened to pop first.
TEST(FuzzFindings, PickleAppendTakesTheListBelowTheItem) {
  // pickle.dumps({"a": [1]}, protocol=2): a non-tensor leaf, skipped without error.
  const std::string pkl("\x80\x02}q\x00X\x01\x00\x00\x00" "aq\x01]q\x02K\x01" "as.", 21);
  EXPECT_TRUE(regionlm::io::unpickle_state_dict(reinterpret_cast<const uint8_t*>(pkl.data()), pkl.size(), "t.pkl")
                  .empty());
  // APPEND onto something that is not a list is a FormatError, not a crash.
  const std::string bad("\x80\x02}q\x00X\x01\x00\x00\x00" "aq\x01K\x02K\x01" "as.", 21);
  try {
    regionlm::io::unpickle_state_dict(reinterpret_cast<const uint8_t*>(bad.data()), bad.size(), "t.pkl");
    FAIL() << "accepted";
  } catch (const regionlm::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("APPEND(S): operand of unexpected type"), std::string::npos) << e.what();
  }
}

// fuzz_unpickler (LeakSanitizer): "}22s2" = EMPTY_DICT, DUP, DUP, SETITEM put a dict into
// itself; the shared_ptr cycle leaked. Lists appended to themselves likewise.
TEST(FuzzFindings, PickleContainerInsideItselfIsAFormatError) {
  for (const std::string pkl : {std::string("}22s2.", 6), std::string("]22a.", 5), std::string("]2(2e.", 6)}) {
    EXPECT_THROW(regionlm::io::unpickle_state_dict(reinterpret_cast<const uint8_t*>(pkl.data()), pkl.size(), "t.pkl"),
                 regionlm::FormatError)
        << pkl;
  }
}

// fuzz_image (abort in libgdcm): "RIFF....WEBPVP8L" whose bitstream libwebp rejects, with
// "DICM" at byte 128. OpenCV offers bytes a codec declines to the next codec whose signature
// matches, here GDCM (DICOM), which fails an assertion and aborts the process. WebP is no
// longer decoded; PNG, JPEG and BMP are claimed by their own codecs on their signature alone,
// whatever sits at byte 128.
TEST(FuzzFindings, WebpWithDicomMagicNeverReachesAnotherCodec) {
  std::string riff("RIFF\xFA\0\0\0WEBPVP8L\xED\0\0\0\x2F", 21);
  riff.resize(132, '\xFF');
  std::memcpy(riff.data() + 128, "DICM", 4);
  try {
    regionlm::vision::decode_image(riff.data(), riff.size(), "upload");
    FAIL() << "accepted";
  } catch (const regionlm::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("not a PNG, JPEG or BMP image"), std::string::npos) << e.what();
  }
  cv::Mat image(40, 40, CV_8UC3);
  cv::randu(image, 0, 256);  // noise: every encoding is well over 132 bytes
  for (const std::string ext : {".png", ".jpg", ".bmp"}) {
    std::vector<uint8_t> bytes;
    ASSERT_TRUE(cv::imencode(ext, image, bytes));
    if (ext == ".jpg") {  // a comment segment after SOI that ends in "DICM" at byte 128
      const size_t length = 128 + 4 - 4;  // segment length field counts itself
      std::vector<uint8_t> segment = {0xFF, 0xFE, uint8_t(length >> 8), uint8_t(length & 0xFF)};
      segment.resize(segment.size() + length - 2 - 4, 'x');
      segment.insert(segment.end(), {'D', 'I', 'C', 'M'});
      bytes.insert(bytes.begin() + 2, segment.begin(), segment.end());
    } else {  // inside the pixel data (BMP) or the compressed stream (PNG: then a CRC error)
      ASSERT_GT(bytes.size(), 132u);
      std::memcpy(bytes.data() + 128, "DICM", 4);
    }
    ASSERT_EQ(std::string(reinterpret_cast<const char*>(bytes.data()) + 128, 4), "DICM") << ext;
    try {
      const cv::Mat decoded = regionlm::vision::decode_image(bytes.data(), bytes.size(), ext);
      EXPECT_EQ(decoded.size(), image.size()) << ext;
    } catch (const regionlm::FormatError&) {
      EXPECT_EQ(ext, ".png");  // the damaged zlib stream: refused by libpng, not passed on
    }
  }
}

}  // namespace
