// Vision encoder timings on one 512x512 image: Osprey preprocessing of a 1920x1080 photo,
// the ConvNeXt-Large trunk (float32 and bfloat16) and the mlp2x_gelu projector.
//
// Weights: $REGIONLM_BENCH_VISION_WEIGHTS (an open_clip/Osprey checkpoint with
// `visual.trunk.*` keys, e.g. the file bench_vision_torch.py --save writes) or seeded random
// values. Threads: $REGIONLM_BENCH_THREADS or LibTorch's default; pass the same number to
// bench_vision_torch.py for the PyTorch eager comparison.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstdlib>
#include <opencv2/core.hpp>

#include "regionlm/config.hpp"
#include "regionlm/io/module_loader.hpp"
#include "regionlm/io/weights.hpp"
#include "regionlm/vision/convnext.hpp"
#include "regionlm/vision/preprocess.hpp"
#include "regionlm/vision/projector.hpp"
#include "regionlm/osprey.hpp"

namespace {

using regionlm::vision::ConvNeXt;
using regionlm::vision::Projector;

constexpr int64_t kProjectorOut = 4096;  // Vicuna-7B hidden size

void configure_threads() {
  if (const char* env = std::getenv("REGIONLM_BENCH_THREADS"); env && *env) {
    torch::set_num_threads(std::atoi(env));
  }
}

// Random but well-scaled parameters: fan-in normalised weights, gamma in [0.1, 1].
void randomise(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  for (auto& item : module.named_parameters()) {
    auto p = item.value();
    const std::string& name = item.key();
    if (name.size() >= 5 && name.compare(name.size() - 5, 5, "gamma") == 0) {
      p.uniform_(0.1, 1.0);
    } else if (p.dim() == 1) {
      p.normal_(0.0, 0.02);
    } else {
      p.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(p[0].numel())));
    }
  }
}

ConvNeXt make_trunk(torch::ScalarType dtype) {
  ConvNeXt trunk(regionlm::VisionConfig{}, torch::TensorOptions().dtype(dtype));
  if (const char* path = std::getenv("REGIONLM_BENCH_VISION_WEIGHTS"); path && *path) {
    regionlm::load_module(*trunk, regionlm::load_weights(path), regionlm::osprey_keys::kClipTrunk);
  } else {
    randomise(*trunk);
  }
  return trunk;
}

torch::Tensor random_pixels() {
  torch::manual_seed(1);
  return torch::randn({1, 3, 512, 512});  // [1, 3, 512, 512]
}

void BM_Preprocess1080p(benchmark::State& state) {
  configure_threads();
  cv::Mat photo(1080, 1920, CV_8UC3);
  cv::randu(photo, 0, 256);
  const regionlm::VisionConfig cfg;
  for (auto _ : state) {
    benchmark::DoNotOptimize(regionlm::vision::preprocess(photo, cfg, torch::TensorOptions()));
  }
}

void BM_ConvNeXtLarge512(benchmark::State& state, torch::ScalarType dtype) {
  configure_threads();
  c10::InferenceMode inference;
  auto trunk = make_trunk(dtype);
  const auto pixels = random_pixels();
  trunk->forward(pixels);  // warm-up: oneDNN primitive creation, allocator
  for (auto _ : state) {
    auto outputs = trunk->forward(pixels);
    benchmark::DoNotOptimize(outputs.back().data_ptr());
  }
  state.counters["threads"] = torch::get_num_threads();
}

void BM_ProjectorRes4(benchmark::State& state, torch::ScalarType dtype) {
  configure_threads();
  c10::InferenceMode inference;
  Projector projector("mlp2x_gelu", 768, kProjectorOut, torch::TensorOptions().dtype(dtype));
  randomise(*projector);
  const auto res4 = torch::randn({1, 768, 32, 32});  // [1, 768, 32, 32]
  projector->forward(res4);
  for (auto _ : state) {
    benchmark::DoNotOptimize(projector->forward(res4).data_ptr());
  }
  state.counters["threads"] = torch::get_num_threads();
}

BENCHMARK(BM_Preprocess1080p)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ConvNeXtLarge512, float32, torch::kFloat32)
    ->Unit(benchmark::kMillisecond)
    ->MinTime(5.0)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_ConvNeXtLarge512, bfloat16, torch::kBFloat16)
    ->Unit(benchmark::kMillisecond)
    ->MinTime(5.0)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_ProjectorRes4, float32, torch::kFloat32)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_ProjectorRes4, bfloat16, torch::kBFloat16)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
