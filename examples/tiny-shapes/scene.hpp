#pragma once
// The tiny-shapes task: synthetic scenes of coloured shapes with their visible-pixel masks,
// boxes and question/answer pairs, generated deterministically from a seed.
//
// The task is fixed (issue 8) so that anyone can generate test scenes independently:
// six colours, four shapes, 2–6 objects of 15–45 % of the image side, later objects
// occluding earlier ones. All randomness comes from std::mt19937_64 (whose output the C++
// standard fixes) through plain arithmetic, never through the implementation-defined
// std:: distributions, so a seed names the same scene with any standard library.
#include <opencv2/core.hpp>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace regionlm::tiny_shapes {

enum class Color { kRed, kGreen, kBlue, kYellow, kPurple, kOrange };
enum class Shape { kCircle, kSquare, kTriangle, kStar };

inline constexpr int kNumColors = 6;
inline constexpr int kNumShapes = 4;

/// Lower-case English name ("red", ...).
const std::string& color_name(Color color);
/// Lower-case English name ("circle", ...).
const std::string& shape_name(Shape shape);
/// The colour's RGB centre, e.g. red = (220, 40, 40).
std::array<uint8_t, 3> color_rgb(Color color);
/// The answer to "What is <region>?": "a red circle", "an orange star".
std::string describe_object(Color color, Shape shape);

/// How a scene is laid out. Defaults are the task's normal scenes.
struct SceneOptions {
  int image_size = 128;                // side of the square image, px
  int min_objects = 2;                 // fewest objects in a scene
  int max_objects = 6;                 // most objects in a scene
  double min_size = 0.15;              // smallest object width, fraction of the side
  double max_size = 0.45;              // largest object width, fraction of the side
  int color_jitter = 20;               // per-channel uniform jitter of the fill colour, ±levels
  double min_visible_fraction = 0.65;  // an object keeps at least this share of its pixels
  bool heavy_overlap = false;          // cluster objects so that they occlude each other
};

/// Heavy-overlap scenes for the masks-vs-boxes comparison: 3–5 objects clustered around
/// one point, each occluded object keeping 50 % or more of its pixels.
SceneOptions heavy_overlap_options(int image_size = 128);

/// One object of a scene, in drawing order (later objects occlude earlier ones).
struct SceneObject {
  Color color = Color::kRed;
  Shape shape = Shape::kCircle;
  std::array<uint8_t, 3> rgb{};  // fill colour as drawn (centre + jitter)
  cv::Point2d center;            // shape centre, px (a triangle's centroid)
  double size = 0;               // width of the shape, px (shapes are upright, axis-aligned)
  cv::Mat1b mask;                // visible pixels, 1 = object, image size
  cv::Rect box;                  // tight box of the visible pixels (x, y, width, height)
  int visible_pixels = 0;        // pixels in `mask`
  double visible_fraction = 0;   // visible / full (unoccluded) pixel count
  cv::Point2d centroid;          // mean of the visible pixels' coordinates, px
};

/// An image (RGB, 8 bit) with its objects.
struct Scene {
  uint64_t seed = 0;
  cv::Mat3b image;  // RGB channel order (not OpenCV's BGR)
  std::vector<SceneObject> objects;
};

/// Builds the scene of `seed`. Throws regionlm::ArgumentError on inconsistent options.
Scene generate_scene(uint64_t seed, const SceneOptions& options = {});

enum class QuestionKind { kWhat, kShortDescription, kColor, kShape, kLeftOf, kSameColor };
inline constexpr int kNumQuestionKinds = 6;
/// Short name for reports ("what", "short", "color", "shape", "left_of", "same_color").
const std::string& question_kind_name(QuestionKind kind);

/// One question about a scene. The prompt names its regions with `<region>` (one region) or
/// `<region1>`, `<region2>` (two regions), in the order of `regions`.
struct Question {
  QuestionKind kind = QuestionKind::kWhat;
  std::string prompt;        // e.g. "What color is <region>?"
  std::string answer;        // lower case, no final period, e.g. "red"
  std::vector<int> regions;  // indices into Scene::objects
};

/// The prompt of a question kind with its region placeholders (see Question::prompt).
std::string question_prompt(QuestionKind kind);

/// Every unambiguous question about a scene: the four single-region questions for each
/// object, then for each ordered pair of objects "same color?" and, when the centroids are
/// at least `min_centroid_gap` of the side apart horizontally, "left of?".
std::vector<Question> all_questions(const Scene& scene, double min_centroid_gap = 0.1);

/// A small deterministic generator: the scene generator's and the trainer's randomness.
class Random {
 public:
  explicit Random(uint64_t seed);
  uint64_t next();                       // 64 raw bits
  double uniform();                      // [0, 1)
  double uniform(double lo, double hi);  // [lo, hi)
  int integer(int lo, int hi);           // [lo, hi], both inclusive
  /// Roughly standard normal: the sum of 12 uniforms minus 6 (pure arithmetic, so it is
  /// reproducible bit for bit, unlike a libm-based transform).
  double noise();

 private:
  std::mt19937_64 engine_;
};

}  // namespace regionlm::tiny_shapes
