#pragma once
// Trains the small Osprey on tiny-shapes from scratch and writes it as a checkpoint
// directory (config.json, tokenizer.model, added_tokens.json, model.safetensors,
// manifest.json) that Model::load reads like any Osprey checkpoint.
//
// Stages (docs/tiny-shapes.md explains the choices):
//  0. tokenizer: SentencePiece BPE on the task's prompt and answer text, plus <mask>/<pos>;
//  1. vision pretraining (the stand-in for Osprey's CLIP-pretrained trunk): trunk and mask
//     extractor learn to tell each region's colour and shape through small classification
//     heads that are thrown away afterwards;
//  2. mask-text alignment: extractor, projector and decoder learn to answer the questions,
//     trunk frozen;
//  3. end to end: everything, at a lower learning rate.
// Stages 2-3 feed the decoder exactly what inference feeds it (SequenceBuilder) and score the
// answer tokens only.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "model_spec.hpp"

namespace regionlm::tiny_shapes {

/// Length and learning rate of one stage.
struct StageSchedule {
  int steps = 0;    // optimizer steps; 0 skips the stage
  double lr = 1e-3;  // peak Adam learning rate: linear warm-up, then cosine decay to 5 %
};

struct TrainOptions {
  std::filesystem::path out_dir;  // model directory to (over)write
  uint64_t seed = 1;              // >= 1: initial weights, training scenes, question sampling
  TinyModelSpec model;            // sizes
  int vocab_size = 512;           // tokenizer pieces, upper bound
  StageSchedule pretrain{5000, 2e-3};  // stage 1 (vision pretraining)
  StageSchedule align{2000, 1e-3};     // stage 2 (mask-text alignment, trunk frozen)
  StageSchedule finetune{1000, 3e-4};  // stage 3 (end to end)
  int pretrain_images = 8;             // images per stage-1 step
  int images_per_step = 8;             // images per stage-2/3 step
  int conversations_per_image = 2;     // training sequences per image
  int turns_per_conversation = 3;      // questions per sequence (1 = single-turn only)
  double heavy_overlap_share = 0.2;    // fraction of heavy-overlap training scenes
  double large_scene_share = 0.25;     // fraction of scenes drawn at 129..256 px instead of 128
  int threads = 0;                     // torch intra-op threads; 0 = torch's default
  int log_every = 100;                 // steps between progress lines
  int eval_scenes = 60;                // fresh scenes scored at the end; 0 skips
  std::function<void(const std::string&)> log;  // progress sink; default: none
  std::vector<std::pair<std::string, std::string>> provenance;  // extra manifest "info"
};

/// Mean training loss over a window of steps.
struct LossPoint {
  std::string stage;  // "pretrain", "align", "finetune"
  int step = 0;       // last step of the window (1-based within the stage)
  double loss = 0;    // mean loss of the window
};

struct TrainReport {
  std::vector<LossPoint> losses;   // one point per log window
  std::vector<double> stage_seconds;  // wall time of tokenizer + each stage that ran
  double seconds = 0;              // total wall time, saving included
  double cpu_seconds = 0;          // process CPU time (all threads) at the end of saving
  int vocab_size = 0;              // tokenizer pieces actually trained
};

/// Runs every stage and writes options.out_dir. Throws ArgumentError for bad options,
/// IoError when the directory cannot be written.
TrainReport train(const TrainOptions& options);

/// Seed of the `index`-th training scene for a training seed: (seed << 32) | index. Test
/// scenes use seeds below 2^32, which training never draws.
uint64_t training_scene_seed(uint64_t seed, uint32_t index);

}  // namespace regionlm::tiny_shapes
