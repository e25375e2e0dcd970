// The GPU check's benchmark (scripts/gpu_check.sh runs it on a lent GPU): a
// random-weight model at the full Osprey-7B shapes (ConvNeXt-Large at 512 px,
// 1024 image tokens, LLaMA-7B decoder) in bfloat16, timed through the public
// API:
//   build + save  random weights made on the device, written as one safetensors
//   file load          Model::load of that directory onto the device vision
//   Model::encode of a 640 x 480 image (trunk + projector), median ms prefill
//   time to first token of a first question (system text + image + question)
//   second        time to first token of a second question about the same image
//   (prefix reused) decode        tokens/s of one answer of --new-tokens tokens
//   describe_each 8 regions of one image, one batch: wall ms and ms per decode
//   step
// then the same again with weight-only int8 (keys prefixed int8_; --no-int8
// skips it), and the device's peak memory. Results go to --out as JSON (and
// stdout).
// `--shape small` runs a 25 M-parameter model instead, so the program can be
// tried on a CPU.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#if defined(REGIONLM_WITH_CUDA)
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include "regionlm/model.hpp"
#include "regionlm/osprey.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string device = "cuda";                                      // where the model runs
  std::string dtype = "bfloat16";                                   // model dtype
  std::string shape = "osprey-7b";                                  // "osprey-7b" or "small"
  fs::path dir = fs::temp_directory_path() / "regionlm-gpu-check";  // scratch model directory
  fs::path out;                                                     // JSON results ("" = stdout only)
  int64_t new_tokens = 128;                                         // answer length for the decode rate
  int repeats = 5;                                                  // timed repetitions (median reported)
  bool int8 = true;                                                 // also measure with LoadOptions::quantize = "int8"
};

regionlm::OspreyConfig model_config(const std::string& shape, int64_t vocab) {
  regionlm::OspreyConfig c;  // defaults: Osprey-7B (LLaMA-7B, ConvNeXt-Large, 512 px)
  // The bundled tokenizer's vocabulary (514) rather than LLaMA's 32000: no 32k
  // tokenizer can be shipped, and generated ids must decode. embed_tokens +
  // lm_head then hold 4 M instead of 262 M parameters: each decode step
  // reads 13.0 GB instead of 13.5 GB (-4 %).
  c.text.vocab_size = vocab;
  c.text.max_position_embeddings = 4096;
  c.torch_dtype = "bfloat16";
  if (shape == "small") {
    c.text.hidden_size = 512;
    c.text.intermediate_size = 1376;
    c.text.num_hidden_layers = 8;
    c.text.num_attention_heads = 8;
    c.text.num_key_value_heads = 8;
    c.vision.depths = {1, 1, 1, 1};
    c.vision.dims = {32, 64, 128, 256};
    c.extractor.embed_dim = 256;
    c.mm_hidden_size = 128;
  } else if (shape != "osprey-7b") {
    throw std::invalid_argument("--shape: expected osprey-7b or small, got " + shape);
  }
  return c;
}

void synchronize(const torch::Device& device) {
#if defined(REGIONLM_WITH_CUDA)
  if (device.is_cuda()) torch::cuda::synchronize(device.index() < 0 ? 0 : device.index());
#endif
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

/// Resident memory of this process, MiB (Linux VmRSS).
double rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

nlohmann::json device_memory(const torch::Device& device) {
  nlohmann::json out = nlohmann::json::object();
  out["process_rss_mib"] = rss_mib();
#if defined(REGIONLM_WITH_CUDA)
  if (device.is_cuda()) {
    const int index = device.index() < 0 ? 0 : device.index();
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index);
    const auto all = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
    out["allocated_gib"] = static_cast<double>(stats.allocated_bytes[all].current) / (1 << 30);
    out["peak_allocated_gib"] = static_cast<double>(stats.allocated_bytes[all].peak) / (1 << 30);
    out["reserved_gib"] = static_cast<double>(stats.reserved_bytes[all].current) / (1 << 30);
  }
#endif
  return out;
}

void reset_peak(const torch::Device& device) {
#if defined(REGIONLM_WITH_CUDA)
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index() < 0 ? 0 : device.index());
#endif
}

/// A 640 x 480 RGB picture with eight coloured shapes, and a mask for each.
std::pair<cv::Mat, std::vector<regionlm::Region>> scene() {
  cv::Mat image(480, 640, CV_8UC3, cv::Scalar(235, 230, 220));
  std::vector<regionlm::Region> regions;
  for (int k = 0; k < 8; ++k) {
    cv::Mat mask = cv::Mat::zeros(image.size(), CV_8UC1);
    const cv::Point centre(80 + 160 * (k % 4), 120 + 240 * (k / 4));
    const cv::Scalar colour(40 + 25 * k, 200 - 20 * k, 60 + 17 * k);
    if (k % 2 == 0) {
      cv::circle(image, centre, 60, colour, cv::FILLED);
      cv::circle(mask, centre, 60, 255, cv::FILLED);
    } else {
      const cv::Rect box(centre.x - 55, centre.y - 70, 110, 140);
      cv::rectangle(image, box, colour, cv::FILLED);
      cv::rectangle(mask, box, 255, cv::FILLED);
    }
    regions.push_back(regionlm::Region::from_mask(mask));
  }
  return {image, regions};
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + ": missing value");
      return argv[++i];
    };
    if (arg == "--device")
      o.device = value();
    else if (arg == "--dtype")
      o.dtype = value();
    else if (arg == "--shape")
      o.shape = value();
    else if (arg == "--dir")
      o.dir = value();
    else if (arg == "--out")
      o.out = value();
    else if (arg == "--new-tokens")
      o.new_tokens = std::stoll(value());
    else if (arg == "--repeats")
      o.repeats = std::stoi(value());
    else if (arg == "--no-int8")
      o.int8 = false;
    else
      throw std::invalid_argument("unknown argument " + arg);
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) try {
  const Options o = parse(argc, argv);
  nlohmann::json results;
  const torch::Device device(o.device);
  results["device"] = o.device;
  results["dtype"] = o.dtype;
  results["shape"] = o.shape;
  results["torch"] = TORCH_VERSION;
#if defined(REGIONLM_WITH_CUDA)
  if (device.is_cuda()) results["gpu"] = at::cuda::getDeviceProperties(device.index() < 0 ? 0 : device.index())->name;
#endif
  auto report = [&](const std::string& key, const nlohmann::json& value) {
    results[key] = value;
    std::cout << key << ": " << value.dump() << std::endl;
  };

  // ---- random weights, made on the device and saved as a checkpoint
  // ----------------------
  const fs::path source = fs::path(REGIONLM_SOURCE_DIR) / "models" / "tiny-shapes";
  fs::create_directories(o.dir);
  for (const char* file : {"tokenizer.model", "added_tokens.json"}) {
    fs::copy_file(source / file, o.dir / file, fs::copy_options::overwrite_existing);
  }
  const regionlm::OspreyConfig config = model_config(o.shape, regionlm::load_osprey_config(source).text.vocab_size);
  {
    auto start = Clock::now();
    const auto dtype = o.dtype == "float32"   ? torch::kFloat32
                       : o.dtype == "float16" ? torch::kFloat16
                                              : torch::kBFloat16;
    regionlm::Osprey osprey(config, torch::TensorOptions().dtype(dtype).device(device));
    torch::NoGradGuard no_grad;
    torch::manual_seed(0);
    int64_t parameters = 0;
    for (auto& item : osprey->named_parameters()) {
      auto p = item.value();
      parameters += p.numel();
      if (p.dim() == 1) {
        item.key().ends_with(".bias") ? p.zero_() : p.fill_(1.0);
      } else {
        p.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(p[0].numel())));  // fan-in scaled
      }
    }
    synchronize(device);
    report("parameters", parameters);
    report("build_s", seconds_since(start));
    start = Clock::now();
    regionlm::save_osprey(osprey, o.dir);
    report("save_s", seconds_since(start));
    report("checkpoint_gib", static_cast<double>(fs::file_size(o.dir / "model.safetensors")) / (1 << 30));
  }

  // ---- load, then each measurement; once as saved and once with int8 weights
  // ---------------
  auto measure = [&](const std::string& quantize) {
    const std::string k = quantize.empty() ? "" : quantize + "_";
    auto report_k = [&](const std::string& key, const nlohmann::json& value) { report(k + key, value); };
    reset_peak(device);
    report_k("rss_before_load_mib", rss_mib());
    regionlm::LoadOptions load;
    load.device = o.device;
    load.dtype = o.dtype;
    load.quantize = quantize;
    auto start = Clock::now();
    const regionlm::Model model = regionlm::Model::load(o.dir, load);
    synchronize(device);
    report_k("load_s", seconds_since(start));
    report_k("memory_after_load", device_memory(device));

    const auto [image, regions] = scene();
    // ---- vision
    // ------------------------------------------------------------------------------
    std::vector<double> vision;
    for (int r = 0; r < o.repeats + 2; ++r) {
      start = Clock::now();
      const auto encoded = model.encode(image);
      synchronize(device);
      if (r >= 2) vision.push_back(1e3 * seconds_since(start));  // two warm-up runs
    }
    report_k("vision_ms", median(vision));

    // ---- time to first token: a first and a second question about one image
    // ------------------
    regionlm::GenerationOptions one;
    one.max_new_tokens = 1;
    std::vector<double> first, second, first_wall;
    int64_t prompt_tokens = 0;
    for (int r = 0; r < o.repeats + 1; ++r) {
      const auto encoded = model.encode(image);  // fresh: no prefix yet
      synchronize(device);
      start = Clock::now();
      const auto a = model.describe(encoded, {regions[0]}, "What is <region1>?", one);
      const double wall = 1e3 * seconds_since(start);
      const auto b = model.describe(encoded, {regions[1]}, "What color is <region1>?", one);
      if (r == 0) continue;  // warm-up
      first.push_back(a.timings.prefill_ms);
      first_wall.push_back(wall);
      second.push_back(b.timings.prefill_ms);
      prompt_tokens = a.timings.prompt_tokens;
    }
    report_k("prompt_tokens", prompt_tokens);
    report_k("first_ttft_ms", median(first));
    report_k("first_call_ms", median(first_wall));
    report_k("second_ttft_ms", median(second));

    // ---- decode rate
    // -----------------------------------------------------------------------------
    regionlm::GenerationOptions longer;
    longer.max_new_tokens = o.new_tokens;
    const auto encoded = model.encode(image);
    std::vector<double> rate, step;
    int64_t generated = 0;
    for (int r = 0; r < std::max(2, o.repeats / 2 + 1); ++r) {
      const auto a = model.describe(encoded, {regions[2]}, "Describe <region1> in detail.", longer);
      if (r == 0) continue;
      rate.push_back(a.timings.decode_tokens_per_second);
      step.push_back(a.timings.decode_ms / std::max<int64_t>(1, a.timings.generated_tokens - 1));
      generated = a.timings.generated_tokens;
    }
    report_k("decode_generated_tokens", generated);
    report_k("decode_tokens_per_s", median(rate));
    report_k("decode_step_ms", median(step));

    // ---- describe_each of 8 regions
    // ------------------------------------------------------------
    regionlm::GenerationOptions each;
    each.max_new_tokens = 32;
    std::vector<double> each_wall, each_step;
    reset_peak(device);
    for (int r = 0; r < 3; ++r) {
      start = Clock::now();
      const auto answers = model.describe_each(encoded, regions, "What is <region>?", each);
      synchronize(device);
      if (r == 0) continue;
      each_wall.push_back(1e3 * seconds_since(start));
      const auto& t = answers.front().timings;
      each_step.push_back(t.decode_ms / std::max<int64_t>(1, t.generated_tokens - 1));
    }
    report_k("describe_each_8_ms", median(each_wall));
    report_k("describe_each_8_step_ms", median(each_step));
    report_k("memory_describe_each_8", device_memory(device));
  };
  measure("");
  if (o.int8) measure("int8");

  if (!o.out.empty()) {
    std::ofstream(o.out) << results.dump(2) << "\n";
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "gpu_check: " << e.what() << "\n";
  return 1;
}
