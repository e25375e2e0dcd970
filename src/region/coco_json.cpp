#include "regionlm/region/coco_json.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>

#include "json_depth.hpp"
#include "regionlm/error.hpp"
#include "regionlm/limits.hpp"

namespace regionlm {
namespace {

using json = nlohmann::json;

[[noreturn]] void fail(const std::string& where, const std::string& problem) {
  throw FormatError(where + ": " + problem);
}

int side(const json& value, const std::string& where) {
  if (!value.is_number_integer() || value.get<int64_t>() < 1 || value.get<int64_t>() > limits::kMaxImageSide) {
    fail(where, "expected an integer in 1.." + std::to_string(limits::kMaxImageSide) +
                    " (limits::kMaxImageSide), found " + value.dump());
  }
  return static_cast<int>(value.get<int64_t>());
}

Region rle(const json& object, const std::string& where) {
  const auto size = object.find("size");
  const auto counts = object.find("counts");
  if (size == object.end() || counts == object.end()) {
    fail(where, "expected {\"size\": [height, width], \"counts\": ...}");
  }
  if (!size->is_array() || size->size() != 2) fail(where + ".size", "expected [height, width]");
  const int height = side((*size)[0], where + ".size[0]");
  const int width = side((*size)[1], where + ".size[1]");
  const int64_t pixels = int64_t{height} * width;
  if (pixels > limits::kMaxImagePixels) {
    fail(where + ".size", std::to_string(height) + "x" + std::to_string(width) + " is " + std::to_string(pixels) +
                              " pixels; at most " + std::to_string(limits::kMaxImagePixels) +
                              " (limits::kMaxImagePixels)");
  }
  if (counts->is_string()) return Region::from_rle(counts->get<std::string>(), height, width);
  if (!counts->is_array()) fail(where + ".counts", "expected a string or a list of run lengths");
  // A valid list has at most one run per pixel plus the leading zero run.
  if (counts->size() > static_cast<size_t>(pixels) + 1) {
    fail(where + ".counts", std::to_string(counts->size()) + " runs for " + std::to_string(pixels) + " pixels");
  }
  std::vector<uint32_t> runs;
  runs.reserve(counts->size());
  for (size_t i = 0; i < counts->size(); ++i) {
    const json& run = (*counts)[i];
    if (!run.is_number_unsigned() || run.get<uint64_t>() > std::numeric_limits<uint32_t>::max()) {
      fail(where + ".counts[" + std::to_string(i) + "]", "expected an integer in 0..4294967295");
    }
    runs.push_back(static_cast<uint32_t>(run.get<uint64_t>()));
  }
  return Region::from_rle(runs, height, width);
}

Region polygons(const json& list, const std::string& where) {
  if (list.empty()) fail(where, "expected at least one polygon");
  std::vector<std::vector<cv::Point2d>> parts;
  for (size_t p = 0; p < list.size(); ++p) {
    const std::string at = where + "[" + std::to_string(p) + "]";
    const json& flat = list[p];
    if (!flat.is_array() || flat.size() % 2 != 0) fail(at, "expected a flat list [x0, y0, x1, y1, ...]");
    std::vector<cv::Point2d> points;
    points.reserve(flat.size() / 2);
    for (size_t k = 0; k < flat.size(); k += 2) {
      if (!flat[k].is_number() || !flat[k + 1].is_number()) fail(at, "coordinates must be numbers");
      points.emplace_back(flat[k].get<double>(), flat[k + 1].get<double>());
    }
    parts.push_back(std::move(points));
  }
  return Region::from_polygons(parts);
}

Region region(const json& entry, const std::string& where) {
  if (entry.is_object() && entry.contains("segmentation")) {
    const json& segmentation = entry["segmentation"];
    if (segmentation.is_array()) return polygons(segmentation, where + ".segmentation");
    if (segmentation.is_object()) return rle(segmentation, where + ".segmentation");
    fail(where + ".segmentation", "expected an RLE object or a list of polygons");
  }
  if (entry.is_object()) return rle(entry, where);
  fail(where, "expected an RLE object or an annotation with \"segmentation\"");
}

}  // namespace

std::vector<Region> parse_coco_regions(const std::string& json_text, const std::string& source) {
  json root;
  try {
    root = parse_json_depth_limited<FormatError>(json_text, source);
  } catch (const json::exception& e) {
    throw FormatError(source + ": invalid JSON: " + e.what());
  }
  std::vector<Region> out;
  if (!root.is_array()) {
    out.push_back(region(root, source));
    return out;
  }
  if (root.size() > static_cast<size_t>(limits::kMaxRegions)) {
    fail(source, std::to_string(root.size()) + " regions; at most " + std::to_string(limits::kMaxRegions) +
                     " (limits::kMaxRegions)");
  }
  for (size_t i = 0; i < root.size(); ++i) out.push_back(region(root[i], source + " entry " + std::to_string(i)));
  return out;
}

}  // namespace regionlm
