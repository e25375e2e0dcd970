// describe_each on a mid-size Osprey: one question asked of K = 1 .. 64 regions of one image,
// decoded as one batch over the image prefix (system text + 1024 image tokens) stored once.
// Reports, per K: wall time of the call, time per decode step, the call's peak resident
// memory (VmHWM, reset before each run). BM_DescribeEach asks about a freshly encoded image
// (the call also makes the image's prefix, as a first question does; the measure);
// BM_DescribeEachAgain asks about an image whose prefix an earlier call made.
// REGIONLM_BENCH_PLAIN_WEIGHTS=1 loads with LoadOptions::pack_cpu_weights = false.
//
// The model is built from seeded random weights (decoder hidden 512, 8 layers, 8 heads, MLP
// 1376: 25 M parameters; ConvNeXt 32..256 channels at 512 px -> 32 x 32 image tokens) with the
// bundled tiny-shapes tokenizer, written to a scratch directory and loaded with Model::load.
// Threads: $REGIONLM_BENCH_THREADS or LibTorch's default.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "regionlm/model.hpp"
#include "regionlm/osprey.hpp"

namespace fs = std::filesystem;

namespace {

constexpr int64_t kNewTokens = 16;  // answer length (no EOS with these weights: rows run to the limit)

regionlm::OspreyConfig bench_config(int64_t vocab) {
  regionlm::OspreyConfig c;
  c.text.vocab_size = vocab;
  c.text.hidden_size = 512;
  c.text.intermediate_size = 1376;
  c.text.num_hidden_layers = 8;
  c.text.num_attention_heads = 8;
  c.text.num_key_value_heads = 8;
  c.text.max_position_embeddings = 2048;
  c.text.rms_norm_eps = 1e-5;
  c.vision.depths = {1, 1, 1, 1};
  c.vision.dims = {32, 64, 128, 256};
  c.vision.image_size = 512;
  c.vision.token_level = 2;  // res4: 32 x 32 tokens at 512 px, as Osprey-7B
  c.extractor.embed_dim = 256;
  c.extractor.mask_shape = 112;
  c.mm_hidden_size = 128;
  c.torch_dtype = "float32";
  return c;
}

/// The model directory, written once per process.
const regionlm::Model& bench_model() {
  static const regionlm::Model model = [] {
    if (const char* env = std::getenv("REGIONLM_BENCH_THREADS"); env && *env) torch::set_num_threads(std::atoi(env));
    const fs::path source = fs::path(REGIONLM_SOURCE_DIR) / "models" / "tiny-shapes";
    const fs::path dir = fs::temp_directory_path() / "regionlm-bench-describe-each";
    fs::create_directories(dir);
    for (const char* file : {"tokenizer.model", "added_tokens.json"}) {
      fs::copy_file(source / file, dir / file, fs::copy_options::overwrite_existing);
    }
    const int64_t vocab = regionlm::load_osprey_config(source).text.vocab_size;
    regionlm::Osprey osprey(bench_config(vocab), torch::TensorOptions().dtype(torch::kFloat32));
    torch::NoGradGuard no_grad;
    torch::manual_seed(0);
    for (auto& item : osprey->named_parameters()) {
      auto p = item.value();
      if (p.dim() == 1) {
        item.key().ends_with(".bias") ? p.zero_() : p.fill_(1.0);
      } else {
        p.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(p[0].numel())));  // fan-in scaled
      }
    }
    regionlm::save_osprey(osprey, dir);
    regionlm::LoadOptions options;
    options.device = "cpu";
    // A/B switch for docs/performance.md: REGIONLM_BENCH_PLAIN_WEIGHTS=1 loads without oneDNN's layout.
    if (const char* env = std::getenv("REGIONLM_BENCH_PLAIN_WEIGHTS"); env && *env == '1') options.pack_cpu_weights = false;
    return regionlm::Model::load(dir, options);
  }();
  return model;
}

/// Peak resident memory since the last reset, MiB (Linux VmHWM).
double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

/// One describe_each call of K = state.range(0) regions. `first_question`: on a freshly
/// encoded image, so that the call also makes the image's prefix (system text + image
/// tokens), as the first question about an image does (encoding itself is not timed);
/// otherwise the same image each time, whose prefix the first run made and later ones reuse.
void describe_each_run(benchmark::State& state, bool first_question) {
  const regionlm::Model& model = bench_model();
  const fs::path path = fs::path(REGIONLM_SOURCE_DIR) / "examples/data/tiny-shapes-scene/image.png";
  auto image = model.encode(path);
  const int64_t regions_count = state.range(0);
  std::vector<regionlm::Region> regions;
  for (int64_t r = 0; r < regions_count; ++r) {
    const int x = static_cast<int>(8 * (r % 8)), y = static_cast<int>(24 * (r / 8));
    regions.push_back(regionlm::Region::from_box(x, y, x + 120, y + 60));
  }
  regionlm::GenerationOptions options;
  options.max_new_tokens = kNewTokens;
  double decode_ms = 0, prefill_ms = 0, peak = 0;
  for (auto _ : state) {
    if (first_question) {
      state.PauseTiming();
      image = model.encode(path);
      state.ResumeTiming();
    }
    reset_peak_rss();
    const auto answers = model.describe_each(image, regions, "What is <region>?", options);
    peak = std::max(peak, peak_rss_mib());
    decode_ms += answers.front().timings.decode_ms / std::max<int64_t>(1, answers.front().timings.generated_tokens - 1);
    prefill_ms += answers.front().timings.prefill_ms;
    benchmark::DoNotOptimize(answers);
  }
  const auto runs = static_cast<double>(state.iterations());
  state.counters["decode_step_ms"] = decode_ms / runs;
  state.counters["prefill_ms"] = prefill_ms / runs;
  state.counters["peak_rss_MiB"] = peak;
  state.counters["prompt_positions"] = static_cast<double>(model.layout("What is <region>?", 1).length);
}

void BM_DescribeEach(benchmark::State& state) { describe_each_run(state, /*first_question=*/true); }
void BM_DescribeEachAgain(benchmark::State& state) { describe_each_run(state, /*first_question=*/false); }

/// Time to first token of the first and of a later question about one image (the image's
/// system-text + image prefix is computed at the first question and reused after it).
void BM_SecondQuestion(benchmark::State& state) {
  const regionlm::Model& model = bench_model();
  const auto path = fs::path(REGIONLM_SOURCE_DIR) / "examples/data/tiny-shapes-scene/image.png";
  regionlm::GenerationOptions options;
  options.max_new_tokens = 1;
  const std::vector<regionlm::Region> region{regionlm::Region::from_box(10, 10, 120, 90)};
  double first = 0, second = 0;
  for (auto _ : state) {
    const auto image = model.encode(path);  // a fresh image: no prefix yet
    first += model.describe(image, region, "What is <region>?", options).timings.prefill_ms;
    second += model.describe(image, region, "What color is <region>?", options).timings.prefill_ms;
  }
  const auto runs = static_cast<double>(state.iterations());
  state.counters["first_ttft_ms"] = first / runs;
  state.counters["second_ttft_ms"] = second / runs;
  state.counters["ratio"] = second / first;
}

}  // namespace

BENCHMARK(BM_SecondQuestion)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_DescribeEach)->Arg(1)->Arg(2)->Arg(4)->Arg(8)->Arg(16)->Arg(32)->Arg(64)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_DescribeEachAgain)->Arg(1)->Arg(16)->Arg(64)->Unit(benchmark::kMillisecond)->Iterations(3);

BENCHMARK_MAIN();
