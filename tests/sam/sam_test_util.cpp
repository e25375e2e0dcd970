#include "sam_test_util.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "test_util.hpp"

namespace fs = std::filesystem;

namespace regionlm::sam::test {

namespace {

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

fs::path reference_model(const std::string& kind, bool with_config) {
  // The models are deterministic (seeded), so they are made once per build tree and reused by
  // every test process: the directory is named after a hash of tests/sam/sam_reference.py, so
  // an edited script makes new ones. A model is written to a private directory and renamed
  // into place (atomic; the loser of a race uses the winner's), so no process ever sees a
  // half-written model.
  static std::mutex mutex;
  static std::map<std::string, fs::path> made;
  std::lock_guard<std::mutex> lock(mutex);
  const std::string key = kind + (with_config ? "-config" : "");
  if (auto it = made.find(key); it != made.end()) return it->second;
  const std::string script = read_text(regionlm::test::source_dir() / "tests/sam/sam_reference.py");
  const fs::path cache = regionlm::test::scratch_dir("sam-probe").parent_path() / "sam-models" /
                         (key + "-" + std::to_string(std::hash<std::string>{}(script)));
  if (!fs::exists(cache / "sam.pth")) {
    const fs::path fresh = regionlm::test::scratch_dir("sam-model-" + key) / "model";
    std::vector<std::string> args = {"model", kind, fresh.string()};
    if (with_config) args.push_back("--config");
    regionlm::test::run_python("tests/sam/sam_reference.py", args);
    fs::create_directories(cache.parent_path());
    std::error_code lost_race;
    fs::rename(fresh, cache, lost_race);
    if (!fs::exists(cache / "sam.pth")) {  // could not be placed: use the private copy
      made[key] = fresh;
      return fresh;
    }
  }
  made[key] = cache;
  return cache;
}

std::pair<cv::Mat, fs::path> test_image(int height, int width, const std::string& name) {
  cv::Mat rgb(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      rgb.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>(40 + 120 * x / width),
                                          static_cast<uchar>(60 + 100 * y / height),
                                          static_cast<uchar>(90 + ((x * 7 + y * 3) % 40)));
    }
  }
  cv::circle(rgb, {width * 3 / 10, height * 4 / 10}, std::max(2, std::min(width, height) / 5),
             cv::Scalar(230, 40, 40), cv::FILLED);
  cv::rectangle(rgb, {width / 2, height / 2}, {width * 9 / 10, height * 9 / 10}, cv::Scalar(30, 200, 60),
                cv::FILLED);
  cv::ellipse(rgb, {width * 6 / 10, height / 4}, {std::max(2, width / 6), std::max(1, height / 10)}, 20, 0, 360,
              cv::Scalar(20, 20, 220), cv::FILLED);
  const fs::path file = regionlm::test::scratch_dir("sam-image-" + name) / (name + ".png");
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  if (!cv::imwrite(file.string(), bgr)) ADD_FAILURE() << "cannot write " << file;
  return {rgb, file};
}

double relative_error(const torch::Tensor& actual, const torch::Tensor& reference) {
  if (actual.sizes() != reference.sizes()) {
    ADD_FAILURE() << "shape mismatch: " << actual.sizes() << " vs " << reference.sizes();
    return std::numeric_limits<double>::infinity();
  }
  const auto a = actual.to(torch::kCPU, torch::kFloat32);
  const auto r = reference.to(torch::kCPU, torch::kFloat32);
  const double scale = std::max(r.abs().max().item<double>(), 1e-12);
  return (a - r).abs().max().item<double>() / scale;
}

MaskAgreement compare_masks(const torch::Tensor& mask, const torch::Tensor& reference_logits) {
  MaskAgreement out;
  if (mask.sizes() != reference_logits.sizes()) {
    ADD_FAILURE() << "mask shape " << mask.sizes() << " vs reference " << reference_logits.sizes();
    return out;
  }
  const auto m = mask.to(torch::kCPU).to(torch::kBool);
  const auto logits = reference_logits.to(torch::kCPU, torch::kFloat32);
  const auto differ = m.ne(logits > 0);
  out.equal_fraction = 1.0 - differ.to(torch::kFloat64).mean().item<double>();
  out.worst_margin = differ.any().item<bool>() ? logits.abs().masked_select(differ).max().item<double>() : 0.0;
  return out;
}

torch::Tensor to_tensor(const cv::Mat& image) {
  const cv::Mat c = image.isContinuous() ? image : image.clone();
  return torch::from_blob(c.data, {c.rows, c.cols, c.channels()}, torch::kUInt8).clone();
}

cv::Mat to_mat(const torch::Tensor& hwc) {
  const auto t = hwc.to(torch::kCPU).contiguous();
  return cv::Mat(static_cast<int>(t.size(0)), static_cast<int>(t.size(1)), CV_8UC(static_cast<int>(t.size(2))),
                 t.data_ptr())
      .clone();
}

}  // namespace regionlm::sam::test
