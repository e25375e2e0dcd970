#include "scene.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

#include "regionlm/error.hpp"

namespace regionlm::tiny_shapes {
namespace {

constexpr double kPi = 3.14159265358979323846;
// Sub-pixel bits for OpenCV's rasteriser: vertices are rounded to 1/16 px.
constexpr int kShift = 4;
constexpr double kScale = 1 << kShift;
// A star's inner vertices sit at this fraction of the outer radius (a regular pentagram has
// 0.382; slightly fatter arms keep small stars recognisable).
constexpr double kStarInnerRatio = 0.45;
// An object's visible pixels must form one piece: the largest 8-connected component holds
// at least this share (an occluder cutting an object in two makes an ambiguous region).
constexpr double kMinLargestComponent = 0.95;
// Objects of one colour keep at least this gap (px): touching same-coloured shapes would
// merge into one blob in the picture.
constexpr int kSameColorGap = 3;
// Placement attempts per object before the scene stops growing, and whole-scene attempts.
constexpr int kTriesPerObject = 40;
constexpr int kTriesPerScene = 200;

struct ColorInfo {
  std::string name;
  std::array<uint8_t, 3> rgb;
};

const std::array<ColorInfo, kNumColors>& color_table() {
  static const std::array<ColorInfo, kNumColors> table{{
      {"red", {220, 40, 40}},
      {"green", {40, 170, 60}},
      {"blue", {40, 80, 220}},
      {"yellow", {235, 210, 40}},
      {"purple", {140, 60, 180}},
      {"orange", {240, 140, 30}},
  }};
  return table;
}

uint8_t clamp_u8(double v) { return static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L)); }

// Vertices of a polygonal shape around its centre (y grows downwards).
std::vector<cv::Point2d> shape_outline(Shape shape, double size) {
  std::vector<cv::Point2d> pts;
  switch (shape) {
    case Shape::kSquare: {
      const double h = size / 2;
      pts = {{-h, -h}, {h, -h}, {h, h}, {-h, h}};
      break;
    }
    case Shape::kTriangle: {  // equilateral, apex up, centred on its centroid
      const double r = size / std::sqrt(3.0);
      for (int k = 0; k < 3; ++k) {
        const double a = -kPi / 2 + k * 2 * kPi / 3;
        pts.emplace_back(r * std::cos(a), r * std::sin(a));
      }
      break;
    }
    case Shape::kStar: {  // five points, one up; width = 2 R sin(72°)
      const double r_out = size / (2 * std::sin(2 * kPi / 5));
      for (int k = 0; k < 10; ++k) {
        const double a = -kPi / 2 + k * kPi / 5;
        const double r = (k % 2 == 0) ? r_out : r_out * kStarInnerRatio;
        pts.emplace_back(r * std::cos(a), r * std::sin(a));
      }
      break;
    }
    case Shape::kCircle:
      break;
  }
  return pts;
}

// Shapes are upright and axis-aligned: a triangle or star points up, a square's sides are
// horizontal and vertical.
struct Placement {
  Color color;
  Shape shape;
  cv::Point2d center;
  double size;
};

// Rasterises the placement into `canvas` with `value`. Returns false when any part of the
// shape would leave the image (objects stay whole inside the frame).
bool draw_shape(cv::Mat1b& canvas, const Placement& p, uint8_t value) {
  const double side = canvas.cols;
  if (p.shape == Shape::kCircle) {
    const double r = p.size / 2;
    if (p.center.x - r < 0 || p.center.y - r < 0 || p.center.x + r > side - 1 ||
        p.center.y + r > canvas.rows - 1) {
      return false;
    }
    cv::circle(canvas, cv::Point(static_cast<int>(std::lround(p.center.x * kScale)),
                                 static_cast<int>(std::lround(p.center.y * kScale))),
               static_cast<int>(std::lround(r * kScale)), cv::Scalar(value), cv::FILLED,
               cv::LINE_8, kShift);
    return true;
  }
  std::vector<cv::Point> poly;
  for (const auto& v : shape_outline(p.shape, p.size)) {
    const double x = p.center.x + v.x;
    const double y = p.center.y + v.y;
    if (x < 0 || y < 0 || x > side - 1 || y > canvas.rows - 1) return false;
    poly.emplace_back(static_cast<int>(std::lround(x * kScale)),
                      static_cast<int>(std::lround(y * kScale)));
  }
  cv::fillPoly(canvas, std::vector<std::vector<cv::Point>>{poly}, cv::Scalar(value), cv::LINE_8,
               kShift);
  return true;
}

// Whether the new footprint keeps kSameColorGap away from every earlier same-coloured one.
bool apart_from_same_color(const cv::Mat1b& footprint, Color color,
                           const std::vector<Placement>& placed,
                           const std::vector<cv::Mat1b>& footprints) {
  cv::Mat1b grown;
  const cv::Mat kernel = cv::getStructuringElement(
      cv::MORPH_ELLIPSE, cv::Size(2 * kSameColorGap + 1, 2 * kSameColorGap + 1));
  cv::dilate(footprint, grown, kernel);
  for (size_t k = 0; k < placed.size(); ++k) {
    if (placed[k].color == color && cv::countNonZero(grown & footprints[k]) > 0) return false;
  }
  return true;
}

bool is_one_piece(const cv::Mat1b& mask, int visible) {
  cv::Mat labels, stats, centroids;
  const int n = cv::connectedComponentsWithStats(mask, labels, stats, centroids, 8, CV_32S);
  int largest = 0;
  for (int k = 1; k < n; ++k) largest = std::max(largest, stats.at<int>(k, cv::CC_STAT_AREA));
  return largest >= kMinLargestComponent * visible;
}

// Whether every object in `labels` (values 1..full_areas.size()) keeps enough visible pixels
// in one piece.
bool all_visible(const cv::Mat1b& labels, const std::vector<int>& full_areas,
                 double min_fraction) {
  for (size_t k = 0; k < full_areas.size(); ++k) {
    const cv::Mat1b mask = labels == static_cast<uint8_t>(k + 1);
    const int visible = cv::countNonZero(mask);
    if (visible < min_fraction * full_areas[k]) return false;
    if (!is_one_piece(mask, visible)) return false;
  }
  return true;
}

Placement sample_placement(Random& rng, const SceneOptions& o, const cv::Point2d& cluster,
                           const std::vector<Placement>& placed) {
  Placement p{};
  // Reusing a colour already in the scene keeps "same color?" questions balanced.
  if (!placed.empty() && rng.uniform() < 0.25) {
    p.color = placed[rng.integer(0, static_cast<int>(placed.size()) - 1)].color;
  } else {
    p.color = static_cast<Color>(rng.integer(0, kNumColors - 1));
  }
  p.shape = static_cast<Shape>(rng.integer(0, kNumShapes - 1));
  const double side = o.image_size;
  p.size = rng.uniform(o.min_size, o.max_size) * side;
  if (o.heavy_overlap) {
    p.center = {cluster.x + rng.uniform(-0.15, 0.15) * side,
                cluster.y + rng.uniform(-0.15, 0.15) * side};
  } else {
    p.center = {rng.uniform(p.size / 2, side - p.size / 2),
                rng.uniform(p.size / 2, side - p.size / 2)};
  }
  return p;
}

// Heavy-overlap scenes must really overlap: every object's box holds at least this share of
// other objects' pixels, so a box region is a poor stand-in for the mask.
constexpr double kHeavyMinForeignShare = 0.15;

bool boxes_overlap_enough(const cv::Mat1b& labels, int count) {
  for (int k = 1; k <= count; ++k) {
    const cv::Rect box = cv::boundingRect(labels == k);
    const cv::Mat1b inside = labels(box);
    const int foreign = cv::countNonZero((inside != k) & (inside != 0));
    if (foreign < kHeavyMinForeignShare * box.area()) return false;
  }
  return true;
}

// Gray background with mild noise, or a smooth low-saturation tint field.
cv::Mat3d make_background(Random& rng, int side) {
  const double gray = rng.integer(60, 200);
  cv::Mat3d bg(side, side);
  if (rng.uniform() < 0.5) {
    for (int y = 0; y < side; ++y) {
      for (int x = 0; x < side; ++x) {
        const double v = gray + 5 * rng.noise();
        bg(y, x) = cv::Vec3d(v, v, v);
      }
    }
    return bg;
  }
  constexpr int kGrid = 4;  // tint control points per side, bilinearly interpolated
  cv::Vec3d grid[kGrid][kGrid];
  for (auto& row : grid) {
    for (auto& cell : row) {
      const double shade = rng.uniform(-25, 25);
      for (int ch = 0; ch < 3; ++ch) cell[ch] = gray + shade + rng.uniform(-10, 10);
    }
  }
  for (int y = 0; y < side; ++y) {
    const double gy = static_cast<double>(y) * (kGrid - 1) / (side - 1);
    const int y0 = std::min(static_cast<int>(gy), kGrid - 2);
    const double ty = gy - y0;
    for (int x = 0; x < side; ++x) {
      const double gx = static_cast<double>(x) * (kGrid - 1) / (side - 1);
      const int x0 = std::min(static_cast<int>(gx), kGrid - 2);
      const double tx = gx - x0;
      bg(y, x) = grid[y0][x0] * ((1 - tx) * (1 - ty)) + grid[y0][x0 + 1] * (tx * (1 - ty)) +
                 grid[y0 + 1][x0] * ((1 - tx) * ty) + grid[y0 + 1][x0 + 1] * (tx * ty);
    }
  }
  return bg;
}

void validate(const SceneOptions& o) {
  if (o.image_size < 32) {
    throw ArgumentError("tiny_shapes::SceneOptions::image_size must be >= 32, got " +
                        std::to_string(o.image_size));
  }
  if (o.min_objects < 1 || o.max_objects < o.min_objects || o.max_objects > 250) {
    throw ArgumentError("tiny_shapes::SceneOptions: need 1 <= min_objects <= max_objects <= 250");
  }
  if (!(o.min_size > 0 && o.max_size >= o.min_size && o.max_size < 1)) {
    throw ArgumentError("tiny_shapes::SceneOptions: need 0 < min_size <= max_size < 1");
  }
  if (!(o.min_visible_fraction > 0 && o.min_visible_fraction <= 1)) {
    throw ArgumentError("tiny_shapes::SceneOptions::min_visible_fraction must be in (0, 1]");
  }
}

}  // namespace

Random::Random(uint64_t seed) : engine_(seed) {}
uint64_t Random::next() { return engine_(); }
double Random::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
double Random::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
int Random::integer(int lo, int hi) {
  const auto span = static_cast<uint64_t>(hi - lo) + 1;
  return lo + static_cast<int>(next() % span);
}
double Random::noise() {
  double sum = 0;
  for (int k = 0; k < 12; ++k) sum += uniform();
  return sum - 6;
}

const std::string& color_name(Color color) {
  return color_table().at(static_cast<size_t>(color)).name;
}

const std::string& shape_name(Shape shape) {
  static const std::array<std::string, kNumShapes> names{"circle", "square", "triangle", "star"};
  return names.at(static_cast<size_t>(shape));
}

std::array<uint8_t, 3> color_rgb(Color color) {
  return color_table().at(static_cast<size_t>(color)).rgb;
}

std::string describe_object(Color color, Shape shape) {
  const std::string& c = color_name(color);
  const bool vowel = std::string("aeiou").find(c.front()) != std::string::npos;
  return (vowel ? "an " : "a ") + c + " " + shape_name(shape);
}

SceneOptions heavy_overlap_options(int image_size) {
  SceneOptions o;
  o.image_size = image_size;
  o.min_objects = 3;
  o.max_objects = 5;
  o.min_size = 0.25;
  o.min_visible_fraction = 0.5;
  o.heavy_overlap = true;
  return o;
}

Scene generate_scene(uint64_t seed, const SceneOptions& options) {
  validate(options);
  const int side = options.image_size;
  Random rng(seed);
  for (int attempt = 0; attempt < kTriesPerScene; ++attempt) {
    const int target = rng.integer(options.min_objects, options.max_objects);
    const cv::Point2d cluster(rng.uniform(0.35, 0.65) * side, rng.uniform(0.35, 0.65) * side);
    cv::Mat1b labels = cv::Mat1b::zeros(side, side);
    std::vector<Placement> placed;
    std::vector<int> full_areas;
    std::vector<cv::Mat1b> footprints;  // each placed object's full (unoccluded) pixels
    for (int k = 0; k < target; ++k) {
      for (int t = 0; t < kTriesPerObject; ++t) {
        const Placement p = sample_placement(rng, options, cluster, placed);
        cv::Mat1b alone = cv::Mat1b::zeros(side, side);
        if (!draw_shape(alone, p, 1)) continue;
        if (!apart_from_same_color(alone, p.color, placed, footprints)) continue;
        cv::Mat1b trial = labels.clone();
        trial.setTo(static_cast<uint8_t>(placed.size() + 1), alone);
        std::vector<int> areas = full_areas;
        areas.push_back(cv::countNonZero(alone));
        if (!all_visible(trial, areas, options.min_visible_fraction)) continue;
        labels = trial;
        placed.push_back(p);
        footprints.push_back(alone);
        full_areas = std::move(areas);
        break;
      }
    }
    const int count = static_cast<int>(placed.size());
    if (count < options.min_objects) continue;
    if (options.heavy_overlap && !boxes_overlap_enough(labels, count)) continue;

    Scene scene;
    scene.seed = seed;
    cv::Mat3d canvas = make_background(rng, side);
    for (int k = 0; k < count; ++k) {
      SceneObject obj;
      obj.color = placed[k].color;
      obj.shape = placed[k].shape;
      obj.center = placed[k].center;
      obj.size = placed[k].size;
      const auto centre = color_rgb(obj.color);
      for (int ch = 0; ch < 3; ++ch) {
        obj.rgb[ch] = clamp_u8(centre[ch] + rng.integer(-options.color_jitter, options.color_jitter));
      }
      const cv::Mat1b visible = labels == static_cast<uint8_t>(k + 1);
      obj.mask = visible / 255;
      obj.visible_pixels = cv::countNonZero(visible);
      obj.visible_fraction = static_cast<double>(obj.visible_pixels) / full_areas[k];
      obj.box = cv::boundingRect(visible);
      const cv::Moments m = cv::moments(visible, true);
      obj.centroid = {m.m10 / m.m00, m.m01 / m.m00};
      canvas.setTo(cv::Scalar(obj.rgb[0], obj.rgb[1], obj.rgb[2]), visible);
      scene.objects.push_back(std::move(obj));
    }
    scene.image.create(side, side);
    for (int y = 0; y < side; ++y) {
      for (int x = 0; x < side; ++x) {
        for (int ch = 0; ch < 3; ++ch) {
          scene.image(y, x)[ch] = clamp_u8(canvas(y, x)[ch] + 3 * rng.noise());
        }
      }
    }
    return scene;
  }
  throw ArgumentError("tiny_shapes::generate_scene: no valid layout for seed " +
                      std::to_string(seed) + " after " + std::to_string(kTriesPerScene) +
                      " attempts; relax the SceneOptions");
}

const std::string& question_kind_name(QuestionKind kind) {
  static const std::array<std::string, kNumQuestionKinds> names{
      "what", "short", "color", "shape", "left_of", "same_color"};
  return names.at(static_cast<size_t>(kind));
}

std::string question_prompt(QuestionKind kind) {
  switch (kind) {
    case QuestionKind::kWhat:
      return "What is <region>?";
    case QuestionKind::kShortDescription:  // Osprey's short-description prompt
      return "Please give me a short description of <region>. Using a short phrase.";
    case QuestionKind::kColor:
      return "What color is <region>?";
    case QuestionKind::kShape:
      return "What shape is <region>?";
    case QuestionKind::kLeftOf:
      return "Is <region1> left of <region2>?";
    case QuestionKind::kSameColor:
      return "Are <region1> and <region2> the same color?";
  }
  throw ArgumentError("tiny_shapes::question_prompt: unknown question kind");
}

std::vector<Question> all_questions(const Scene& scene, double min_centroid_gap) {
  std::vector<Question> out;
  const int n = static_cast<int>(scene.objects.size());
  for (int i = 0; i < n; ++i) {
    const SceneObject& o = scene.objects[i];
    const std::string what = describe_object(o.color, o.shape);
    out.push_back({QuestionKind::kWhat, question_prompt(QuestionKind::kWhat), what, {i}});
    out.push_back({QuestionKind::kShortDescription,
                   question_prompt(QuestionKind::kShortDescription), what, {i}});
    out.push_back({QuestionKind::kColor, question_prompt(QuestionKind::kColor),
                   color_name(o.color), {i}});
    out.push_back({QuestionKind::kShape, question_prompt(QuestionKind::kShape),
                   shape_name(o.shape), {i}});
  }
  const double gap = min_centroid_gap * scene.image.cols;
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      if (i == j) continue;
      const SceneObject& a = scene.objects[i];
      const SceneObject& b = scene.objects[j];
      out.push_back({QuestionKind::kSameColor, question_prompt(QuestionKind::kSameColor),
                     a.color == b.color ? "yes" : "no", {i, j}});
      if (std::abs(a.centroid.x - b.centroid.x) >= gap) {
        out.push_back({QuestionKind::kLeftOf, question_prompt(QuestionKind::kLeftOf),
                       a.centroid.x < b.centroid.x ? "yes" : "no", {i, j}});
      }
    }
  }
  return out;
}

}  // namespace regionlm::tiny_shapes
