#pragma once
// Trains a small Segment Anything for the tiny-shapes world from scratch and writes it as a
// SAM location that Sam::load reads like a released checkpoint: model.safetensors under the
// official keys (image_encoder.*, prompt_encoder.*, mask_decoder.*), sam_config.json with
// segment-anything's build parameter names, and manifest.json (sizes + SHA-256).
//
// The model is the library's own ViT encoder, prompt encoder and mask decoder (the code that
// runs inference), trained with LibTorch autograd. Prompts are sampled the way SAM's
// interactive training samples them (docs/tiny-shapes.md, "The segmenter"):
//  - round 0: each object prompted once per entry of first_prompts, each prompt its own
//    decoder row: a positive point drawn uniformly from its visible mask, or its box with
//    jittered corners; the loss takes the best of the three multimask outputs (SAM's answer
//    to ambiguous prompts) plus the single-mask output;
//  - rounds 1..R: a corrective point drawn uniformly from the error region of the previous
//    round's mask (positive where the object was missed, negative where too much was taken),
//    with the previous round's low-resolution logits as the mask input;
//  - background clicks, whose target is the empty mask with IoU 0 (a click on no object
//    selects nothing, and automatic generation drops such masks by their predicted IoU).
// The target is always the object's visible pixels; a fixed share of scenes is heavy-overlap.
//
// Up to three stages: (1) dense pretraining of the encoder (and the unprompted decoder), (2)
// prompted masks, both at coarse_image_size, then (3) prompted masks at the model's own input,
// continuing stage 2's weights with the position tables resized: e.g. 64 px (16 x 16 tokens, a
// quarter of the cost per step) then 128 px (32 x 32 tokens), the finer grid telling two
// objects apart where they meet (docs/tiny-shapes.md, runs P1, Q1, Q2). The shipped model uses
// stages 1 and 2 only, at 64 px.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "regionlm/sam/config.hpp"
#include "sam_evaluation.hpp"

namespace regionlm::tiny_shapes {

/// Sizes of the small SAM (docs/tiny-shapes.md explains the choices).
struct TinySamSpec {
  int64_t image_size = 128;        // encoder input side, px (scenes are resized like SAM's)
  int64_t patch_size = 4;          // ViT patch side, px; embedding side = image_size / patch_size
  int64_t embed_dim = 64;          // ViT width
  int64_t depth = 4;               // ViT blocks
  int64_t num_heads = 4;           // ViT attention heads
  std::vector<int64_t> global_attn_indexes{1, 3};  // blocks with global attention
  int64_t window_size = 8;         // side of the other blocks' attention windows, tokens
  int64_t prompt_embed_dim = 64;   // decoder width (8 heads; a multiple of 8 * attention_downsample_rate)
  int64_t attention_downsample_rate = 2;  // decoder cross-attention width = prompt_embed_dim / this (SAM: 2)
  int64_t decoder_mlp_dim = 256;   // two-way transformer MLP width
  int64_t iou_head_hidden_dim = 64;  // IoU head width
  int64_t refinement_passes = 1;     // sam_config.json's Sam::best_masks default (docs/tiny-shapes.md, "Refinement")
};

/// The SamConfig of a spec (what Sam::load detects from the written weights).
sam::SamConfig make_sam_config(const TinySamSpec& spec);

struct SamTrainOptions {
  std::filesystem::path out_dir;  // SAM directory to (over)write
  uint64_t seed = 1;              // >= 1: initial weights, training scenes, prompt sampling
  TinySamSpec model;              // sizes
  int pretrain_steps = 1200;      // stage 1: dense pretraining (encoder, and decoder with
                                  // pixel_pretraining); 0 skips
  double pretrain_lr = 2e-3;      // stage 1 peak learning rate
  int pretrain_images = 16;       // scenes per stage-1 step
  bool pixel_pretraining = true;  // stage 1 also teaches the decoder's upscaled features each
                                  // low-resolution cell's colour (sam_trainer.cpp, DenseHead)
  bool soft_pixel_targets = false;  // pixel pretraining's target: the share of each cell every
                                    // colour covers (true) or the colour at the cell's centre
  bool instance_pretraining = false;  // pixel pretraining also learns, for pairs of nearby cells,
                                      // whether one object covers both (sam_trainer.cpp, DenseHead)
  int64_t coarse_image_size = 64;     // encoder input side of stages 1 and 2, px; 0 = model.image_size
                                      // (64 with a 128 px model: a 4x cheaper step, docs/tiny-shapes.md)
  int steps = 6000;               // stage 2 (prompts -> masks) optimizer steps
  double lr = 2e-3;               // peak Adam learning rate: linear warm-up, cosine decay to 5 %
  int fine_steps = 800;           // stage 3: stage 2's steps continued at model.image_size, the
                                  // position tables resized from the coarse token grid; 0 skips
  double fine_lr = 5e-4;          // stage 3 peak learning rate
  int fine_images_per_step = 2;   // stage 3 scenes per step; 0 = images_per_step (a 128 px step
                                  // costs 4x a 64 px one: fewer scenes buy more steps)
  int images_per_step = 4;        // scenes per step; every object of each is prompted
  int corrective_rounds = 1;      // rounds after the first, each adding an error-region point
  double corrective_share = 0.25;  // share of steps that run the corrective rounds
  std::vector<PromptKind> first_prompts{PromptKind::kPoint, PromptKind::kBox};  // round 0's prompts
                                  // of every object, one decoder row each (more rows per encoder pass)
  int background_clicks = 1;      // background clicks per scene (target: nothing)
  double heavy_overlap_share = 0.3;  // share of heavy-overlap training scenes
  double large_scene_share = 0.2;    // share of scenes drawn at 129..256 px (resized like SAM's input)
  std::filesystem::path init;     // start from this SAM directory's weights instead of fresh ones
                                  // (experiments, resuming); empty = from scratch, the default
  int threads = 0;                // torch intra-op threads; 0 = torch's default; with shards > 1,
                                  // the threads computing the parts (each op on one thread)
  int shards = 1;                 // parts each step's scenes are split into, computed side by side
                                  // with their own prompt draws; 1 = none (sam_trainer.cpp, step)
  int log_every = 50;             // steps between progress lines
  int eval_scenes = 100;          // fresh scenes scored at the end; 0 skips
  int eval_every = 0;             // steps between interim scores (the directory is written, 40
                                  // scenes scored); 0 = only at the end
  std::function<void(const std::string&)> log;  // progress sink; default: none
  std::vector<std::pair<std::string, std::string>> provenance;  // extra manifest "info"
};

/// Mean training loss over a window of steps.
struct SamLossPoint {
  int step = 0;        // last step of the window (1-based)
  double loss = 0;     // mean total loss (mask + IoU, all rounds) of the window
  double mask_iou = 0;  // mean IoU of round 0's chosen masks with their objects in the window
};

struct SamTrainReport {
  std::vector<SamLossPoint> pretrain_losses;  // stage 1, one point per log window
  std::vector<SamLossPoint> losses;  // stage 2, one point per log window
  double seconds = 0;                // wall time, saving included
  double cpu_seconds = 0;            // process CPU time (all threads) at the end of saving
  int64_t parameters = 0;            // trained parameter count
};

/// Files of a tiny SAM directory listed in its manifest.
inline const std::vector<std::string>& sam_directory_files() {
  static const std::vector<std::string> files{"sam_config.json", "model.safetensors"};
  return files;
}

/// Runs the training and writes options.out_dir. Throws ArgumentError for bad options,
/// IoError when the directory cannot be written.
SamTrainReport train_sam(const SamTrainOptions& options);

}  // namespace regionlm::tiny_shapes
