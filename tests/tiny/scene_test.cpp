// The tiny-shapes task generator: determinism, the fixed colours and sizes, visible-pixel
// masks, boxes, and the answers and ambiguity rules of the questions.
#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <set>

#include "regionlm/error.hpp"
#include "scene.hpp"

namespace ts = regionlm::tiny_shapes;

namespace {

bool same_pixels(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0;
}

}  // namespace

TEST(TinyScene, SameSeedSameSceneOtherSeedOtherScene) {
  const ts::Scene a = ts::generate_scene(42);
  const ts::Scene b = ts::generate_scene(42);
  const ts::Scene c = ts::generate_scene(43);
  ASSERT_EQ(a.objects.size(), b.objects.size());
  EXPECT_TRUE(same_pixels(a.image, b.image));
  for (size_t k = 0; k < a.objects.size(); ++k) {
    EXPECT_TRUE(same_pixels(a.objects[k].mask, b.objects[k].mask));
    EXPECT_EQ(a.objects[k].color, b.objects[k].color);
    EXPECT_EQ(a.objects[k].shape, b.objects[k].shape);
  }
  EXPECT_FALSE(same_pixels(a.image, c.image));
}

TEST(TinyScene, FixedColourTable) {
  EXPECT_EQ(ts::color_rgb(ts::Color::kRed), (std::array<uint8_t, 3>{220, 40, 40}));
  EXPECT_EQ(ts::color_rgb(ts::Color::kGreen), (std::array<uint8_t, 3>{40, 170, 60}));
  EXPECT_EQ(ts::color_rgb(ts::Color::kBlue), (std::array<uint8_t, 3>{40, 80, 220}));
  EXPECT_EQ(ts::color_rgb(ts::Color::kYellow), (std::array<uint8_t, 3>{235, 210, 40}));
  EXPECT_EQ(ts::color_rgb(ts::Color::kPurple), (std::array<uint8_t, 3>{140, 60, 180}));
  EXPECT_EQ(ts::color_rgb(ts::Color::kOrange), (std::array<uint8_t, 3>{240, 140, 30}));
  EXPECT_EQ(ts::describe_object(ts::Color::kRed, ts::Shape::kCircle), "a red circle");
  EXPECT_EQ(ts::describe_object(ts::Color::kOrange, ts::Shape::kStar), "an orange star");
}

// Over many scenes: 2-6 objects, sizes 15-45 % of the side, fill colours within the jitter of
// their centre, masks disjoint and exactly the pixels drawn in the object's colour, boxes and
// centroids computed from the masks, visible fraction above the rule.
TEST(TinyScene, ObjectsObeyTheTaskRules) {
  std::set<int> counts, colors, shapes;
  for (uint64_t seed = 0; seed < 150; ++seed) {
    const ts::SceneOptions options;
    const ts::Scene scene = ts::generate_scene(seed, options);
    ASSERT_EQ(scene.image.rows, options.image_size);
    ASSERT_EQ(scene.image.cols, options.image_size);
    const int n = static_cast<int>(scene.objects.size());
    counts.insert(n);
    ASSERT_GE(n, 2);
    ASSERT_LE(n, 6);
    cv::Mat1b covered = cv::Mat1b::zeros(scene.image.size());
    for (const ts::SceneObject& o : scene.objects) {
      colors.insert(static_cast<int>(o.color));
      shapes.insert(static_cast<int>(o.shape));
      EXPECT_GE(o.size, 0.15 * options.image_size - 1e-9);
      EXPECT_LE(o.size, 0.45 * options.image_size + 1e-9);
      const auto centre = ts::color_rgb(o.color);
      for (int ch = 0; ch < 3; ++ch) EXPECT_LE(std::abs(int{o.rgb[ch]} - int{centre[ch]}), options.color_jitter);
      ASSERT_EQ(o.visible_pixels, cv::countNonZero(o.mask));
      EXPECT_GE(o.visible_fraction, options.min_visible_fraction);
      EXPECT_EQ(cv::countNonZero(covered & o.mask), 0) << "masks overlap, seed " << seed;
      covered |= o.mask;
      EXPECT_EQ(o.box, cv::boundingRect(o.mask));
      const cv::Moments m = cv::moments(o.mask, true);
      EXPECT_NEAR(o.centroid.x, m.m10 / m.m00, 1e-9);
      // Visible pixels carry the object's colour up to the image noise (3 gray levels, sum of 12
      // uniforms: at most 18 in theory, far less in practice).
      const cv::Scalar mean = cv::mean(scene.image, o.mask);
      for (int ch = 0; ch < 3; ++ch) EXPECT_NEAR(mean[ch], o.rgb[ch], 2.0);
    }
  }
  EXPECT_EQ(counts, (std::set<int>{2, 3, 4, 5, 6}));
  EXPECT_EQ(colors.size(), 6u);
  EXPECT_EQ(shapes.size(), 4u);
}

TEST(TinyScene, QuestionsAnswerFromTheMasks) {
  int left_yes = 0, left_no = 0, same_yes = 0, same_no = 0;
  for (uint64_t seed = 0; seed < 100; ++seed) {
    const ts::Scene scene = ts::generate_scene(seed);
    const double gap = 0.1 * scene.image.cols;
    for (const ts::Question& q : ts::all_questions(scene)) {
      EXPECT_EQ(q.prompt, ts::question_prompt(q.kind));
      const ts::SceneObject& a = scene.objects.at(static_cast<size_t>(q.regions.at(0)));
      switch (q.kind) {
        case ts::QuestionKind::kWhat:
        case ts::QuestionKind::kShortDescription:
          EXPECT_EQ(q.answer, ts::describe_object(a.color, a.shape));
          break;
        case ts::QuestionKind::kColor:
          EXPECT_EQ(q.answer, ts::color_name(a.color));
          break;
        case ts::QuestionKind::kShape:
          EXPECT_EQ(q.answer, ts::shape_name(a.shape));
          break;
        case ts::QuestionKind::kLeftOf: {
          const ts::SceneObject& b = scene.objects.at(static_cast<size_t>(q.regions.at(1)));
          EXPECT_GE(std::abs(a.centroid.x - b.centroid.x), gap);  // no near-ties asked
          EXPECT_EQ(q.answer, a.centroid.x < b.centroid.x ? "yes" : "no");
          (q.answer == "yes" ? left_yes : left_no)++;
          break;
        }
        case ts::QuestionKind::kSameColor: {
          const ts::SceneObject& b = scene.objects.at(static_cast<size_t>(q.regions.at(1)));
          EXPECT_EQ(q.answer, a.color == b.color ? "yes" : "no");
          (q.answer == "yes" ? same_yes : same_no)++;
          break;
        }
      }
    }
  }
  EXPECT_EQ(left_yes, left_no);  // every ordered pair is asked both ways
  EXPECT_GT(same_yes, 50);       // colours repeat within scenes often enough to ask "yes"
  EXPECT_GT(same_no, same_yes);
  EXPECT_EQ(ts::question_prompt(ts::QuestionKind::kShortDescription),
            "Please give me a short description of <region>. Using a short phrase.");
}

// Heavy-overlap scenes: every object's box holds a good share of other objects' pixels, so a
// box is a poor stand-in for the mask.
TEST(TinyScene, HeavyOverlapScenesOverlap) {
  double foreign_share_sum = 0;
  int objects = 0;
  for (uint64_t seed = 0; seed < 60; ++seed) {
    const ts::Scene scene = ts::generate_scene(seed, ts::heavy_overlap_options());
    ASSERT_GE(scene.objects.size(), 3u);
    ASSERT_LE(scene.objects.size(), 5u);
    cv::Mat1b all = cv::Mat1b::zeros(scene.image.size());
    for (const auto& o : scene.objects) all |= o.mask;
    for (const auto& o : scene.objects) {
      EXPECT_GE(o.visible_fraction, 0.5);
      const cv::Mat1b others = all(o.box) & (1 - o.mask(o.box));
      const double share = static_cast<double>(cv::countNonZero(others)) / o.box.area();
      EXPECT_GE(share, 0.15);
      foreign_share_sum += share;
      ++objects;
    }
  }
  EXPECT_GT(foreign_share_sum / objects, 0.2);
}

TEST(TinyScene, RejectsBadOptions) {
  ts::SceneOptions o;
  o.image_size = 8;
  EXPECT_THROW(ts::generate_scene(1, o), regionlm::ArgumentError);
  o = {};
  o.min_objects = 4;
  o.max_objects = 3;
  EXPECT_THROW(ts::generate_scene(1, o), regionlm::ArgumentError);
  o = {};
  o.max_size = 1.5;
  EXPECT_THROW(ts::generate_scene(1, o), regionlm::ArgumentError);
}
