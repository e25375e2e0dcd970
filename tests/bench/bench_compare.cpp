// The library's side of scripts/bench_compare.sh: the workloads of bench_compare_reference.py
// on the same checkpoint, each the way a user of the library runs it (one EncodedImage per
// workload; describe_each for several regions; the stored image prefix for further questions;
// a ChatSession for the chat). Plain timing (no Google Benchmark): one JSON object on stdout.
//
// usage: bench_compare DIR [--threads N] [--repeats R] [--new-tokens T]
//   DIR as written by `bench_compare_reference.py DIR --build`.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "regionlm/chat.hpp"
#include "regionlm/error.hpp"
#include "bench_checkpoint.hpp"
#include "regionlm/model.hpp"
#include "regionlm/region/region.hpp"

namespace fs = std::filesystem;
using Tokens = std::vector<std::vector<int64_t>>;

namespace {

// The questions of bench_compare_reference.py, in the library's placeholder form.
const char* const kShort = "Please give me a short description of <region>. Using a short phrase.";
const std::vector<std::string> kQuestions = {kShort, "What is the color of <region>? Answer briefly.",
                                             "Where is <region> in the picture?"};
const std::vector<std::string> kChat = {"Is <region1> left of <region2>?",
                                        "What is in <region2>? Using a short phrase.", "And what is <region1>?"};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

/// Peak resident memory of the process, MiB (Linux VmHWM).
double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
  }
  return 0;
}

struct Bench {
  const regionlm::Model& model;
  fs::path image;
  std::vector<regionlm::Region> regions;  // the scene's masks (bench_checkpoint.hpp)
  regionlm::GenerationOptions options;

  Tokens one_region() const {
    const regionlm::EncodedImage encoded = model.encode(image);
    return {model.describe(encoded, {regions[0]}, kShort, options).tokens};
  }
  Tokens eight_regions() const {
    const regionlm::EncodedImage encoded = model.encode(image);
    Tokens out;
    for (const auto& a : model.describe_each(encoded, regions, kShort, options)) out.push_back(a.tokens);
    return out;
  }
  Tokens three_questions() const {
    const regionlm::EncodedImage encoded = model.encode(image);
    Tokens out;
    for (const auto& q : kQuestions) out.push_back(model.describe(encoded, {regions[0]}, q, options).tokens);
    return out;
  }
  Tokens chat() const {
    const regionlm::EncodedImage encoded = model.encode(image);
    regionlm::ChatSession session = model.chat(encoded, {regions[0], regions[1]});
    Tokens out;
    for (const auto& q : kChat) out.push_back(session.ask(q, options).tokens);
    return out;
  }
};

int run(int argc, char** argv) {
  if (argc < 2) throw regionlm::ArgumentError("usage: bench_compare DIR [--threads N] [--repeats R] [--new-tokens T]");
  const fs::path dir = argv[1];
  int threads = 0, repeats = 3, new_tokens = 16;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int value = std::stoi(argv[i + 1]);
    if (flag == "--threads") {
      threads = value;
    } else if (flag == "--repeats") {
      repeats = value;
    } else if (flag == "--new-tokens") {
      new_tokens = value;
    } else {
      throw regionlm::ArgumentError("bench_compare: unknown option " + flag);
    }
  }
  if (threads > 0) torch::set_num_threads(threads);

  const auto t0 = std::chrono::steady_clock::now();
  regionlm::LoadOptions load;
  load.device = "cpu";
  load.dtype = "float32";  // the reference runs float32 as well
  const regionlm::Model model = regionlm::Model::load(dir / "osprey", load);
  const double load_ms = ms_since(t0);

  Bench bench{model, dir / "scene.png", {}, {}};
  bench.regions = regionlm::bench::scene_regions(dir);
  bench.options.max_new_tokens = new_tokens;
  bench.one_region();  // warm-up, as the reference does

  nlohmann::json result = {{"side", "regionlm"},
                           {"threads", torch::get_num_threads()},
                           {"new_tokens", new_tokens},
                           {"load_ms", load_ms}};
  const std::vector<std::pair<std::string, Tokens (Bench::*)() const>> workloads = {
      {"one_region", &Bench::one_region},
      {"eight_regions", &Bench::eight_regions},
      {"three_questions", &Bench::three_questions},
      {"chat", &Bench::chat}};
  for (const auto& [name, fn] : workloads) {
    std::vector<double> times;
    Tokens tokens;
    for (int r = 0; r < repeats; ++r) {
      const auto start = std::chrono::steady_clock::now();
      tokens = (bench.*fn)();
      times.push_back(ms_since(start));
    }
    std::vector<double> sorted = times;
    std::sort(sorted.begin(), sorted.end());
    const double median = sorted[sorted.size() / 2];
    result["workloads"][name] = {{"ms", median}, {"all_ms", times}, {"tokens", tokens}};
    std::cerr << "regionlm " << name << ": " << static_cast<int>(median) << " ms\n";
  }
  result["peak_rss_mib"] = peak_rss_mib();
  std::cout << result.dump() << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "bench_compare: " << e.what() << "\n";
    return 1;
  }
}
