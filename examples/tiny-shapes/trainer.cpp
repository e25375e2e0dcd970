#include "trainer.hpp"

#include <torch/torch.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>

#include "evaluation.hpp"
#include "manifest.hpp"
#include "regionlm/error.hpp"
#include "regionlm/model.hpp"
#include "regionlm/osprey.hpp"
#include "regionlm/prompts.hpp"
#include "regionlm/region/masks.hpp"
#include "regionlm/region/region.hpp"
#include "regionlm/text/conversation.hpp"
#include "regionlm/vision/preprocess.hpp"
#include "scene.hpp"
#include "tokenizer_training.hpp"
#include "training_sequence.hpp"

namespace fs = std::filesystem;

namespace regionlm::tiny_shapes {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// CPU time of the whole process (all threads), s: on a shared machine the honest measure of
// what the training costs.
double cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

std::string format(const char* fmt, double a, double b = 0, double c = 0, double d = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, fmt, a, b, c, d);
  return buf;
}

// How often each question kind is asked in training (what, short, color, shape, left_of,
// same_color): the two-region kinds get extra weight because comparing two regions is the
// slowest skill to learn.
constexpr std::array<double, kNumQuestionKinds> kKindWeights{0.18, 0.06, 0.1, 0.16, 0.25, 0.25};

// Draws training scenes: seeds from training_scene_seed, layout options from their own stream.
class SceneSampler {
 public:
  explicit SceneSampler(const TrainOptions& options)
      : options_(options), rng_(options.seed * 0x9E3779B97F4A7C15ULL + 1) {}

  std::vector<Scene> draw(int count) {
    std::vector<Scene> scenes;
    for (int i = 0; i < count; ++i) {
      SceneOptions o = rng_.uniform() < options_.heavy_overlap_share ? heavy_overlap_options()
                                                                     : SceneOptions{};
      if (rng_.uniform() < options_.large_scene_share) o.image_size = rng_.integer(129, 256);
      scenes.push_back(generate_scene(training_scene_seed(options_.seed, next_++), o));
    }
    return scenes;
  }

 private:
  const TrainOptions& options_;
  Random rng_;
  uint32_t next_ = 0;
};

// Picks the questions of a training conversation.
class QuestionSampler {
 public:
  explicit QuestionSampler(uint64_t seed) : rng_(seed) {}

  std::vector<Question> draw(const Scene& scene, int turns) {
    std::array<std::vector<Question>, kNumQuestionKinds> pools;
    for (Question& q : all_questions(scene)) pools[static_cast<size_t>(q.kind)].push_back(std::move(q));
    std::vector<Question> out;
    for (int t = 0; t < turns; ++t) {
      double total = 0;
      for (size_t k = 0; k < pools.size(); ++k) total += pools[k].empty() ? 0 : kKindWeights[k];
      double r = rng_.uniform() * total;
      size_t kind = 0;
      while (pools[kind].empty() || (r -= kKindWeights[kind]) > 0) ++kind;
      const std::vector<Question>& pool = pools[kind];
      std::vector<const Question*> wanted;
      // "same color?" is mostly "no" among all pairs: ask yes and no equally often.
      if (static_cast<QuestionKind>(kind) == QuestionKind::kSameColor) {
        const std::string answer = rng_.uniform() < 0.5 ? "yes" : "no";
        for (const Question& q : pool) {
          if (q.answer == answer) wanted.push_back(&q);
        }
      }
      if (wanted.empty()) {
        for (const Question& q : pool) wanted.push_back(&q);
      }
      out.push_back(*wanted[static_cast<size_t>(rng_.integer(0, static_cast<int>(wanted.size()) - 1))]);
    }
    return out;
  }

 private:
  Random rng_;
};

// Model input of a batch of scenes, as Model::encode prepares one image.
torch::Tensor pixels_of(const std::vector<Scene>& scenes, const VisionConfig& cfg) {
  std::vector<torch::Tensor> rows;
  const auto options = torch::TensorOptions().dtype(torch::kFloat32);
  for (const Scene& s : scenes) rows.push_back(vision::preprocess(s.image, cfg, options));  // [1, 3, S, S]
  return torch::cat(rows, 0);  // [B, 3, S, S]
}

// Every object's visible mask, as Model::describe rasterises mask regions.
torch::Tensor masks_of(const Scene& scene) {
  std::vector<Region> regions;
  for (const SceneObject& o : scene.objects) regions.push_back(Region::from_mask(o.mask));
  return regions_to_masks(regions, scene.image.rows, scene.image.cols, torch::kCPU);  // [Q, H, W]
}

std::vector<torch::Tensor> features_of(const std::vector<torch::Tensor>& batch_features, int64_t b) {
  std::vector<torch::Tensor> out;
  for (const auto& f : batch_features) out.push_back(f.narrow(0, b, 1));  // [1, C, h, w]
  return out;
}

// Peak * warm-up * cosine decay to 5 % of the peak.
double learning_rate(const StageSchedule& s, int step) {
  const int warmup = std::max(1, std::min(100, s.steps / 10));
  const double ramp = std::min(1.0, static_cast<double>(step + 1) / warmup);
  const double progress = static_cast<double>(step) / std::max(1, s.steps);
  return s.lr * ramp * (0.05 + 0.95 * 0.5 * (1 + std::cos(M_PI * progress)));
}

void set_learning_rate(torch::optim::Adam& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) {
    static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
  }
}

std::vector<torch::Tensor> parameters_of(std::initializer_list<const torch::nn::Module*> modules) {
  std::vector<torch::Tensor> out;
  for (const auto* m : modules) {
    for (const auto& p : m->parameters()) out.push_back(p);
  }
  return out;
}

// Heads of stage 1, discarded afterwards. `region`: colour and shape of each region from its
// [mask token; position token]. `position`: the region's centroid (x, y as fractions of the
// image side) from its position token alone, so that "left of?" finds x there. `dense`: per
// feature level and cell, colour and shape (0 = background) of the object seen there; this
// dense signal teaches the trunk local shape cues much faster than the pooled one alone.
class PretrainHeadsImpl : public torch::nn::Module {
 public:
  PretrainHeadsImpl(int64_t hidden, const std::vector<int64_t>& level_channels) {
    region = register_module("region", torch::nn::Linear(2 * hidden, kNumColors + kNumShapes));
    position = register_module("position", torch::nn::Linear(hidden, 2));
    dense = register_module("dense", torch::nn::ModuleList());
    for (int64_t c : level_channels) dense->push_back(torch::nn::Linear(c, kDenseClasses));
    torch::NoGradGuard no_grad;
    for (auto& p : parameters()) p.dim() >= 2 ? p.normal_(0.0, 0.02) : p.zero_();
  }
  static constexpr int64_t kDenseClasses = (kNumColors + 1) + (kNumShapes + 1);

  torch::nn::Linear region{nullptr};
  torch::nn::Linear position{nullptr};
  torch::nn::ModuleList dense{nullptr};
};
TORCH_MODULE(PretrainHeads);

// Targets of the dense heads on an h x w level: colour + 1 and shape + 1 of the object visible
// at each cell centre of the original image, 0 for background. [B, h, w] int64 each.
std::pair<torch::Tensor, torch::Tensor> dense_targets(const std::vector<Scene>& scenes, int64_t h, int64_t w) {
  const auto batch = static_cast<int64_t>(scenes.size());
  torch::Tensor colors = torch::zeros({batch, h, w}, torch::kInt64);
  torch::Tensor shapes = torch::zeros({batch, h, w}, torch::kInt64);
  auto c = colors.accessor<int64_t, 3>();
  auto s = shapes.accessor<int64_t, 3>();
  for (int64_t b = 0; b < batch; ++b) {
    const Scene& scene = scenes[static_cast<size_t>(b)];
    for (int64_t i = 0; i < h; ++i) {
      const int y = static_cast<int>((static_cast<double>(i) + 0.5) * scene.image.rows / h);
      for (int64_t j = 0; j < w; ++j) {
        const int x = static_cast<int>((static_cast<double>(j) + 0.5) * scene.image.cols / w);
        for (const SceneObject& o : scene.objects) {
          if (o.mask(y, x)) {
            c[b][i][j] = static_cast<int64_t>(o.color) + 1;
            s[b][i][j] = static_cast<int64_t>(o.shape) + 1;
            break;
          }
        }
      }
    }
  }
  return {colors, shapes};
}

// Runs one stage's optimisation loop around `step_loss` and logs progress.
class StageRunner {
 public:
  StageRunner(std::string name, const StageSchedule& schedule, const TrainOptions& options,
              TrainReport& report)
      : name_(std::move(name)), schedule_(schedule), options_(options), report_(report) {}

  void run(torch::optim::Adam& optimizer, const std::vector<torch::Tensor>& params,
           const std::function<torch::Tensor()>& step_loss) {
    const auto start = Clock::now();
    double window_sum = 0;
    int window_count = 0;
    for (int step = 0; step < schedule_.steps; ++step) {
      const double lr = learning_rate(schedule_, step);
      set_learning_rate(optimizer, lr);
      optimizer.zero_grad();
      const torch::Tensor loss = step_loss();
      loss.backward();
      torch::nn::utils::clip_grad_norm_(params, 1.0);
      optimizer.step();
      window_sum += loss.item<double>();
      ++window_count;
      const bool last = step + 1 == schedule_.steps;
      if ((step + 1) % std::max(1, options_.log_every) == 0 || last) {
        const double mean = window_sum / window_count;
        report_.losses.push_back({name_, step + 1, mean});
        if (options_.log) {
          const double elapsed = seconds_since(start);
          options_.log("[" + name_ + "] step " + std::to_string(step + 1) + "/" +
                       std::to_string(schedule_.steps) +
                       format("  loss %.4f  lr %.2e  %.2f steps/s", mean, lr, (step + 1) / elapsed) +
                       format("  (%.0f s, process CPU %.0f s)", elapsed, cpu_seconds()));
        }
        window_sum = 0;
        window_count = 0;
      }
    }
    report_.stage_seconds.push_back(seconds_since(start));
  }

 private:
  std::string name_;
  const StageSchedule& schedule_;
  const TrainOptions& options_;
  TrainReport& report_;
};

void validate(const TrainOptions& o) {
  if (o.out_dir.empty()) throw ArgumentError("TrainOptions::out_dir is empty");
  if (o.seed == 0 || o.seed >= (uint64_t{1} << 32)) {
    throw ArgumentError("TrainOptions::seed must be in [1, 2^32) (training scenes are seeded "
                        "(seed << 32) | index, above every test seed), got " + std::to_string(o.seed));
  }
  for (const StageSchedule* s : {&o.pretrain, &o.align, &o.finetune}) {
    if (s->steps < 0 || !(s->lr > 0)) throw ArgumentError("stage steps must be >= 0 and lr > 0");
  }
  if (o.pretrain_images < 1 || o.images_per_step < 1 || o.conversations_per_image < 1 ||
      o.turns_per_conversation < 1) {
    throw ArgumentError("images, conversations and turns per step must be >= 1");
  }
}

}  // namespace

uint64_t training_scene_seed(uint64_t seed, uint32_t index) { return (seed << 32) | index; }

TrainReport train(const TrainOptions& options) {
  validate(options);
  const auto start = Clock::now();
  const auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };
  if (options.threads > 0) torch::set_num_threads(options.threads);
  torch::manual_seed(options.seed);
  fs::create_directories(options.out_dir);
  TrainReport report;

  // Stage 0: the tokenizer, then the model sized for its vocabulary.
  const std::string template_name = prompts::kConversationTemplate;
  report.vocab_size = train_tokenizer(tokenizer_corpus(template_name), options.out_dir,
                                      {options.vocab_size});
  report.stage_seconds.push_back(seconds_since(start));
  const text::Tokenizer tokenizer = text::Tokenizer::load(options.out_dir);
  const OspreyConfig config = make_config(options.model, report.vocab_size);
  Osprey model(config, torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCPU));
  initialize(*model, 1.0);
  const SequenceBuilder builder(tokenizer, text::conversation_template(template_name),
                                model->image_token_count(), config.text.max_position_embeddings);
  log("tokenizer: " + std::to_string(report.vocab_size) + " pieces; model: " +
      std::to_string(model->parameters().size()) + " tensors");

  SceneSampler scenes(options);
  QuestionSampler questions(options.seed + 17);

  // Stage 1: trunk + extractor learn each region's colour and shape.
  if (options.pretrain.steps > 0) {
    PretrainHeads heads(config.text.hidden_size, config.vision.dims);
    const auto params = parameters_of({model->trunk.get(), model->mask_extractor.get(), heads.get()});
    torch::optim::Adam optimizer(params, torch::optim::AdamOptions(options.pretrain.lr).betas({0.9, 0.95}));
    StageRunner(std::string("pretrain"), options.pretrain, options, report).run(optimizer, params, [&] {
      const std::vector<Scene> batch = scenes.draw(options.pretrain_images);
      const auto features = model->vision_features(pixels_of(batch, config.vision));  // res2..res5
      std::vector<torch::Tensor> logits, positions;
      std::vector<int64_t> colors, shapes;
      std::vector<float> centroids;
      for (size_t b = 0; b < batch.size(); ++b) {
        const RegionTokens tokens =
            model->region_tokens(features_of(features, static_cast<int64_t>(b)), masks_of(batch[b]));
        logits.push_back(heads->region(torch::cat({tokens.mask_tokens, tokens.pos_tokens}, 1)));  // [Q, 10]
        positions.push_back(heads->position(tokens.pos_tokens));  // [Q, 2]
        for (const SceneObject& o : batch[b].objects) {
          colors.push_back(static_cast<int64_t>(o.color));
          shapes.push_back(static_cast<int64_t>(o.shape));
          centroids.push_back(static_cast<float>(o.centroid.x / batch[b].image.cols));
          centroids.push_back(static_cast<float>(o.centroid.y / batch[b].image.rows));
        }
      }
      const torch::Tensor all = torch::cat(logits, 0);  // [sum Q, 10]
      const torch::Tensor centroid = torch::tensor(centroids).view({-1, 2});  // [sum Q, 2]
      // Centroids are fractions in [0, 1]: the factor puts their error on the scale of the
      // classification losses (10 px off on a 128 px side then costs about 0.06).
      torch::Tensor loss =
          torch::cross_entropy_loss(all.narrow(1, 0, kNumColors), torch::tensor(colors)) +
          torch::cross_entropy_loss(all.narrow(1, kNumColors, kNumShapes), torch::tensor(shapes)) +
          10.0 * torch::mse_loss(torch::cat(positions, 0), centroid);
      for (size_t level = 0; level < features.size(); ++level) {
        const torch::Tensor& f = features[level];  // [B, C, h, w]
        const auto [color_target, shape_target] = dense_targets(batch, f.size(2), f.size(3));
        const torch::Tensor out = heads->dense[level]->as<torch::nn::Linear>()->forward(
            f.permute({0, 2, 3, 1}));  // [B, h, w, 12]
        loss = loss +
               torch::cross_entropy_loss(out.narrow(3, 0, kNumColors + 1).reshape({-1, kNumColors + 1}),
                                         color_target.reshape(-1)) +
               torch::cross_entropy_loss(
                   out.narrow(3, kNumColors + 1, kNumShapes + 1).reshape({-1, kNumShapes + 1}),
                   shape_target.reshape(-1));
      }
      return loss;
    });
  }

  // Stages 2-3: answer questions, inputs laid out as at inference, answer tokens scored.
  const auto language_loss = [&](bool train_trunk) {
    const std::vector<Scene> batch = scenes.draw(options.images_per_step);
    std::vector<torch::Tensor> features;
    {
      torch::AutoGradMode grad(train_trunk);
      features = model->vision_features(pixels_of(batch, config.vision));  // res2..res5
    }
    const torch::Tensor image_tokens = model->image_tokens(features);  // [B, N, H]
    std::vector<torch::Tensor> rows;
    std::vector<torch::Tensor> targets;
    for (size_t b = 0; b < batch.size(); ++b) {
      const RegionTokens tokens =
          model->region_tokens(features_of(features, static_cast<int64_t>(b)), masks_of(batch[b]));
      for (int c = 0; c < options.conversations_per_image; ++c) {
        const TrainingSequence seq = builder.build(questions.draw(batch[b], options.turns_per_conversation));
        const torch::Tensor index = torch::tensor(std::vector<int64_t>(seq.objects.begin(), seq.objects.end()));
        const RegionTokens asked{tokens.mask_tokens.index_select(0, index), tokens.pos_tokens.index_select(0, index)};
        rows.push_back(model->embed(seq.layout, image_tokens[static_cast<int64_t>(b)], asked).squeeze(0));  // [L, H]
        targets.push_back(torch::tensor(seq.targets));  // [L]
      }
    }
    // Right padding is invisible to the real positions of a causal decoder.
    const torch::Tensor embeds = torch::nn::utils::rnn::pad_sequence(rows, true);  // [S, T, H]
    const torch::Tensor target = torch::nn::utils::rnn::pad_sequence(targets, true, kIgnoreTarget);  // [S, T]
    const torch::Tensor hidden = model->llama->model->forward_train(embeds);  // [S, T, H]
    const torch::Tensor scored = target.ne(kIgnoreTarget);                     // [S, T]
    const torch::Tensor logits = model->llama->logits(hidden.index({scored}));  // [M, V]
    return torch::cross_entropy_loss(logits, target.index({scored}));
  };
  if (options.align.steps > 0) {
    const auto params = parameters_of({model->projector.get(), model->mask_extractor.get(), model->llama.get()});
    torch::optim::Adam optimizer(params, torch::optim::AdamOptions(options.align.lr).betas({0.9, 0.95}));
    StageRunner(std::string("align"), options.align, options, report)
        .run(optimizer, params, [&] { return language_loss(false); });
  }
  if (options.finetune.steps > 0) {
    const auto params = model->parameters();
    torch::optim::Adam optimizer(params, torch::optim::AdamOptions(options.finetune.lr).betas({0.9, 0.95}));
    StageRunner(std::string("finetune"), options.finetune, options, report)
        .run(optimizer, params, [&] { return language_loss(true); });
  }

  // The checkpoint, in Osprey's layout, and its manifest.
  save_osprey(model, options.out_dir);
  std::vector<std::pair<std::string, std::string>> info{
      {"trainer", "regionlm-train-tiny"},
      {"seed", std::to_string(options.seed)},
      {"steps", std::to_string(options.pretrain.steps) + " pretrain + " + std::to_string(options.align.steps) +
                    " align + " + std::to_string(options.finetune.steps) + " finetune"}};
  info.insert(info.end(), options.provenance.begin(), options.provenance.end());
  write_manifest(options.out_dir, {"config.json", "tokenizer.model", "added_tokens.json", "model.safetensors"},
                 info);
  report.seconds = seconds_since(start);
  report.cpu_seconds = cpu_seconds();
  log(format("trained and saved in %.0f s (process CPU %.0f s)", report.seconds, report.cpu_seconds));

  if (options.eval_scenes > 0) {
    EvalOptions eval;
    eval.first_seed = 900000;  // a fixed block of test-range scenes, apart from the tests' own
    eval.num_scenes = options.eval_scenes;
    const EvalReport r = evaluate(Model::load(options.out_dir), eval);
    log("accuracy on " + std::to_string(eval.num_scenes) + " fresh scenes (greedy, exact match):\n" +
        format_report(r));
  }
  return report;
}

}  // namespace regionlm::tiny_shapes
