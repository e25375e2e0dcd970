#include "sam_trainer.hpp"

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <future>
#include <numeric>
#include <optional>
#include <thread>
#include <tuple>

#include "manifest.hpp"
#include "regionlm/error.hpp"
#include "regionlm/io/module_loader.hpp"
#include "regionlm/io/weights.hpp"
#include "regionlm/sam/image_encoder.hpp"
#include "regionlm/sam/mask_decoder.hpp"
#include "regionlm/sam/prompt_encoder.hpp"
#include "regionlm/sam/sam.hpp"
#include "regionlm/sam/transforms.hpp"
#include "sam_evaluation.hpp"
#include "scene.hpp"
#include "trainer.hpp"

namespace fs = std::filesystem;

namespace regionlm::tiny_shapes {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

std::string format(const char* fmt, double a, double b = 0, double c = 0, double d = 0, double e = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, fmt, a, b, c, d, e);
  return buf;
}

// Training scenes of the segmenter come from their own block of training seeds, apart from
// the Osprey trainer's (which counts up from index 0 of the same seed).
constexpr uint32_t kSceneIndexBase = 0x80000000u;

// Mask loss = kBceWeight * per-pixel binary cross-entropy + Dice (SAM uses focal + Dice; on
// these small, clean scenes plain cross-entropy converges faster at the same accuracy).
constexpr double kBceWeight = 2.0;

// Box jitter: each corner moves by noise * kBoxJitter * box side, at most kBoxJitterMax px
// (SAM: 10 % of the side, at most 20 px, on 1024 px images).
constexpr double kBoxJitter = 0.06;
constexpr double kBoxJitterMax = 6.0;

// The modules being trained (the inference classes themselves).
struct TinySam {
  sam::ImageEncoderVit encoder{nullptr};
  sam::PromptEncoder prompt{nullptr};
  sam::MaskDecoder decoder{nullptr};

  std::vector<torch::Tensor> parameters() const {
    std::vector<torch::Tensor> out;
    for (const torch::nn::Module* m : std::initializer_list<const torch::nn::Module*>{
             encoder.get(), prompt.get(), decoder.get()}) {
      for (const auto& p : m->parameters()) out.push_back(p);
    }
    return out;
  }
};

// PyTorch's default initialisation (uniform +-1/sqrt(fan_in)) for linear and convolution
// weights, N(0, 1) for embedding tables (nn.Embedding's), zero biases and relative position
// tables (SAM's), unit norms, N(0, 0.02) for the absolute position embedding and N(0, 1) for
// the prompt encoder's random Fourier matrix (SAM's scale 1).
void initialize_sam(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor t = item.value();
    if (name.ends_with("rel_pos_h") || name.ends_with("rel_pos_w")) {
      t.zero_();
    } else if (name.ends_with("pos_embed")) {
      t.normal_(0.0, 0.02);
    } else if (t.dim() >= 2) {
      const int64_t fan_in = t.size(1) * (t.dim() == 4 ? t.size(2) * t.size(3) : 1);
      const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
      t.uniform_(-bound, bound);
    } else if (name.ends_with("bias")) {
      t.zero_();
    } else {
      t.fill_(1.0);
    }
  }
  for (auto& item : module.named_modules()) {
    if (auto* table = dynamic_cast<sam::EmbeddingImpl*>(item.value().get())) table->weight.normal_(0.0, 1.0);
  }
  for (auto& item : module.named_buffers()) {
    if (item.key().ends_with("positional_encoding_gaussian_matrix")) item.value().normal_(0.0, 1.0);
  }
}

double learning_rate(double peak, int steps, int step) {
  const int warmup = std::max(1, std::min(100, steps / 10));
  const double ramp = std::min(1.0, static_cast<double>(step + 1) / warmup);
  const double progress = static_cast<double>(step) / std::max(1, steps);
  return peak * ramp * (0.05 + 0.95 * 0.5 * (1 + std::cos(M_PI * progress)));
}

// One training scene in the encoder's input frame.
struct FramedScene {
  torch::Tensor pixels;              // [1, 3, S, S] normalised and padded, as Sam::encode
  std::vector<cv::Mat1b> targets;    // each object's visible pixels in the input frame (0/1, S x S)
  std::vector<cv::Mat1f> coverage;   // share of each input-frame pixel the object covers (0..1, S x S)
  std::vector<int> colors, shapes;   // each object's colour and shape (tiny_shapes enums)
  cv::Mat1b background;              // pixels of no object (1), S x S
};

FramedScene frame_scene(const Scene& scene, int64_t image_size) {
  FramedScene f;
  const cv::Mat rgb = scene.image;
  const cv::Mat resized = sam::resize_longest_side(rgb, image_size);  // what Sam::encode does
  f.pixels = sam::normalize_and_pad(resized, image_size, torch::TensorOptions().dtype(torch::kFloat32));
  const int S = static_cast<int>(image_size);
  cv::Mat1b any = cv::Mat1b::zeros(S, S);
  for (const SceneObject& o : scene.objects) {
    // The loss learns the share of each input pixel the object covers (a resized scene's
    // boundary pixels are mixed, as their colours are); clicks and IoUs use the pixels covered
    // at least half.
    cv::Mat1f share = cv::Mat1f::zeros(S, S);
    cv::Mat1f full;
    o.mask.convertTo(full, CV_32F);
    if (resized.size() == o.mask.size()) {
      full.copyTo(share(cv::Rect(0, 0, full.cols, full.rows)));
    } else {
      cv::Mat1f area;
      cv::resize(full, area, resized.size(), 0, 0, cv::INTER_AREA);
      area.copyTo(share(cv::Rect(0, 0, area.cols, area.rows)));
    }
    cv::Mat1b target = (share > 0.5f) / 255;
    any |= target;
    f.targets.push_back(target);
    f.coverage.push_back(share);
    f.colors.push_back(static_cast<int>(o.color));
    f.shapes.push_back(static_cast<int>(o.shape));
  }
  // Background: inside the resized image, outside every object (padding is not a place to click).
  f.background = cv::Mat1b::zeros(S, S);
  f.background(cv::Rect(0, 0, resized.cols, resized.rows)).setTo(1);
  f.background.setTo(0, any);
  return f;
}

// A pixel drawn uniformly from the non-zero pixels of `mask` (x, y); (-1, -1) when empty.
cv::Point random_pixel(const cv::Mat1b& mask, Random& rng) {
  std::vector<cv::Point> pixels;
  cv::findNonZero(mask, pixels);
  if (pixels.empty()) return {-1, -1};
  return pixels[static_cast<size_t>(rng.integer(0, static_cast<int>(pixels.size()) - 1))];
}

// Stage 1's head, thrown away afterwards: from each image-embedding token a linear map to the
// classes of the (L / e)^2 low-resolution cells under it: colour + 1 and shape + 1 of the
// object covering the cell (0 = background) and whether the cell holds an object boundary.
// Per-cell supervision teaches the encoder what lies where inside each patch, which the mask
// decoder's upscaler then reads; SAM starts from an MAE-pretrained encoder for the same reason.
// With pixel pretraining, `pixel` also reads the colour of every low-resolution cell from the
// decoder's own upscaled features (the unprompted decoder's image tokens through
// output_upscaling): a mask is a linear function of those features, so colours that are
// linearly apart there are what lets a mask stop at the edge of the clicked object.
class DenseHeadImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kClasses = (kNumColors + 1) + (kNumShapes + 1) + 2;
  DenseHeadImpl(int64_t width, int64_t cells_per_side) : cells_(cells_per_side) {
    linear = register_module("linear", torch::nn::Linear(width, cells_ * cells_ * kClasses));
    pixel = register_module("pixel", torch::nn::Linear(width / 8, kNumColors + 1));
    same_object = register_module("same_object", torch::nn::Linear(width / 8, 1));
  }
  // embedding [B, P, e, e] -> logits [B, L, L, kClasses], L = e * cells.
  torch::Tensor forward(const torch::Tensor& embedding) {
    const int64_t B = embedding.size(0), e = embedding.size(2);
    return linear(embedding.permute({0, 2, 3, 1}))
        .view({B, e, e, cells_, cells_, kClasses})
        .permute({0, 1, 3, 2, 4, 5})
        .reshape({B, e * cells_, e * cells_, kClasses});
  }
  torch::nn::Linear linear{nullptr};
  torch::nn::Linear pixel{nullptr};  // upscaled features [.., P / 8] -> colour + 1
  torch::nn::Linear same_object{nullptr};  // product of two cells' upscaled features -> one object?

 private:
  int64_t cells_;
};
TORCH_MODULE(DenseHead);

// Stage 1 targets on the L x L cell grid of the input frame: [B, L, L] int64 each: colour + 1,
// shape + 1, boundary, and the object at the cell's centre (index + 1, 0 = background).
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor> dense_targets(const std::vector<FramedScene>& scenes,
                                                                      int64_t L) {
  const int64_t B = static_cast<int64_t>(scenes.size());
  torch::Tensor color = torch::zeros({B, L, L}, torch::kInt64), shape = torch::zeros({B, L, L}, torch::kInt64),
                edge = torch::zeros({B, L, L}, torch::kInt64), object = torch::zeros({B, L, L}, torch::kInt64);
  auto c = color.accessor<int64_t, 3>();
  auto n = object.accessor<int64_t, 3>();
  auto h = shape.accessor<int64_t, 3>();
  auto g = edge.accessor<int64_t, 3>();
  for (int64_t b = 0; b < B; ++b) {
    const FramedScene& f = scenes[static_cast<size_t>(b)];
    const int S = f.background.rows, k = static_cast<int>(S / L);
    cv::Mat1b label = cv::Mat1b::zeros(S, S);  // object index + 1
    for (size_t o = 0; o < f.targets.size(); ++o) label.setTo(static_cast<uint8_t>(o + 1), f.targets[o]);
    for (int i = 0; i < L; ++i) {
      for (int j = 0; j < L; ++j) {
        const cv::Mat1b cell = label(cv::Rect(j * k, i * k, k, k));
        double lo = 0, hi = 0;
        cv::minMaxLoc(cell, &lo, &hi);
        const int centre = cell(k / 2, k / 2);
        n[b][i][j] = centre;
        if (centre > 0) {
          c[b][i][j] = f.colors[static_cast<size_t>(centre - 1)] + 1;
          h[b][i][j] = f.shapes[static_cast<size_t>(centre - 1)] + 1;
        }
        g[b][i][j] = lo != hi;
      }
    }
  }
  return {color, shape, edge, object};
}

// Offsets (dy, dx) of the cell pairs the instance pretraining compares, in low-res cells.
constexpr std::array<std::array<int64_t, 2>, 8> kPairOffsets{
    {{0, 1}, {1, 0}, {0, 2}, {2, 0}, {0, 4}, {4, 0}, {2, 2}, {3, -3}}};
// Weight of the pairs that cross from one object to another (few, and the ones that matter).
constexpr double kCrossPairWeight = 4.0;

// Share of each of the L x L cells covered by each colour (index colour + 1) and by no object
// (index 0): [B, L, L, colours + 1], rows summing to 1. Boundary cells of a resized scene are
// mixed, as their pixels' colours are.
torch::Tensor colour_shares(const std::vector<FramedScene>& scenes, int64_t L) {
  const int64_t B = static_cast<int64_t>(scenes.size());
  torch::Tensor shares = torch::zeros({B, L, L, kNumColors + 1}, torch::kFloat32);
  auto a = shares.accessor<float, 4>();
  for (int64_t b = 0; b < B; ++b) {
    const FramedScene& f = scenes[static_cast<size_t>(b)];
    for (size_t o = 0; o < f.coverage.size(); ++o) {
      cv::Mat1f cell;
      cv::resize(f.coverage[o], cell, cv::Size(static_cast<int>(L), static_cast<int>(L)), 0, 0, cv::INTER_AREA);
      const int64_t c = f.colors[o] + 1;
      for (int i = 0; i < L; ++i) {
        for (int j = 0; j < L; ++j) a[b][i][j][c] += cell(i, j);
      }
    }
    for (int i = 0; i < L; ++i) {
      for (int j = 0; j < L; ++j) {
        float sum = 0;
        for (int64_t c = 1; c <= kNumColors; ++c) sum += a[b][i][j][c];
        if (sum > 1) {
          for (int64_t c = 1; c <= kNumColors; ++c) a[b][i][j][c] /= sum;
          sum = 1;
        }
        a[b][i][j][0] = 1 - sum;
      }
    }
  }
  return shares;
}

// One object (or background click) followed through the rounds.
struct Row {
  int image = 0;                  // index into the step's scenes
  int target = -1;                // index into targets; -1 = background click (empty target)
  bool box_start = false;         // round 0 prompt is a box (else one point)
  std::array<double, 4> box{};    // jittered box, input frame px
  std::vector<cv::Point> points;  // clicks so far, input frame px
  std::vector<int> labels;        // 1 positive, 0 negative
};

struct RoundResult {
  torch::Tensor loss;       // scalar
  torch::Tensor chosen;     // [R, 1, L, L] detached low-res logits passed to the next round
  torch::Tensor predicted;  // [R, S, S] bool (CPU): the chosen mask upscaled, > 0
  double chosen_iou = 0;    // mean IoU of the chosen masks of the objects
};

class SamTrainer {
 public:
  // A step's loss on some scenes, its prompts drawn from the Random; a sharded step passes
  // every part the same draw for whether it takes a corrective round (unset: the part draws
  // it from the Random); the double receives a figure to report (round 0's IoU).
  using LossOf = std::function<torch::Tensor(const std::vector<FramedScene>&, Random&, std::optional<double>, double&)>;

  // `workers`: threads computing a step's parts when options.shards > 1.
  SamTrainer(const SamTrainOptions& options, TinySam& model, const sam::SamConfig& config, int workers)
      : o_(options), model_(model), config_(config), rng_(options.seed * 0x9E3779B97F4A7C15ULL + 3),
        shards_(options.shards), workers_(std::max(1, workers)) {
    torch::NoGradGuard no_grad;
    dense_pe_ = model_.prompt->dense_positional_encoding();  // [1, P, e, e]; the Fourier matrix is fixed
  }

  // Continues `other`'s prompt sampling and scene sequence (a later stage at another input
  // size draws the scenes that follow, not the same ones again).
  void continue_from(const SamTrainer& other) {
    if (other.queued_.valid()) throw ArgumentError("SamTrainer::continue_from: the other trainer has queued scenes");
    rng_ = other.rng_;
    next_scene_ = other.next_scene_;
  }

  // Starts drawing the next step's `count` scenes on a worker thread, so that they are ready
  // when the step begins (drawing them is a tenth of a 64 px step). Which scenes are drawn is
  // decided here, from rng_, so the run does not depend on the threads' timing.
  void queue_scenes(int count) {
    if (queued_.valid()) throw ArgumentError("SamTrainer::queue_scenes: the queued scenes were not used");
    queued_count_ = count;
    queued_ = std::async(std::launch::async, [this, plan = plan_scenes(count)] { return draw_planned(plan); });
  }

  // The next `count` training scenes in the encoder's input frame: the queued ones if any.
  std::vector<FramedScene> draw_scenes(int count) {
    if (!queued_.valid()) return draw_planned(plan_scenes(count));
    if (queued_count_ != count) {
      throw ArgumentError("SamTrainer::draw_scenes: " + std::to_string(count) + " scenes asked for, " +
                          std::to_string(queued_count_) + " queued");
    }
    return queued_.get();
  }

  static torch::Tensor pixels_of(const std::vector<FramedScene>& scenes) {
    std::vector<torch::Tensor> pixels;
    for (const FramedScene& f : scenes) pixels.push_back(f.pixels);
    return torch::cat(pixels, 0);  // [B, 3, S, S]
  }

  // Stage 1 loss: the dense head's colour, shape and boundary of every low-resolution cell,
  // plus (pixel pretraining) its colour read from the unprompted decoder's upscaled features.
  torch::Tensor pretrain_loss(DenseHead& head, const std::vector<FramedScene>& scenes) {
    const torch::Tensor embedding = model_.encoder(pixels_of(scenes));  // [B, P, e, e]
    const torch::Tensor logits = head->forward(embedding);  // [B, L, L, K]
    const auto [color, shape, edge, object] = dense_targets(scenes, config_.low_res_size());  // [B, L, L] each
    const auto part = [&](int64_t from, int64_t n) { return logits.narrow(3, from, n).reshape({-1, n}); };
    torch::Tensor loss = torch::cross_entropy_loss(part(0, kNumColors + 1), color.reshape(-1)) +
                         torch::cross_entropy_loss(part(kNumColors + 1, kNumShapes + 1), shape.reshape(-1)) +
                         torch::cross_entropy_loss(part(kNumColors + kNumShapes + 2, 2), edge.reshape(-1));
    if (o_.pixel_pretraining) {
      const auto [sparse, dense] = model_.prompt->forward({}, {}, {}, {}, embedding.size(0));  // [B, 0, P], [B, P, e, e]
      const torch::Tensor upscaled = model_.decoder->features(embedding, dense_pe_, sparse, dense).second;  // [B, P / 8, L, L]
      const torch::Tensor pixel_logits = head->pixel(upscaled.permute({0, 2, 3, 1}));         // [B, L, L, colours + 1]
      if (o_.soft_pixel_targets) {
        const torch::Tensor shares = colour_shares(scenes, config_.low_res_size());  // [B, L, L, colours + 1]
        loss = loss - (shares * torch::log_softmax(pixel_logits, -1)).sum(-1).mean();
      } else {
        loss = loss + torch::cross_entropy_loss(pixel_logits.reshape({-1, kNumColors + 1}), color.reshape(-1));
      }
      if (o_.instance_pretraining) loss = loss + same_object_loss(head, upscaled, object);
    }
    return loss;
  }

  // Whether one object covers both cells of nearby pairs, read from the product of their
  // upscaled features: touching objects of one colour must differ there too, or no linear
  // mask readout can stop at the edge between them.
  static torch::Tensor same_object_loss(DenseHead& head, const torch::Tensor& upscaled, const torch::Tensor& object) {
    const int64_t L = object.size(1);
    torch::Tensor loss = torch::zeros({});
    for (const auto& [dy, dx] : kPairOffsets) {
      const int64_t x0 = std::max<int64_t>(0, -dx), w = L - std::abs(dx), h = L - dy;
      const torch::Tensor a = upscaled.slice(2, 0, h).slice(3, x0, x0 + w);             // [B, C, h, w]
      const torch::Tensor b = upscaled.slice(2, dy, dy + h).slice(3, x0 + dx, x0 + dx + w);  // [B, C, h, w]
      const torch::Tensor logit = head->same_object((a * b).permute({0, 2, 3, 1})).squeeze(-1);  // [B, h, w]
      const torch::Tensor same = object.slice(1, 0, h).slice(2, x0, x0 + w)
                                     .eq(object.slice(1, dy, dy + h).slice(2, x0 + dx, x0 + dx + w))
                                     .to(torch::kFloat32);  // [B, h, w]
      const torch::Tensor weight = 1 + (kCrossPairWeight - 1) * (1 - same);
      loss = loss + torch::binary_cross_entropy_with_logits(logit, same, weight);
    }
    return loss / static_cast<double>(kPairOffsets.size());
  }

  // One optimizer step's gradients: draws `images` scenes, leaves the gradient of the step's
  // loss in the .grad of `params` (added to what is there) and returns the loss; `metric`
  // receives what `loss_of` reports of it. `next_images` > 0 queues the next step's scenes.
  //
  // With shards_ > 1 the scenes are split into that many parts whose losses and gradients are
  // computed side by side, one thread each, with their own prompt draws; the gradients are
  // summed in a fixed order, so a run repeats bit for bit. On 2 cores two parts are a fifth
  // (stages 2 and 3) to a half (stage 1) faster than 2 threads inside every op: these ops are
  // too small to split well (docs/tiny-shapes.md).
  double step(int images, const std::vector<torch::Tensor>& params, const LossOf& loss_of, int next_images,
              double& metric) {
    const std::vector<FramedScene> scenes = draw_scenes(images);
    if (shards_ == 1) {
      torch::Tensor loss = loss_of(scenes, rng_, std::nullopt, metric);
      if (next_images > 0) queue_scenes(next_images);  // drawn during the backward pass
      loss.backward();
      return loss.item<double>();
    }
    const int n = std::min(shards_, static_cast<int>(scenes.size()));
    std::vector<uint64_t> seeds;
    for (int k = 0; k < n; ++k) seeds.push_back(rng_.next());
    const double corrective_draw = rng_.uniform();  // shared, so that the parts cost alike
    // Parts of about equal cost: a scene costs its encoder pass and a decoder row per prompt.
    std::vector<std::vector<size_t>> parts(static_cast<size_t>(n));
    {
      std::vector<size_t> order(scenes.size());
      std::iota(order.begin(), order.end(), size_t{0});
      const auto cost = [&](size_t i) { return 4 + scenes[i].targets.size(); };
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return cost(a) > cost(b); });
      std::vector<size_t> load(static_cast<size_t>(n), 0);
      for (size_t i : order) {
        const size_t k = static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
        parts[k].push_back(i);
        load[k] += cost(i);
      }
    }
    if (next_images > 0) queue_scenes(next_images);
    std::vector<std::vector<torch::Tensor>> grads(static_cast<size_t>(n));
    std::vector<double> losses(static_cast<size_t>(n)), metrics(static_cast<size_t>(n));
    // A part's share of the step: its scenes over all of them.
    const auto weight_of = [&](size_t k) {
      return static_cast<double>(parts[k].size()) / static_cast<double>(scenes.size());
    };
    std::vector<std::exception_ptr> errors(static_cast<size_t>(n));
    const auto run_shard = [&](int k) {
      try {
        std::vector<FramedScene> part;
        for (size_t i : parts[static_cast<size_t>(k)]) part.push_back(scenes[i]);
        Random rng(seeds[static_cast<size_t>(k)]);
        const torch::Tensor loss =
            loss_of(part, rng, corrective_draw, metrics[static_cast<size_t>(k)]) * weight_of(static_cast<size_t>(k));
        grads[static_cast<size_t>(k)] = torch::autograd::grad({loss}, params, {}, /*retain_graph=*/false,
                                                             /*create_graph=*/false, /*allow_unused=*/true);
        losses[static_cast<size_t>(k)] = loss.item<double>();
      } catch (...) {
        errors[static_cast<size_t>(k)] = std::current_exception();
      }
    };
    // The parts differ in cost (objects per scene, corrective rounds), so each worker takes
    // the next part when it is done with one.
    std::atomic<int> next_part{0};
    const auto work = [&] {
      for (int k = next_part++; k < n; k = next_part++) run_shard(k);
    };
    std::vector<std::thread> threads;
    for (int w = 1; w < std::min(workers_, n); ++w) {
      threads.emplace_back([&work] {
        // A new thread's OpenMP team size is the core count, whatever torch was told: oneDNN's
        // convolutions would fork teams inside the shard.
        torch::set_num_threads(1);
        work();
      });
    }
    work();
    for (std::thread& t : threads) t.join();
    for (const std::exception_ptr& e : errors) {
      if (e) std::rethrow_exception(e);
    }
    for (size_t i = 0; i < params.size(); ++i) {
      torch::Tensor sum;
      for (const auto& g : grads) {
        if (g[i].defined()) sum = sum.defined() ? sum + g[i] : g[i].clone();  // its own memory, not a view
      }
      if (!sum.defined()) continue;  // unused this step: Adam leaves it alone, as after backward()
      torch::Tensor& grad = params[i].mutable_grad();
      grad = grad.defined() ? grad + sum : sum;
    }
    double loss = 0;
    metric = 0;
    for (size_t k = 0; k < losses.size(); ++k) {
      loss += losses[k];
      metric += metrics[k] * weight_of(k);
    }
    return loss;
  }

  // Stages 2 and 3 loss on `scenes`, prompts drawn from `rng`, the corrective round taken when
  // `corrective_draw` (else a draw from `rng`) is below options.corrective_share.
  torch::Tensor prompted_loss(const std::vector<FramedScene>& scenes, Random& rng,
                              std::optional<double> corrective_draw, double& round0_iou) {
    const torch::Tensor embeddings = model_.encoder(pixels_of(scenes));  // [Bi, P, e, e]

    // Round 0 prompts.
    std::vector<Row> rows;
    for (int b = 0; b < static_cast<int>(scenes.size()); ++b) {
      const FramedScene& s = scenes[static_cast<size_t>(b)];
      for (int t = 0; t < static_cast<int>(s.targets.size()); ++t) {
        for (const PromptKind kind : o_.first_prompts) {
          Row row;
          row.image = b;
          row.target = t;
          row.box_start = kind == PromptKind::kBox;
          if (row.box_start) {
            row.box = jittered_box(s.targets[static_cast<size_t>(t)], rng);
          } else {
            row.points.push_back(random_pixel(s.targets[static_cast<size_t>(t)], rng));
            row.labels.push_back(1);
          }
          rows.push_back(std::move(row));
        }
      }
      for (int k = 0; k < o_.background_clicks; ++k) {
        const cv::Point p = random_pixel(s.background, rng);
        if (p.x < 0) continue;
        Row row;
        row.image = b;
        row.points.push_back(p);
        row.labels.push_back(1);
        rows.push_back(std::move(row));
      }
    }
    const torch::Tensor targets = target_tensor(scenes, rows);  // [R, 1, S, S]

    RoundResult round = run_round(rows, targets, embeddings, torch::Tensor(), /*first=*/true);
    round0_iou = round.chosen_iou;
    torch::Tensor loss = round.loss;
    int rounds = 1;
    // Corrective rounds follow the objects only (a background click has nothing to correct).
    std::vector<int64_t> objects;
    for (size_t r = 0; r < rows.size(); ++r) {
      if (rows[r].target >= 0) objects.push_back(static_cast<int64_t>(r));
    }
    if (o_.corrective_rounds > 0 && !objects.empty() &&
        (corrective_draw ? *corrective_draw : rng.uniform()) < o_.corrective_share) {
      const torch::Tensor keep = torch::tensor(objects);
      std::vector<Row> kept;
      for (int64_t r : objects) kept.push_back(rows[static_cast<size_t>(r)]);
      rows = std::move(kept);
      torch::Tensor obj_targets = targets.index_select(0, keep);
      torch::Tensor previous = round.chosen.index_select(0, keep);
      torch::Tensor predicted = round.predicted.index_select(0, keep);
      for (int c = 0; c < o_.corrective_rounds; ++c) {
        add_corrective_points(rows, predicted, obj_targets, rng);
        round = run_round(rows, obj_targets, embeddings, previous, /*first=*/false);
        loss = loss + round.loss;
        previous = round.chosen;
        predicted = round.predicted;
        ++rounds;
      }
    }
    return loss / rounds;
  }

 private:
  std::array<double, 4> jittered_box(const cv::Mat1b& target, Random& rng) const {
    const cv::Rect b = cv::boundingRect(target);
    const double S = static_cast<double>(config_.image_size);
    const double w = b.width, h = b.height;
    auto jitter = [&](double side) {
      return std::clamp(rng.noise() * kBoxJitter * side, -kBoxJitterMax, kBoxJitterMax);
    };
    double x0 = b.x + jitter(w), y0 = b.y + jitter(h);
    double x1 = b.x + w + jitter(w), y1 = b.y + h + jitter(h);
    x0 = std::clamp(x0, 0.0, S);
    y0 = std::clamp(y0, 0.0, S);
    x1 = std::clamp(x1, x0 + 1, S);
    y1 = std::clamp(y1, y0 + 1, S);
    return {x0, y0, x1, y1};
  }

  torch::Tensor target_tensor(const std::vector<FramedScene>& scenes, const std::vector<Row>& rows) const {
    const int64_t S = config_.image_size;
    torch::Tensor t = torch::zeros({static_cast<int64_t>(rows.size()), 1, S, S}, torch::kFloat32);
    for (size_t r = 0; r < rows.size(); ++r) {
      if (rows[r].target < 0) continue;
      const cv::Mat1f& m = scenes[static_cast<size_t>(rows[r].image)].coverage[static_cast<size_t>(rows[r].target)];
      t[static_cast<int64_t>(r)][0].copy_(torch::from_blob(const_cast<float*>(m.ptr<float>()), {S, S}, torch::kFloat32));
    }
    return t;
  }

  // Next click of each row: uniform over the error region of its previous mask, labelled by
  // the target there; inside the target when the mask was already exact.
  void add_corrective_points(std::vector<Row>& rows, const torch::Tensor& predicted, const torch::Tensor& targets,
                             Random& rng) const {
    const int64_t S = config_.image_size;
    const torch::Tensor truth = targets.squeeze(1).gt(0.5);  // [R, S, S]
    const torch::Tensor error = predicted.ne(truth).to(torch::kUInt8).contiguous();
    const torch::Tensor truth8 = truth.to(torch::kUInt8).contiguous();
    for (size_t r = 0; r < rows.size(); ++r) {
      const cv::Mat1b err(static_cast<int>(S), static_cast<int>(S), error[static_cast<int64_t>(r)].data_ptr<uint8_t>());
      const cv::Mat1b tgt(static_cast<int>(S), static_cast<int>(S), truth8[static_cast<int64_t>(r)].data_ptr<uint8_t>());
      cv::Point p = random_pixel(err, rng);
      if (p.x < 0) p = random_pixel(tgt, rng);
      rows[r].points.push_back(p);
      rows[r].labels.push_back(tgt(p.y, p.x) ? 1 : 0);
    }
  }

  // Decodes every row (grouped by prompt structure), scores the masks and picks the one
  // that goes on to the next round.
  RoundResult run_round(const std::vector<Row>& rows, const torch::Tensor& targets, const torch::Tensor& embeddings,
                        const torch::Tensor& previous, bool first) const {
    const int64_t R = static_cast<int64_t>(rows.size());
    const int64_t S = config_.image_size;
    const int64_t L = config_.low_res_size();
    std::vector<int64_t> point_rows, box_rows;
    for (int64_t r = 0; r < R; ++r) (rows[static_cast<size_t>(r)].box_start ? box_rows : point_rows).push_back(r);

    torch::Tensor loss = torch::zeros({});
    torch::Tensor chosen = torch::empty({R, 1, L, L});
    torch::Tensor predicted = torch::empty({R, S, S}, torch::kBool);
    double iou_sum = 0;
    int objects = 0;  // rows with an object (background clicks have no IoU to report)
    for (const auto* group : {&point_rows, &box_rows}) {
      if (group->empty()) continue;
      const int64_t B = static_cast<int64_t>(group->size());
      const bool boxes = group == &box_rows;
      const size_t n_points = rows[static_cast<size_t>(group->front())].points.size();
      torch::Tensor points, labels, box, masks;
      if (n_points > 0) {
        points = torch::empty({B, static_cast<int64_t>(n_points), 2}, torch::kFloat32);
        labels = torch::empty({B, static_cast<int64_t>(n_points)}, torch::kInt32);
        auto pa = points.accessor<float, 3>();
        auto la = labels.accessor<int32_t, 2>();
        for (int64_t i = 0; i < B; ++i) {
          const Row& row = rows[static_cast<size_t>((*group)[static_cast<size_t>(i)])];
          for (size_t j = 0; j < n_points; ++j) {
            pa[i][static_cast<int64_t>(j)][0] = static_cast<float>(row.points[j].x);
            pa[i][static_cast<int64_t>(j)][1] = static_cast<float>(row.points[j].y);
            la[i][static_cast<int64_t>(j)] = row.labels[j];
          }
        }
      }
      if (boxes) {
        box = torch::empty({B, 4}, torch::kFloat32);
        auto ba = box.accessor<float, 2>();
        for (int64_t i = 0; i < B; ++i) {
          const Row& row = rows[static_cast<size_t>((*group)[static_cast<size_t>(i)])];
          for (int k = 0; k < 4; ++k) ba[i][k] = static_cast<float>(row.box[static_cast<size_t>(k)]);
        }
      }
      const torch::Tensor index = torch::tensor(*group);
      if (previous.defined()) masks = previous.index_select(0, index);  // [B, 1, L, L]
      std::vector<int64_t> images;
      for (int64_t r : *group) images.push_back(rows[static_cast<size_t>(r)].image);
      const torch::Tensor image_rows = embeddings.index_select(0, torch::tensor(images));  // [B, P, e, e]

      auto [sparse, dense] = model_.prompt->forward(points, labels, box, masks, B);  // [B, T, P], [B, P, e, e]
      auto [low_res, iou_pred] = model_.decoder(image_rows, dense_pe_, sparse, dense);  // [B, 4, L, L], [B, 4]
      const torch::Tensor target = targets.index_select(0, index);  // [B, 1, S, S]

      // Mask losses [B, 4] on the low-resolution logits against the share of each cell the
      // object covers: the same boundaries as scoring the upscaled masks (the zero crossing of
      // the upscaled logits lands where half a cell is covered; a logit map of these shares
      // upscaled gives IoU 0.99 on the task's shapes), at a quarter of the cost.
      const torch::Tensor t = torch::adaptive_avg_pool2d(target, {L, L}).expand_as(low_res);  // [B, 4, L, L]
      const torch::Tensor bce =
          torch::binary_cross_entropy_with_logits(low_res, t, {}, {}, at::Reduction::None).mean({2, 3});
      const torch::Tensor p = torch::sigmoid(low_res);
      const torch::Tensor dice = 1 - (2 * (p * t).sum({2, 3}) + 1) / (p.sum({2, 3}) + t.sum({2, 3}) + 1);
      const torch::Tensor mask_loss = kBceWeight * bce + dice;  // [B, 4]
      // True IoUs [B, 4] of the masks as inference returns them: upscaled, > 0.
      torch::Tensor true_iou, up;
      {
        torch::NoGradGuard no_grad;
        up = torch::nn::functional::interpolate(low_res, torch::nn::functional::InterpolateFuncOptions()
                                                             .size(std::vector<int64_t>{S, S})
                                                             .mode(torch::kBilinear)
                                                             .align_corners(false));  // [B, 4, S, S]
        const torch::Tensor pred = up.gt(0);
        const torch::Tensor truth = target.gt(0.5);
        const torch::Tensor inter = (pred & truth).sum({2, 3}).to(torch::kFloat32);
        const torch::Tensor uni = (pred | truth).sum({2, 3}).to(torch::kFloat32);
        true_iou = torch::where(uni > 0, inter / uni.clamp_min(1), torch::zeros_like(inter));  // [B, 4]
      }
      // The multimask outputs are scored by their best (SAM's answer to ambiguous prompts);
      // the single-mask output (index 0) is trained on every prompt too: a shape has no parts,
      // so one click is not ambiguous here, and regionlm-segment returns that output by default.
      const torch::Tensor multi = std::get<0>(mask_loss.slice(1, 1).min(1));  // [B]
      const torch::Tensor row_loss = multi + mask_loss.select(1, 0);           // [B]
      const bool ambiguous = first && !boxes;
      const torch::Tensor iou_loss = (iou_pred - true_iou).pow(2).mean(1);  // [B]
      loss = loss + (row_loss + iou_loss).sum();

      // The mask passed on: the best-rated multimask output for an ambiguous prompt (as SAM's
      // training), else the single-mask output.
      torch::NoGradGuard no_grad;
      torch::Tensor pick;
      if (ambiguous) {
        pick = std::get<1>(iou_pred.slice(1, 1).max(1)) + 1;  // [B]
      } else {
        pick = torch::zeros({B}, torch::kLong);
      }
      const torch::Tensor picked_low = low_res.gather(1, pick.view({B, 1, 1, 1}).expand({B, 1, L, L})).detach();
      const torch::Tensor picked_up = up.gather(1, pick.view({B, 1, 1, 1}).expand({B, 1, S, S})).squeeze(1).gt(0);
      chosen.index_copy_(0, index, picked_low);
      predicted.index_copy_(0, index, picked_up);
      const torch::Tensor picked_iou = true_iou.gather(1, pick.view({B, 1})).squeeze(1);  // [B]
      for (int64_t i = 0; i < B; ++i) {
        if (rows[static_cast<size_t>((*group)[static_cast<size_t>(i)])].target < 0) continue;
        iou_sum += picked_iou[i].item<double>();
        ++objects;
      }
    }
    RoundResult result;
    result.loss = loss / static_cast<double>(R);
    result.chosen = chosen;
    result.predicted = predicted;
    result.chosen_iou = objects ? iou_sum / objects : 0.0;
    return result;
  }

  // One scene to draw: its index in the training sequence and its options.
  struct PlannedScene {
    uint32_t index = 0;
    SceneOptions options;
  };

  std::vector<PlannedScene> plan_scenes(int count) {
    std::vector<PlannedScene> plan;
    for (int i = 0; i < count; ++i) {
      SceneOptions so = rng_.uniform() < o_.heavy_overlap_share ? heavy_overlap_options() : SceneOptions{};
      if (rng_.uniform() < o_.large_scene_share) so.image_size = rng_.integer(129, 256);
      plan.push_back({kSceneIndexBase + next_scene_++, so});
    }
    return plan;
  }

  // Reads only the options and the image size, so it may run beside the training step.
  std::vector<FramedScene> draw_planned(const std::vector<PlannedScene>& plan) const {
    std::vector<FramedScene> scenes;
    for (const PlannedScene& p : plan) {
      scenes.push_back(frame_scene(generate_scene(training_scene_seed(o_.seed, p.index), p.options), config_.image_size));
    }
    return scenes;
  }

  const SamTrainOptions& o_;
  TinySam& model_;
  sam::SamConfig config_;
  Random rng_;
  uint32_t next_scene_ = 0;
  torch::Tensor dense_pe_;
  int shards_ = 1;
  int workers_ = 1;  // threads computing the parts: the torch threads the run was given
  std::future<std::vector<FramedScene>> queued_;  // the next step's scenes, being drawn
  int queued_count_ = 0;
};

void validate(const SamTrainOptions& o) {
  if (o.out_dir.empty()) throw ArgumentError("SamTrainOptions::out_dir is empty");
  if (o.seed == 0 || o.seed >= (uint64_t{1} << 32)) {
    throw ArgumentError("SamTrainOptions::seed must be in [1, 2^32), got " + std::to_string(o.seed));
  }
  if (o.steps < 0 || !(o.lr > 0)) throw ArgumentError("SamTrainOptions: steps must be >= 0 and lr > 0");
  if (!o.pixel_pretraining && (o.soft_pixel_targets || o.instance_pretraining)) {
    throw ArgumentError("SamTrainOptions: soft_pixel_targets and instance_pretraining shape the pixel pretraining, "
                        "which pixel_pretraining = false turns off");
  }
  if (o.coarse_image_size < 0 || o.coarse_image_size > o.model.image_size ||
      (o.coarse_image_size > 0 && o.coarse_image_size % o.model.patch_size != 0)) {
    throw ArgumentError(
        "SamTrainOptions::coarse_image_size must be 0 or a multiple of the patch size up to "
        "model.image_size (" +
        std::to_string(o.model.image_size) + "), got " + std::to_string(o.coarse_image_size));
  }
  if (o.fine_steps < 0 || !(o.fine_lr > 0)) {
    throw ArgumentError("SamTrainOptions: fine_steps must be >= 0 and fine_lr > 0");
  }
  if (o.shards < 1) throw ArgumentError("SamTrainOptions: shards must be >= 1, got " + std::to_string(o.shards));
  if (o.fine_images_per_step < 0) {
    throw ArgumentError("SamTrainOptions: fine_images_per_step must be >= 0 (0 = images_per_step), got " +
                        std::to_string(o.fine_images_per_step));
  }
  if (o.first_prompts.empty()) throw ArgumentError("SamTrainOptions::first_prompts is empty: round 0 needs a prompt");
  if (o.images_per_step < 1 || o.corrective_rounds < 0 || o.background_clicks < 0) {
    throw ArgumentError("SamTrainOptions: images_per_step >= 1, corrective_rounds >= 0, background_clicks >= 0");
  }
  if (o.model.attention_downsample_rate < 1 ||
      o.model.prompt_embed_dim % (8 * o.model.attention_downsample_rate) != 0) {
    throw ArgumentError("TinySamSpec: prompt_embed_dim must be a multiple of 8 * attention_downsample_rate (the "
                        "decoder's 8 heads share its cross-attention width)");
  }
}

// An encoder tensor of another token grid (a model trained at a smaller input, continued at
// a larger one) in the shape `to`: the absolute position embedding is resized bicubically and
// the relative position tables linearly (as segment-anything's get_rel_pos does), so every
// position keeps the scene location it had. Any other difference is an error naming `key`.
torch::Tensor resized_like(torch::Tensor from, const torch::Tensor& to, const std::string& name,
                           const std::string& key) {
  namespace F = torch::nn::functional;
  from = from.to(torch::kFloat32);
  if (from.sizes() == to.sizes()) return from;
  if (name == "pos_embed" && from.dim() == 4) {  // [1, G, G, E]
    from = F::interpolate(from.permute({0, 3, 1, 2}), F::InterpolateFuncOptions()
                                                          .size(std::vector<int64_t>{to.size(1), to.size(2)})
                                                          .mode(torch::kBicubic)
                                                          .align_corners(false))
               .permute({0, 2, 3, 1});
  } else if ((name.ends_with("rel_pos_h") || name.ends_with("rel_pos_w")) && from.dim() == 2) {  // [2G-1, hd]
    from = F::interpolate(from.t().unsqueeze(0), F::InterpolateFuncOptions()
                                                     .size(std::vector<int64_t>{to.size(0)})
                                                     .mode(torch::kLinear)
                                                     .align_corners(false))
               .squeeze(0)
               .t();
  }
  if (from.sizes() != to.sizes()) {
    throw WeightError(key + ": cannot be resized from " + c10::str(from.sizes()) + " to the model's " +
                      c10::str(to.sizes()));
  }
  return from;
}

// Fills `to` from `from` (same modules, possibly another token grid: resized_like).
void copy_resized(const TinySam& from, TinySam& to) {
  torch::NoGradGuard no_grad;
  const std::pair<const torch::nn::Module*, torch::nn::Module*> parts[] = {{from.encoder.get(), to.encoder.get()},
                                                                           {from.prompt.get(), to.prompt.get()},
                                                                           {from.decoder.get(), to.decoder.get()}};
  for (const auto& [src, dst] : parts) {
    const auto src_params = src->named_parameters();
    const auto src_buffers = src->named_buffers();
    for (auto& item : dst->named_parameters()) {
      item.value().copy_(resized_like(src_params[item.key()], item.value(), item.key(), item.key()));
    }
    for (auto& item : dst->named_buffers()) item.value().copy_(src_buffers[item.key()]);
  }
}

// Loads the encoder from a checkpoint, possibly of another token grid (resized_like).
void load_resized(torch::nn::Module& encoder, const Weights& weights, const std::string& prefix) {
  torch::NoGradGuard no_grad;
  for (auto& item : encoder.named_parameters()) {
    const std::string key = prefix + item.key();
    item.value().copy_(
        resized_like(weights.get(key), item.value(), item.key(), weights.origin().string() + ": " + key));
  }
  for (auto& item : encoder.named_buffers()) item.value().copy_(weights.get(prefix + item.key()));
}

void write_config(const TinySamSpec& spec, const fs::path& file) {
  nlohmann::ordered_json j;
  j["encoder"] = "vit";
  j["image_size"] = spec.image_size;
  j["vit_patch_size"] = spec.patch_size;
  j["encoder_embed_dim"] = spec.embed_dim;
  j["encoder_depth"] = spec.depth;
  j["encoder_num_heads"] = spec.num_heads;
  j["encoder_global_attn_indexes"] = spec.global_attn_indexes;
  j["window_size"] = spec.window_size;
  j["prompt_embed_dim"] = spec.prompt_embed_dim;
  j["refinement_passes"] = spec.refinement_passes;
  std::ofstream out(file);
  out << j.dump(2) << "\n";
  if (!out) throw IoError("cannot write " + file.string());
}

void save(TinySam& model, const fs::path& dir) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  const std::pair<const char*, torch::nn::Module*> parts[] = {
      {"image_encoder.", model.encoder.get()}, {"prompt_encoder.", model.prompt.get()}, {"mask_decoder.", model.decoder.get()}};
  for (const auto& [prefix, module] : parts) {
    for (const auto& p : module->named_parameters()) tensors.emplace_back(prefix + p.key(), p.value().detach());
    for (const auto& b : module->named_buffers()) tensors.emplace_back(prefix + b.key(), b.value().detach());
  }
  save_safetensors(dir / "model.safetensors", tensors, {{"format", "pt"}});
}

}  // namespace

sam::SamConfig make_sam_config(const TinySamSpec& spec) {
  sam::SamConfig c;
  c.encoder = sam::EncoderKind::Vit;
  c.image_size = spec.image_size;
  c.vit_patch_size = spec.patch_size;
  c.encoder_embed_dim = spec.embed_dim;
  c.encoder_depth = spec.depth;
  c.encoder_num_heads = spec.num_heads;
  c.encoder_global_attn_indexes = spec.global_attn_indexes;
  c.window_size = spec.window_size;
  c.vit_mlp_dim = 4 * spec.embed_dim;
  c.prompt_embed_dim = spec.prompt_embed_dim;
  c.decoder_mlp_dim = spec.decoder_mlp_dim;
  c.iou_head_hidden_dim = spec.iou_head_hidden_dim;
  c.attention_downsample_rate = spec.attention_downsample_rate;
  c.refinement_passes = spec.refinement_passes;
  return c;
}

namespace {

TinySam new_model(const sam::SamConfig& config) {
  const auto topts = torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCPU);
  TinySam model{sam::ImageEncoderVit(config, topts), sam::PromptEncoder(config, topts),
                sam::MaskDecoder(config, topts)};
  initialize_sam(*model.encoder);
  initialize_sam(*model.prompt);
  initialize_sam(*model.decoder);
  return model;
}

// Stages 2 and 3: `steps` optimizer steps on prompted masks, peak learning rate `lr`, the
// model written as `spec` for the interim scores.
void train_prompts(const SamTrainOptions& options, TinySam& model, SamTrainer& trainer, const TinySamSpec& spec,
                   int steps, double lr, int images, const std::string& label, SamTrainReport& report,
                   const std::function<void(const std::string&)>& log) {
  const std::vector<torch::Tensor> params = model.parameters();
  torch::optim::Adam optimizer(params, torch::optim::AdamOptions(lr).betas({0.9, 0.999}));
  const SamTrainer::LossOf prompted = [&trainer](const std::vector<FramedScene>& scenes, Random& rng,
                                                 std::optional<double> corrective_draw, double& iou) {
    return trainer.prompted_loss(scenes, rng, corrective_draw, iou);
  };
  double window_loss = 0, window_iou = 0;
  int window = 0;
  const auto loop_start = Clock::now();
  for (int step = 0; step < steps; ++step) {
    const double step_lr = learning_rate(lr, steps, step);
    for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(step_lr);
    optimizer.zero_grad();
    double iou = 0;
    const double loss = trainer.step(images, params, prompted, step + 1 < steps ? images : 0, iou);
    torch::nn::utils::clip_grad_norm_(params, 1.0);
    optimizer.step();
    window_loss += loss;
    window_iou += iou;
    ++window;
    if ((step + 1) % std::max(1, options.log_every) == 0 || step + 1 == steps) {
      report.losses.push_back({step + 1, window_loss / window, window_iou / window});
      const double elapsed = seconds_since(loop_start);
      log(label + " step " + std::to_string(step + 1) + "/" + std::to_string(steps) +
          format("  loss %.4f  round-0 IoU %.3f  lr %.2e  %.2f steps/s", window_loss / window, window_iou / window,
                 step_lr, (step + 1) / elapsed) +
          format("  (%.0f s, process CPU %.0f s)", elapsed, cpu_seconds()));
      window_loss = window_iou = 0;
      window = 0;
    }
    if (options.eval_every > 0 && (step + 1) % options.eval_every == 0 && step + 1 < steps) {
      write_config(spec, options.out_dir / "sam_config.json");
      save(model, options.out_dir);
      const sam::Sam interim = sam::Sam::load(options.out_dir);
      SamEvalOptions eval;
      eval.first_seed = 910000;
      eval.num_scenes = 40;
      const IouReport points = evaluate_prompts(interim, eval, PromptKind::kPoint);
      const IouReport boxes = evaluate_prompts(interim, eval, PromptKind::kBox);
      log(label +
          format(" step %.0f: mean IoU on 40 scenes: click %.4f (%.0f of %.0f below 0.5), box %.4f", step + 1,
                 points.mean_iou, points.below_half, points.objects, boxes.mean_iou) +
          format("; click best-of-3 %.4f, single-mask %.4f", points.oracle_iou, points.single_iou));
    }
  }
}

// Stages 1-3 and the files: `workers` threads compute a sharded step's parts.
void train_and_save(const SamTrainOptions& options, int workers, Clock::time_point start, SamTrainReport& report,
                    const std::function<void(const std::string&)>& log) {
  torch::manual_seed(options.seed);
  fs::create_directories(options.out_dir);

  // Stages 1 and 2 run the encoder at the coarse input side, stage 3 at the model's own.
  TinySamSpec coarse_spec = options.model;
  if (options.coarse_image_size > 0) coarse_spec.image_size = options.coarse_image_size;
  const sam::SamConfig coarse_config = make_sam_config(coarse_spec);
  TinySam model = new_model(coarse_config);
  if (!options.init.empty()) {
    const Weights weights = load_weights(options.init / "model.safetensors");
    load_resized(*model.encoder, weights, "image_encoder.");
    load_module(*model.prompt, weights, "prompt_encoder.");
    load_module(*model.decoder, weights, "mask_decoder.");
    torch::NoGradGuard no_grad;
    for (torch::nn::Module* m :
         {static_cast<torch::nn::Module*>(model.prompt.get()), static_cast<torch::nn::Module*>(model.decoder.get())}) {
      for (auto& t : m->parameters()) t.set_data(t.data().clone());  // own memory, not the file's
      for (auto& t : m->buffers()) t.set_data(t.data().clone());
    }
    log("initialised from " + options.init.string());
  }
  log("tiny SAM, stages 1 and 2: " + coarse_config.describe());

  SamTrainer trainer(options, model, coarse_config, workers);
  if (options.pretrain_steps > 0) {
    DenseHead head(coarse_config.prompt_embed_dim, coarse_config.low_res_size() / coarse_config.embedding_size());
    std::vector<torch::Tensor> pre_params = model.encoder->parameters();
    for (const auto& p : head->parameters()) pre_params.push_back(p);
    if (options.pixel_pretraining) {  // the unprompted decoder's path to the upscaled features
      for (const auto& p : model.prompt->parameters()) pre_params.push_back(p);
      for (const auto& p : model.decoder->parameters()) pre_params.push_back(p);
    }
    torch::optim::Adam pre(pre_params, torch::optim::AdamOptions(options.pretrain_lr).betas({0.9, 0.999}));
    const SamTrainer::LossOf dense = [&](const std::vector<FramedScene>& scenes, Random&, std::optional<double>,
                                         double&) { return trainer.pretrain_loss(head, scenes); };
    double window_loss = 0;
    int window = 0;
    const auto pre_start = Clock::now();
    for (int step = 0; step < options.pretrain_steps; ++step) {
      const double lr = learning_rate(options.pretrain_lr, options.pretrain_steps, step);
      for (auto& group : pre.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
      pre.zero_grad();
      double no_metric = 0;
      const double loss = trainer.step(options.pretrain_images, pre_params, dense,
                                       step + 1 < options.pretrain_steps ? options.pretrain_images : 0, no_metric);
      torch::nn::utils::clip_grad_norm_(pre_params, 1.0);
      pre.step();
      window_loss += loss;
      ++window;
      if ((step + 1) % std::max(1, options.log_every) == 0 || step + 1 == options.pretrain_steps) {
        report.pretrain_losses.push_back({step + 1, window_loss / window, 0.0});
        const double elapsed = seconds_since(pre_start);
        log("[pretrain] step " + std::to_string(step + 1) + "/" + std::to_string(options.pretrain_steps) +
            format("  loss %.4f  lr %.2e  %.2f steps/s", window_loss / window, lr, (step + 1) / elapsed) +
            format("  (%.0f s, process CPU %.0f s)", elapsed, cpu_seconds()));
        window_loss = 0;
        window = 0;
      }
    }
  }
  train_prompts(options, model, trainer, coarse_spec, options.steps, options.lr, options.images_per_step, "[sam]", report, log);

  if (options.fine_steps > 0) {
    const sam::SamConfig config = make_sam_config(options.model);
    TinySam fine = new_model(config);
    copy_resized(model, fine);
    log("stage 3: " + config.describe());
    SamTrainer fine_trainer(options, fine, config, workers);
    fine_trainer.continue_from(trainer);
    train_prompts(options, fine, fine_trainer, options.model, options.fine_steps, options.fine_lr,
                  options.fine_images_per_step > 0 ? options.fine_images_per_step : options.images_per_step, "[fine]", report,
                  log);
    model = fine;  // what is saved; stage 2's trainer is done with the coarse modules
  }
  for (const auto& p : model.parameters()) report.parameters += p.numel();
  log(std::to_string(report.parameters) + " parameters");

  // Without stage 3 the model is the coarse one.
  write_config(options.fine_steps > 0 ? options.model : coarse_spec, options.out_dir / "sam_config.json");
  save(model, options.out_dir);
  std::vector<std::pair<std::string, std::string>> info{{"trainer", "regionlm-train-tiny-sam"},
                                                        {"seed", std::to_string(options.seed)},
                                                        {"steps", std::to_string(options.steps)},
                                                        {"fine_steps", std::to_string(options.fine_steps)}};
  info.insert(info.end(), options.provenance.begin(), options.provenance.end());
  write_manifest(options.out_dir, sam_directory_files(), info);
  report.seconds = seconds_since(start);
  report.cpu_seconds = cpu_seconds();
  log(format("trained and saved in %.0f s (process CPU %.0f s)", report.seconds, report.cpu_seconds));
}

}  // namespace

SamTrainReport train_sam(const SamTrainOptions& options) {
  validate(options);
  const auto start = Clock::now();
  const auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };
  if (options.threads > 0) torch::set_num_threads(options.threads);
  SamTrainReport report;
  {
    // With shards every op runs on one thread (the shards are the parallelism); scoring after
    // training gets the threads back.
    struct ThreadsDuringTraining {
      int before = torch::get_num_threads();
      explicit ThreadsDuringTraining(int shards) {
        if (shards > 1) torch::set_num_threads(1);
      }
      ~ThreadsDuringTraining() { torch::set_num_threads(before); }
    } single_threaded_ops(options.shards);
    train_and_save(options, single_threaded_ops.before, start, report, log);
  }
  if (options.eval_scenes > 0) {
    const sam::Sam loaded = sam::Sam::load(options.out_dir);
    SamEvalOptions eval;
    eval.first_seed = 900000;  // a fixed block of test-range scenes, apart from the tests' own
    eval.num_scenes = options.eval_scenes;
    const IouReport points = evaluate_prompts(loaded, eval, PromptKind::kPoint);
    const IouReport boxes = evaluate_prompts(loaded, eval, PromptKind::kBox);
    SamEvalOptions heavy = eval;
    heavy.scene = heavy_overlap_options();
    const IouReport occluded = evaluate_prompts(loaded, heavy, PromptKind::kPoint);
    log(format("mean IoU on %.0f fresh scenes: one click %.4f, box %.4f, one click on heavy-overlap scenes %.4f",
               eval.num_scenes, points.mean_iou, boxes.mean_iou, occluded.mean_iou) +
        format(" (unrefined: %.4f, %.4f, %.4f)", points.unrefined_iou, boxes.unrefined_iou, occluded.unrefined_iou));
  }
  return report;
}

}  // namespace regionlm::tiny_shapes
