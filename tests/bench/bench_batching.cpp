// Throughput of concurrent describe calls with continuous batching (LoadOptions::batch_rows)
// against the same calls one at a time and against plain threads without batching, on the
// mid-size checkpoint of scripts/bench_compare.sh (25 M-parameter decoder, 1024 image tokens).
// Every answer is checked against the sequential one. Plain timing; prints a table.
//
// usage: bench_batching DIR [--requests N] [--new-tokens T] [--threads N] [--images K]
//   DIR as written by `tests/bench/bench_compare_reference.py DIR --build`; N requests (default
//   16), each one region and one question, spread over K images (default 1: all about one
//   image; K > 1 uses mirrored and rotated copies, so that rows differ in their image prefix).
#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <opencv2/core.hpp>
#include <string>
#include <thread>
#include <vector>

#include "regionlm/error.hpp"
#include "bench_checkpoint.hpp"
#include "regionlm/model.hpp"
#include "regionlm/vision/image.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

const char* const kPrompt = "Please give me a short description of <region>. Using a short phrase.";

struct Setup {
  std::vector<cv::Mat> images;
  std::vector<regionlm::Region> regions;
  regionlm::GenerationOptions options;
  int requests = 16;
};

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// Runs every request (one thread each when `threads`), returns (seconds, tokens per request).
std::pair<double, std::vector<std::vector<int64_t>>> run(const regionlm::Model& model, const Setup& s, bool threads) {
  std::vector<regionlm::EncodedImage> encoded;
  for (const cv::Mat& image : s.images) encoded.push_back(model.encode(image));
  for (const auto& e : encoded) model.describe(e, {s.regions[0]}, kPrompt, s.options);  // prefixes made, warm
  std::vector<std::vector<int64_t>> tokens(static_cast<size_t>(s.requests));
  const auto one = [&](int i) {
    tokens[static_cast<size_t>(i)] =
        model.describe(encoded[static_cast<size_t>(i) % encoded.size()], {s.regions[static_cast<size_t>(i) % s.regions.size()]},
                       kPrompt, s.options)
            .tokens;
  };
  const auto t0 = Clock::now();
  if (threads) {
    std::vector<std::thread> pool;
    for (int i = 0; i < s.requests; ++i) pool.emplace_back(one, i);
    for (auto& t : pool) t.join();
  } else {
    for (int i = 0; i < s.requests; ++i) one(i);
  }
  return {seconds_since(t0), tokens};
}

int main_impl(int argc, char** argv) {
  if (argc < 2) throw regionlm::ArgumentError("usage: bench_batching DIR [--requests N] [--new-tokens T] [--threads N] [--images K]");
  const fs::path dir = argv[1];
  Setup s;
  s.options.max_new_tokens = 16;
  int images = 1, torch_threads = 0;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int value = std::stoi(argv[i + 1]);
    if (flag == "--requests") {
      s.requests = value;
    } else if (flag == "--new-tokens") {
      s.options.max_new_tokens = value;
    } else if (flag == "--threads") {
      torch_threads = value;
    } else if (flag == "--images") {
      images = value;
    } else {
      throw regionlm::ArgumentError("bench_batching: unknown option " + flag);
    }
  }
  if (torch_threads > 0) torch::set_num_threads(torch_threads);
  const cv::Mat scene = regionlm::vision::load_image(dir / "scene.png");
  for (int k = 0; k < images; ++k) {
    cv::Mat variant = scene.clone();
    if (k % 2 == 1) cv::flip(variant, variant, 1);
    if (k >= 2) cv::rotate(variant, variant, cv::ROTATE_180);
    if (k >= 4) variant = variant * (1.0 - 0.05 * k);  // darker copies beyond four
    s.images.push_back(variant);
  }
  s.regions = regionlm::bench::scene_regions(dir);
  regionlm::LoadOptions load;
  load.device = "cpu";
  load.dtype = "float32";
  const regionlm::Model plain = regionlm::Model::load(dir / "osprey", load);
  load.batch_rows = s.requests;
  const regionlm::Model batched = regionlm::Model::load(dir / "osprey", load);

  const auto [t_seq, seq] = run(plain, s, false);
  const auto [t_threads, thr] = run(plain, s, true);
  const auto [t_batch, bat] = run(batched, s, true);
  const auto stats = batched.batch_stats();
  std::cout << s.requests << " requests (1 region, " << s.options.max_new_tokens << " new tokens) over " << images
            << " image(s), torch threads " << torch::get_num_threads() << "\n\n"
            << "| mode | seconds | requests/s | vs one at a time | answers equal |\n|---|---:|---:|---:|:---:|\n";
  const auto row = [&](const char* name, double t, const std::vector<std::vector<int64_t>>& tokens) {
    std::cout << "| " << name << " | " << t << " | " << s.requests / t << " | " << t_seq / t << "x | "
              << (tokens == seq ? "yes" : "NO") << " |\n";
  };
  row("one at a time", t_seq, seq);
  row("threads, no batching", t_threads, thr);
  row("threads, batch_rows = requests", t_batch, bat);
  std::cout << "\nbatch: " << stats.steps << " decode steps, " << static_cast<double>(stats.row_steps) / stats.steps
            << " rows per step on average, " << stats.largest_step << " at most\n";
  return bat == seq ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return main_impl(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "bench_batching: " << e.what() << "\n";
    return 1;
  }
}
