#pragma once
// Set-of-Mark (SoM) rendering: every mask filled semi-transparently in its own colour with its
// outline (or box), and a mark (a number or a letter) on an opaque label at the mask's most
// interior point. The marked image can go to any vision-language model; the marks map back to
// the masks (`MarkedImage::marks`, `mask_of`), and mark_references.hpp reads marks in answers.
//
// What differs from microsoft/SoM's matplotlib renderer (docs/som.md): labels never overlap
// (SoM's may), colours come from a fixed palette (SoM's are random per run), so the output is
// deterministic; placement follows the paper's "mark allocation": labels of small masks are
// placed first, and a mask's label avoids the pixels of smaller masks inside it.
#include <opencv2/core.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace regionlm::som {

/// How marks are written.
enum class MarkStyle {
  Numbers,  // 1, 2, 3, ... (SoM's "Number")
  Letters,  // a, b, ..., z, aa, ab, ... (SoM's "Alphabet"; bijective base 26)
};

/// Which mask gets mark 1.
enum class Numbering {
  ByArea,   // largest mask first (SoM's order); ties keep the input order
  InOrder,  // masks[0] is mark 1
};

/// The text of mark `id` (>= 1): "3" or "c". Throws ArgumentError for id < 1.
std::string mark_text(int id, MarkStyle style);

/// How the marks are drawn. Sizes are output-image pixels.
struct MarkOptions {
  MarkStyle style = MarkStyle::Numbers;     // numbers or letters; default numbers
  Numbering numbering = Numbering::ByArea;  // mark order; default largest mask first, as SoM
  double alpha = 0.4;          // opacity of each mask's fill, 0 (no fill) .. 1; default 0.4 (SoM's README)
  bool outline = true;         // draw each mask's contour in its colour; default true
  bool box = false;            // draw each mask's bounding box in its colour; default false
  int min_short_side = 512;    // images with a shorter side are enlarged by a whole factor
                               // (nearest neighbour) so labels stay legible; 0 = never; default 512
  double font_scale = 0;       // Hershey font scale of the labels; 0 = short side / 900, at least 0.45
};

/// One mark.
struct Mark {
  int id = 0;                // 1-based mark number
  std::string text;          // what the label says: the mark ("3", "c"), then its caption if given
  size_t mask_index = 0;     // index into the masks given to draw_marks
  cv::Scalar colour;         // RGB of its fill, outline and label
  cv::Point anchor;          // label centre, output px
  cv::Rect label_box;        // the drawn label, output px
  bool label_inside = false;  // the whole label box lies inside the mask
};

/// The marked image and the mapping mark -> mask.
struct MarkedImage {
  cv::Mat image;            // CV_8UC3 RGB, the input size times `scale`
  int scale = 1;            // output px per input px
  std::vector<Mark> marks;  // by id: marks[k - 1].id == k

  /// The index into the input masks of mark `id`. Throws ArgumentError when no mark has it.
  size_t mask_of(int id) const;
};

/// Draws `masks` (CV_8UC1 at the image's size, non-zero = inside) on a copy of `rgb8`
/// (CV_8UC3 RGB). `captions`, if not empty, holds one text per mask appended to its mark
/// ("3 a red circle"). Deterministic: the same input gives the same bytes.
/// Throws ArgumentError naming the argument for an empty or non-CV_8UC3 image, a mask of
/// another size or type or with no pixel, a captions list of the wrong length, or options
/// out of range (alpha outside 0..1, negative min_short_side or font_scale).
MarkedImage draw_marks(const cv::Mat& rgb8, const std::vector<cv::Mat>& masks, const MarkOptions& options = {},
                       const std::vector<std::string>& captions = {});

}  // namespace regionlm::som
