// Set-of-Mark rendering and mark parsing: the properties the renderer promises (one label per
// mask, at the mask's most interior point and inside it when it fits, labels never
// overlapping, every label readable, fills and outlines in the mark's colour, deterministic
// output) checked on the pixels it draws, and the parser on the forms models write.
#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include <random>

#include "regionlm/error.hpp"
#include "regionlm/som/mark_references.hpp"
#include "regionlm/som/set_of_marks.hpp"

using namespace regionlm::som;

namespace {

// A textured RGB image (a diagonal gradient plus a checkerboard): labels must stay readable
// on any background, so the background is not uniform.
cv::Mat background(int rows, int cols) {
  cv::Mat img(rows, cols, CV_8UC3);
  for (int y = 0; y < rows; ++y) {
    for (int x = 0; x < cols; ++x) {
      const int v = (x + y) * 255 / (rows + cols);
      const int check = ((x / 7 + y / 5) % 2) * 60;
      img.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uint8_t>(v), static_cast<uint8_t>(255 - v),
                                          static_cast<uint8_t>(std::min(255, 40 + check)));
    }
  }
  return img;
}

cv::Mat circle_mask(cv::Size size, cv::Point centre, int radius) {
  cv::Mat m = cv::Mat::zeros(size, CV_8UC1);
  cv::circle(m, centre, radius, cv::Scalar(1), cv::FILLED);
  return m;
}

cv::Mat rect_mask(cv::Size size, cv::Rect r) {
  cv::Mat m = cv::Mat::zeros(size, CV_8UC1);
  m(r).setTo(1);
  return m;
}

cv::Mat scaled(const cv::Mat& mask, int scale) {
  cv::Mat out;
  cv::resize(mask != 0, out, cv::Size(), scale, scale, cv::INTER_NEAREST);
  return out;
}

// Largest L2 distance to the outside (image border outside too), as SoM computes it.
cv::Mat inside_distance(const cv::Mat& mask) {
  cv::Mat padded, d;
  cv::copyMakeBorder(mask != 0, padded, 1, 1, 1, 1, cv::BORDER_CONSTANT, cv::Scalar(0));
  cv::distanceTransform(padded, d, cv::DIST_L2, cv::DIST_MASK_PRECISE);
  return d(cv::Rect(1, 1, mask.cols, mask.rows)).clone();
}

// Well separated masks of different sizes and shapes, with a hole in one.
std::vector<cv::Mat> separated_masks(cv::Size size) {
  std::vector<cv::Mat> masks;
  masks.push_back(circle_mask(size, {60, 60}, 45));
  masks.push_back(rect_mask(size, {150, 20, 90, 60}));
  cv::Mat ring = circle_mask(size, {200, 170}, 50);
  cv::circle(ring, {200, 170}, 12, cv::Scalar(0), cv::FILLED);
  masks.push_back(ring);
  masks.push_back(rect_mask(size, {30, 150, 70, 40}));
  return masks;
}

// Many overlapping masks, a few tiny: the hard case for label placement.
std::vector<cv::Mat> crowded_masks(cv::Size size, int count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<cv::Mat> masks;
  for (int i = 0; i < count; ++i) {
    const int r = 3 + static_cast<int>(rng() % 40);
    const cv::Point c(static_cast<int>(rng() % size.width), static_cast<int>(rng() % size.height));
    masks.push_back(circle_mask(size, c, r));
  }
  return masks;
}

}  // namespace

TEST(SetOfMarks, MarkTextsNumbersAndLetters) {
  EXPECT_EQ(mark_text(1, MarkStyle::Numbers), "1");
  EXPECT_EQ(mark_text(12, MarkStyle::Numbers), "12");
  EXPECT_EQ(mark_text(1, MarkStyle::Letters), "a");
  EXPECT_EQ(mark_text(26, MarkStyle::Letters), "z");
  EXPECT_EQ(mark_text(27, MarkStyle::Letters), "aa");
  EXPECT_EQ(mark_text(52, MarkStyle::Letters), "az");
  EXPECT_EQ(mark_text(703, MarkStyle::Letters), "aaa");
  for (int id = 1; id < 2000; ++id) {
    EXPECT_EQ(mark_id(mark_text(id, MarkStyle::Letters), MarkStyle::Letters), id);
    EXPECT_EQ(mark_id(mark_text(id, MarkStyle::Numbers), MarkStyle::Numbers), id);
  }
  EXPECT_THROW(mark_text(0, MarkStyle::Numbers), regionlm::ArgumentError);
}

TEST(SetOfMarks, OneLabelPerMaskNumberedByAreaLargestFirst) {
  const cv::Mat img = background(240, 260);
  const auto masks = separated_masks(img.size());
  const MarkedImage marked = draw_marks(img, masks);
  ASSERT_EQ(marked.marks.size(), masks.size());
  std::vector<int> areas;
  std::vector<bool> seen(masks.size(), false);
  for (size_t k = 0; k < marked.marks.size(); ++k) {
    const Mark& m = marked.marks[k];
    EXPECT_EQ(m.id, static_cast<int>(k + 1));
    EXPECT_EQ(m.text, std::to_string(k + 1));
    ASSERT_LT(m.mask_index, masks.size());
    EXPECT_FALSE(seen[m.mask_index]) << "mask " << m.mask_index << " marked twice";
    seen[m.mask_index] = true;
    EXPECT_EQ(marked.mask_of(m.id), m.mask_index);
    areas.push_back(cv::countNonZero(masks[m.mask_index]));
  }
  EXPECT_TRUE(std::is_sorted(areas.rbegin(), areas.rend())) << "mark 1 must be the largest mask";
  EXPECT_THROW(marked.mask_of(0), regionlm::ArgumentError);
  EXPECT_THROW(marked.mask_of(5), regionlm::ArgumentError);

  MarkOptions in_order;
  in_order.numbering = Numbering::InOrder;
  in_order.style = MarkStyle::Letters;
  const MarkedImage ordered = draw_marks(img, masks, in_order);
  for (size_t k = 0; k < masks.size(); ++k) {
    EXPECT_EQ(ordered.marks[k].mask_index, k);
    EXPECT_EQ(ordered.marks[k].text, mark_text(static_cast<int>(k + 1), MarkStyle::Letters));
  }
}

// Separated masks that fit their labels: each label is centred on a most interior pixel of its
// mask (the distance-transform maximum) and lies wholly inside the mask.
TEST(SetOfMarks, LabelAtTheMostInteriorPointAndInsideWhenItFits) {
  const cv::Mat img = background(240, 260);
  const auto masks = separated_masks(img.size());
  const MarkedImage marked = draw_marks(img, masks);
  EXPECT_EQ(marked.scale, 3);  // 240 px short side -> enlarged to >= 512
  EXPECT_EQ(marked.image.size(), cv::Size(260 * 3, 240 * 3));
  for (const Mark& m : marked.marks) {
    const cv::Mat big = scaled(masks[m.mask_index], marked.scale);
    const cv::Mat d = inside_distance(big);
    double max_d = 0;
    cv::minMaxLoc(d, nullptr, &max_d);
    const double half_diagonal = std::hypot(m.label_box.width / 2.0, m.label_box.height / 2.0);
    ASSERT_GT(max_d, half_diagonal + 1) << "mark " << m.id << ": the test masks must fit their labels";
    EXPECT_FLOAT_EQ(d.at<float>(m.anchor), static_cast<float>(max_d)) << "mark " << m.id;
    EXPECT_TRUE(m.label_inside) << "mark " << m.id;
    EXPECT_EQ(cv::countNonZero(big(m.label_box)), m.label_box.area()) << "mark " << m.id;
  }
}

TEST(SetOfMarks, LabelsNeverOverlapEvenWhenCrowded) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    const cv::Mat img = background(200, 300);
    const auto masks = crowded_masks(img.size(), 40, seed);
    MarkOptions options;
    options.box = true;
    const MarkedImage marked = draw_marks(img, masks, options);
    ASSERT_EQ(marked.marks.size(), masks.size());
    const cv::Rect frame(cv::Point(0, 0), marked.image.size());
    int inside = 0;
    for (size_t a = 0; a < marked.marks.size(); ++a) {
      const cv::Rect ra = marked.marks[a].label_box;
      EXPECT_EQ(ra & frame, ra) << "label " << a + 1 << " leaves the image";
      inside += marked.marks[a].label_inside;
      for (size_t b = a + 1; b < marked.marks.size(); ++b) {
        EXPECT_EQ((ra & marked.marks[b].label_box).area(), 0)
            << "seed " << seed << ": labels " << a + 1 << " and " << b + 1 << " overlap";
      }
    }
    EXPECT_GT(inside, 10) << "most labels of the large masks should still sit inside them";
  }
}

// Every label is an opaque box in its mark's colour with text in black or white, whichever
// contrasts, so it reads on any background.
TEST(SetOfMarks, LabelsAreReadable) {
  const cv::Mat img = background(200, 300);
  const auto masks = crowded_masks(img.size(), 25, 9);
  const MarkedImage marked = draw_marks(img, masks);
  for (const Mark& m : marked.marks) {
    const double luma = 0.299 * m.colour[0] + 0.587 * m.colour[1] + 0.114 * m.colour[2];
    const cv::Vec3b ink = luma > 140 ? cv::Vec3b(0, 0, 0) : cv::Vec3b(255, 255, 255);
    const cv::Vec3b fill(static_cast<uint8_t>(m.colour[0]), static_cast<uint8_t>(m.colour[1]),
                         static_cast<uint8_t>(m.colour[2]));
    int ink_pixels = 0, fill_pixels = 0, foreign = 0;
    const cv::Mat label = marked.image(m.label_box);
    for (int y = 0; y < label.rows; ++y) {
      for (int x = 0; x < label.cols; ++x) {
        const cv::Vec3b p = label.at<cv::Vec3b>(y, x);
        if (p == ink) {
          ++ink_pixels;
        } else if (p == fill) {
          ++fill_pixels;
        } else {
          // Anti-aliased text edges blend ink and fill; anything else shows what lies beneath.
          for (int c = 0; c < 3; ++c) {
            if (p[c] + 1 < std::min(ink[c], fill[c]) || p[c] > std::max(ink[c], fill[c]) + 1) {
              ++foreign;
              break;
            }
          }
        }
      }
    }
    EXPECT_GT(ink_pixels, 10) << "mark " << m.id << " has no text";
    EXPECT_GT(fill_pixels, static_cast<int>(label.total() / 3)) << "mark " << m.id << " label is not opaque";
    EXPECT_EQ(foreign, 0) << "mark " << m.id << ": the background shows through the label";
    const double contrast = std::abs(luma - (ink[0] ? 255.0 : 0.0));
    EXPECT_GT(contrast, 100) << "mark " << m.id;
  }
}

TEST(SetOfMarks, FillIsTheAlphaBlendAndOutlineTheMarkColour) {
  const cv::Mat img = background(240, 260);
  const auto masks = separated_masks(img.size());
  MarkOptions options;
  options.alpha = 0.25;
  const MarkedImage marked = draw_marks(img, masks, options);
  cv::Mat base;
  cv::resize(img, base, cv::Size(), marked.scale, marked.scale, cv::INTER_NEAREST);
  for (const Mark& m : marked.marks) {
    const cv::Mat big = scaled(masks[m.mask_index], marked.scale);
    // A pixel well inside the mask and away from the label: the blend.
    cv::Mat eroded;
    cv::erode(big, eroded, cv::Mat::ones(9, 9, CV_8UC1));
    cv::Mat label_area = cv::Mat::zeros(big.size(), CV_8UC1);
    label_area(m.label_box).setTo(255);
    cv::Mat probe = eroded & ~label_area;
    std::vector<cv::Point> points;
    cv::findNonZero(probe, points);
    ASSERT_FALSE(points.empty());
    for (size_t i = 0; i < points.size(); i += points.size() / 10 + 1) {
      const cv::Vec3b got = marked.image.at<cv::Vec3b>(points[i]);
      const cv::Vec3b was = base.at<cv::Vec3b>(points[i]);
      for (int c = 0; c < 3; ++c) EXPECT_NEAR(got[c], 0.75 * was[c] + 0.25 * m.colour[c], 1.0);
    }
    // The outline: boundary pixels of the mask in the mark's colour.
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(big.clone(), contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_NONE);
    int coloured = 0, total = 0;
    for (const auto& p : contours.front()) {
      if (label_area.at<uint8_t>(p)) continue;
      ++total;
      const cv::Vec3b got = marked.image.at<cv::Vec3b>(p);
      coloured += got == cv::Vec3b(static_cast<uint8_t>(m.colour[0]), static_cast<uint8_t>(m.colour[1]),
                                   static_cast<uint8_t>(m.colour[2]));
    }
    EXPECT_GT(coloured, 0.9 * total) << "mark " << m.id;
  }
  // alpha 0, no outline: away from the labels the image is untouched.
  options.alpha = 0;
  options.outline = false;
  const MarkedImage plain = draw_marks(img, masks, options);
  cv::Mat labels = cv::Mat::zeros(plain.image.size(), CV_8UC1);
  for (const Mark& m : plain.marks) labels(m.label_box).setTo(255);
  cv::Mat diff;
  cv::absdiff(plain.image, base, diff);
  cv::Mat changed;
  cv::cvtColor(diff, changed, cv::COLOR_RGB2GRAY);
  EXPECT_EQ(cv::countNonZero((changed != 0) & ~labels), 0);
}

TEST(SetOfMarks, OutputIsDeterministic) {
  const cv::Mat img = background(200, 300);
  const auto masks = crowded_masks(img.size(), 30, 5);
  std::vector<std::string> captions;
  for (size_t i = 0; i < masks.size(); ++i) captions.push_back("thing " + std::to_string(i));
  const MarkedImage a = draw_marks(img, masks, {}, captions);
  const MarkedImage b = draw_marks(img, masks, {}, captions);
  ASSERT_EQ(a.image.size(), b.image.size());
  EXPECT_EQ(cv::norm(a.image, b.image, cv::NORM_INF), 0.0);
  for (size_t k = 0; k < a.marks.size(); ++k) {
    EXPECT_EQ(a.marks[k].label_box, b.marks[k].label_box);
    EXPECT_EQ(a.marks[k].text, std::to_string(k + 1) + " thing " + std::to_string(a.marks[k].mask_index));
  }
}

TEST(SetOfMarks, BadInputIsRefusedNamingTheArgument) {
  const cv::Mat img = background(100, 120);
  const auto message = [&](const std::vector<cv::Mat>& masks, const MarkOptions& o = {},
                           const std::vector<std::string>& captions = {}) {
    try {
      draw_marks(img, masks, o, captions);
    } catch (const regionlm::ArgumentError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const cv::Mat good = rect_mask(img.size(), {10, 10, 30, 30});
  EXPECT_NE(message({good, rect_mask({50, 50}, {1, 1, 5, 5})}).find("masks[1]"), std::string::npos);
  EXPECT_NE(message({good, cv::Mat::zeros(img.size(), CV_8UC1)}).find("masks[1]"), std::string::npos);
  EXPECT_NE(message({good}, {}, {"a", "b"}).find("captions"), std::string::npos);
  MarkOptions bad;
  bad.alpha = 1.5;
  EXPECT_NE(message({good}, bad).find("alpha"), std::string::npos);
  EXPECT_THROW(draw_marks(cv::Mat(), {good}), regionlm::ArgumentError);
  EXPECT_TRUE(draw_marks(img, {}).marks.empty());
}

TEST(MarkReferences, FindsEveryFormInOrderOfFirstMention) {
  EXPECT_EQ(referenced_marks("The cup [2] is left of the plate [1].", 5), (std::vector<int>{2, 1}));
  EXPECT_EQ(referenced_marks("[1, 2] and [3],[4]", 5), (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(referenced_marks("region2 is above <region1>; Region 3 too", 5), (std::vector<int>{2, 1, 3}));
  EXPECT_EQ(referenced_marks("[2] again [2] and region2", 5), (std::vector<int>{2}));
  EXPECT_EQ(referenced_marks("[9] [0] region7", 5), (std::vector<int>{}));  // out of range
  EXPECT_EQ(referenced_marks("subregion2, [see above], regions", 5), (std::vector<int>{}));
  EXPECT_EQ(referenced_marks("[c] then [a, b]", 5, MarkStyle::Letters), (std::vector<int>{3, 1, 2}));
  EXPECT_EQ(referenced_marks("[c] then [2]", 5, MarkStyle::Numbers), (std::vector<int>{2}));
  EXPECT_EQ(referenced_marks("a red circle", 4), (std::vector<int>{}));
  EXPECT_THROW(referenced_marks("x", -1), regionlm::ArgumentError);
}
