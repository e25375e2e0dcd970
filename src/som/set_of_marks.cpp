#include "regionlm/som/set_of_marks.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "regionlm/error.hpp"

namespace regionlm::som {
namespace {

// Distinct, saturated colours (RGB), reused cyclically; a fixed table keeps the output
// deterministic (SoM draws random CSS colours on every run).
const cv::Scalar kPalette[] = {{230, 25, 75},   {60, 180, 75},   {0, 130, 200},  {245, 130, 48},  {145, 30, 180},
                               {70, 240, 240},  {240, 50, 230},  {210, 245, 60}, {250, 190, 212}, {0, 128, 128},
                               {220, 190, 255}, {170, 110, 40},  {255, 250, 200}, {128, 0, 0},    {170, 255, 195},
                               {128, 128, 0},   {255, 215, 180}, {0, 0, 128},    {255, 225, 25},  {128, 128, 128}};

constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
constexpr int kLabelGap = 2;  // px kept free between two labels

cv::Scalar text_colour_on(const cv::Scalar& background) {
  const double luma = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2];
  return luma > 140 ? cv::Scalar(0, 0, 0) : cv::Scalar(255, 255, 255);
}

bool has_descender(const std::string& text) { return text.find_first_of("gjpqy,;()[]") != std::string::npos; }

// Space between the text's nominal box and the label's edge: strokes are `thickness` wide and
// centred on the glyph outlines, so they reach thickness / 2 beyond the nominal box.
int label_padding(double font_scale, int thickness) {
  return std::max(2, static_cast<int>(std::lround(3 * font_scale))) + (thickness + 1) / 2;
}

cv::Size label_size(const std::string& text, double font_scale, int thickness) {
  int baseline = 0;
  const cv::Size size = cv::getTextSize(text, kFont, font_scale, thickness, &baseline);
  const int pad = label_padding(font_scale, thickness);
  return {size.width + 2 * pad, size.height + 2 * pad + (has_descender(text) ? baseline : 0)};
}

// The pixel of highest value in a CV_32F map restricted to `where` (CV_8U, non-zero); among
// equal maxima the middle one in raster order (as SoM). (-1, -1) when `where` is empty.
cv::Point interior_maximum(const cv::Mat& distance, const cv::Mat& where) {
  float best = -1;
  std::vector<cv::Point> ties;
  for (int y = 0; y < distance.rows; ++y) {
    const float* d = distance.ptr<float>(y);
    const uint8_t* w = where.ptr<uint8_t>(y);
    for (int x = 0; x < distance.cols; ++x) {
      if (!w[x]) continue;
      if (d[x] > best) {
        best = d[x];
        ties.clear();
      }
      if (d[x] == best) ties.emplace_back(x, y);
    }
  }
  return ties.empty() ? cv::Point(-1, -1) : ties[ties.size() / 2];
}

// L2 distance of each pixel of `region` (CV_8U, non-zero = inside) to the nearest pixel
// outside it, the image border counting as outside (SoM pads the mask with zeros).
cv::Mat distance_inside(const cv::Mat& region) {
  cv::Mat padded, distance;
  cv::copyMakeBorder(region != 0, padded, 1, 1, 1, 1, cv::BORDER_CONSTANT, cv::Scalar(0));
  cv::distanceTransform(padded, distance, cv::DIST_L2, cv::DIST_MASK_PRECISE);
  return distance(cv::Rect(1, 1, region.cols, region.rows)).clone();
}

// Centres at which a w x h label would overlap `placed` (kept kLabelGap apart) or leave the
// canvas, within `roi` of the canvas: 255 there, 0 where a label may go. [roi.height, roi.width].
cv::Mat blocked_centres(cv::Size canvas, const cv::Rect& roi, int w, int h, const std::vector<cv::Rect>& placed) {
  cv::Mat blocked(roi.size(), CV_8UC1, cv::Scalar(255));
  const auto clear = [&](const cv::Rect& r, uint8_t value) {  // r in canvas px
    const cv::Rect inside = r & roi;
    if (inside.area() > 0) blocked(inside - roi.tl()).setTo(value);
  };
  // A label centred at c spans [c.x - w / 2, c.x - w / 2 + w): inside the canvas for these c.
  const int x_lo = w / 2, x_hi = canvas.width - w + w / 2;   // inclusive
  const int y_lo = h / 2, y_hi = canvas.height - h + h / 2;  // inclusive
  if (x_lo <= x_hi && y_lo <= y_hi) clear(cv::Rect(x_lo, y_lo, x_hi - x_lo + 1, y_hi - y_lo + 1), 0);
  for (const cv::Rect& p : placed) {
    // Overlap with p grown by the gap: c.x - w/2 < p.br.x + gap and c.x - w/2 + w > p.x - gap.
    const int cx0 = p.x - kLabelGap - w + w / 2 + 1, cx1 = p.br().x + kLabelGap + w / 2 - 1;
    const int cy0 = p.y - kLabelGap - h + h / 2 + 1, cy1 = p.br().y + kLabelGap + h / 2 - 1;
    clear(cv::Rect(cv::Point(cx0, cy0), cv::Point(cx1 + 1, cy1 + 1)), 255);
  }
  return blocked;
}

void check(const cv::Mat& rgb8, const std::vector<cv::Mat>& masks, const MarkOptions& o,
           const std::vector<std::string>& captions) {
  if (rgb8.empty() || rgb8.type() != CV_8UC3) {
    throw ArgumentError("draw_marks: image must be a non-empty CV_8UC3 RGB image, got type " +
                        cv::typeToString(rgb8.type()));
  }
  for (size_t i = 0; i < masks.size(); ++i) {
    const std::string name = "draw_marks: masks[" + std::to_string(i) + "]";
    if (masks[i].type() != CV_8UC1 || masks[i].size() != rgb8.size()) {
      throw ArgumentError(name + " must be CV_8UC1 of the image's size " + std::to_string(rgb8.cols) + "x" +
                          std::to_string(rgb8.rows) + ", got " + cv::typeToString(masks[i].type()) + " " +
                          std::to_string(masks[i].cols) + "x" + std::to_string(masks[i].rows));
    }
    if (cv::countNonZero(masks[i]) == 0) throw ArgumentError(name + " has no pixel: a mark needs a place");
  }
  if (!captions.empty() && captions.size() != masks.size()) {
    throw ArgumentError("draw_marks: captions has " + std::to_string(captions.size()) + " entries for " +
                        std::to_string(masks.size()) + " masks (give one per mask, or none)");
  }
  if (!(o.alpha >= 0 && o.alpha <= 1)) throw ArgumentError("MarkOptions::alpha must be in [0, 1]");
  if (o.min_short_side < 0) throw ArgumentError("MarkOptions::min_short_side must be >= 0");
  if (!(o.font_scale >= 0) || !std::isfinite(o.font_scale)) throw ArgumentError("MarkOptions::font_scale must be >= 0");
}

}  // namespace

std::string mark_text(int id, MarkStyle style) {
  if (id < 1) throw ArgumentError("mark_text: mark ids start at 1, got " + std::to_string(id));
  if (style == MarkStyle::Numbers) return std::to_string(id);
  std::string text;
  for (int n = id; n > 0; n = (n - 1) / 26) text.insert(text.begin(), static_cast<char>('a' + (n - 1) % 26));
  return text;
}

size_t MarkedImage::mask_of(int id) const {
  if (id < 1 || id > static_cast<int>(marks.size())) {
    throw ArgumentError("MarkedImage::mask_of: no mark " + std::to_string(id) + " (marks are 1.." +
                        std::to_string(marks.size()) + ")");
  }
  return marks[static_cast<size_t>(id - 1)].mask_index;
}

MarkedImage draw_marks(const cv::Mat& rgb8, const std::vector<cv::Mat>& masks, const MarkOptions& options,
                       const std::vector<std::string>& captions) {
  check(rgb8, masks, options, captions);
  const size_t n = masks.size();
  std::vector<int> area(n);
  for (size_t i = 0; i < n; ++i) area[i] = cv::countNonZero(masks[i]);
  std::vector<size_t> by_area(n);  // largest first, ties in input order
  std::iota(by_area.begin(), by_area.end(), size_t{0});
  std::stable_sort(by_area.begin(), by_area.end(), [&](size_t a, size_t b) { return area[a] > area[b]; });
  const std::vector<size_t>& numbering = by_area;

  MarkedImage out;
  const int short_side = std::min(rgb8.rows, rgb8.cols);
  if (options.min_short_side > 0 && short_side < options.min_short_side) {
    out.scale = (options.min_short_side + short_side - 1) / short_side;
  }
  cv::resize(rgb8, out.image, cv::Size(), out.scale, out.scale, cv::INTER_NEAREST);
  std::vector<cv::Mat> scaled(n);
  for (size_t i = 0; i < n; ++i) cv::resize(masks[i] != 0, scaled[i], out.image.size(), 0, 0, cv::INTER_NEAREST);
  const int out_short = std::min(out.image.rows, out.image.cols);
  const double font_scale = options.font_scale > 0 ? options.font_scale : std::max(0.45, out_short / 900.0);
  const int font_thickness = std::max(1, static_cast<int>(std::lround(font_scale * 2)));
  const int line = std::max(1, static_cast<int>(std::lround(out_short / 300.0)));

  out.marks.resize(n);
  for (size_t k = 0; k < n; ++k) {
    Mark& m = out.marks[k];
    m.id = static_cast<int>(k + 1);
    m.mask_index = options.numbering == Numbering::ByArea ? numbering[k] : k;
    m.colour = kPalette[k % std::size(kPalette)];
    m.text = mark_text(m.id, options.style);
    if (!captions.empty() && !captions[m.mask_index].empty()) m.text += " " + captions[m.mask_index];
  }
  std::vector<size_t> mark_of_mask(n);
  for (size_t k = 0; k < n; ++k) mark_of_mask[out.marks[k].mask_index] = k;

  std::vector<cv::Rect> extent(n);  // each scaled mask's bounding box
  for (size_t i = 0; i < n; ++i) extent[i] = cv::boundingRect(scaled[i]);

  // Fills and outlines, largest mask first so that smaller ones stay visible on top.
  for (size_t i : by_area) {
    const Mark& m = out.marks[mark_of_mask[i]];
    const cv::Rect roi = extent[i];
    if (options.alpha > 0) {
      cv::Mat blended;
      cv::addWeighted(out.image(roi), 1.0 - options.alpha, cv::Mat(roi.size(), CV_8UC3, m.colour), options.alpha, 0.0,
                      blended);
      blended.copyTo(out.image(roi), scaled[i](roi));
    }
    if (options.outline) {
      std::vector<std::vector<cv::Point>> contours;
      cv::findContours(scaled[i](roi).clone(), contours, cv::RETR_CCOMP, cv::CHAIN_APPROX_NONE, roi.tl());
      cv::drawContours(out.image, contours, -1, m.colour, line, cv::LINE_8);
    }
    if (options.box) cv::rectangle(out.image, roi, m.colour, line, cv::LINE_8);
  }

  // Labels: the smallest mask first (it has the fewest places to go); a mask's label avoids the
  // pixels of smaller masks inside it (the paper's mark allocation) and every label placed.
  // Candidates lie on the mask, so the work stays inside its bounding box.
  std::vector<cv::Rect> placed;
  cv::Mat smaller = cv::Mat::zeros(out.image.size(), CV_8UC1);
  for (auto it = by_area.rbegin(); it != by_area.rend(); ++it) {
    const size_t i = *it;
    Mark& m = out.marks[mark_of_mask[i]];
    const cv::Size size = label_size(m.text, font_scale, font_thickness);
    const int w = size.width, h = size.height;
    const cv::Rect roi = extent[i];

    cv::Mat own = scaled[i](roi) & ~smaller(roi);
    if (cv::countNonZero(own) == 0) own = scaled[i](roi).clone();
    const cv::Mat free = own & ~blocked_centres(out.image.size(), roi, w, h, placed);
    cv::Point anchor;
    if (cv::countNonZero(free) > 0) {
      anchor = interior_maximum(distance_inside(free), free) + roi.tl();
    } else {
      // No room on the mask: the free spot nearest to its most interior point.
      const cv::Point inner = interior_maximum(distance_inside(own), own) + roi.tl();
      const cv::Rect frame(cv::Point(0, 0), out.image.size());
      const cv::Mat blocked = blocked_centres(out.image.size(), frame, w, h, placed);
      anchor = inner;
      double best = -1;
      for (int y = 0; y < blocked.rows; ++y) {
        const uint8_t* b = blocked.ptr<uint8_t>(y);
        for (int x = 0; x < blocked.cols; ++x) {
          if (b[x]) continue;
          const double d = std::hypot(x - inner.x, y - inner.y);
          if (best < 0 || d < best) {
            best = d;
            anchor = {x, y};
          }
        }
      }
    }
    m.anchor = anchor;
    m.label_box = cv::Rect(anchor.x - w / 2, anchor.y - h / 2, w, h);
    const cv::Rect clipped = m.label_box & cv::Rect(cv::Point(0, 0), out.image.size());
    m.label_inside = clipped == m.label_box && cv::countNonZero(scaled[i](clipped)) == clipped.area();
    placed.push_back(m.label_box);
    smaller(roi) |= scaled[i](roi);
  }

  // Labels on top of every fill and outline: opaque, in the mask's colour, text in black or
  // white, whichever contrasts, framed in the text colour so the label stands out on any fill.
  for (const Mark& m : out.marks) {
    const cv::Scalar ink = text_colour_on(m.colour);
    cv::rectangle(out.image, m.label_box, m.colour, cv::FILLED);
    cv::rectangle(out.image, m.label_box, ink, 1, cv::LINE_8);
    int baseline = 0;
    const cv::Size text = cv::getTextSize(m.text, kFont, font_scale, font_thickness, &baseline);
    const int pad = label_padding(font_scale, font_thickness);
    cv::putText(out.image, m.text, cv::Point(m.label_box.x + pad, m.label_box.y + pad + text.height), kFont, font_scale,
                ink, font_thickness, cv::LINE_AA);
  }
  return out;
}

}  // namespace regionlm::som
