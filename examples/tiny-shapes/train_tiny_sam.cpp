// regionlm-train-tiny-sam: reproduces models/tiny-shapes/sam from scratch, or checks a SAM directory.
//
//   regionlm-train-tiny-sam --out models/tiny-shapes/sam --soft-pixel-targets --instance-pretraining --threads 2 --shards 2
//   regionlm-train-tiny-sam --verify models/tiny-shapes/sam [--eval-scenes 100]
//   regionlm-train-tiny-sam --help
#include <iomanip>
#include <iostream>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <sstream>
#include <string>

#include "common/arguments.hpp"
#include "manifest.hpp"
#include "regionlm/error.hpp"
#include "regionlm/sam/sam.hpp"
#include "sam_evaluation.hpp"
#include "sam_trainer.hpp"

namespace fs = std::filesystem;
namespace ts = regionlm::tiny_shapes;

namespace {

std::string percent(double share) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << 100 * share << " %";
  return out.str();
}

// "point,box" for {kPoint, kBox}: --first-prompts' spelling.
std::string prompt_list(const std::vector<ts::PromptKind>& kinds) {
  std::string out;
  for (const ts::PromptKind kind : kinds) out += std::string(out.empty() ? "" : ",") + (kind == ts::PromptKind::kBox ? "box" : "point");
  return out;
}

std::vector<ts::PromptKind> parse_prompt_list(const std::string& list) {
  std::vector<ts::PromptKind> kinds;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    if (item == "point") {
      kinds.push_back(ts::PromptKind::kPoint);
    } else if (item == "box") {
      kinds.push_back(ts::PromptKind::kBox);
    } else {
      throw regionlm::examples::UsageError("--first-prompts: expected a comma-separated list of point and box, got \"" +
                                           list + "\"");
    }
  }
  if (kinds.empty()) throw regionlm::examples::UsageError("--first-prompts: the list is empty");
  return kinds;
}

int verify(const fs::path& dir, int eval_scenes) {
  const auto entries = ts::verify_manifest(dir);
  std::cout << dir.string() << ": " << entries.size() << " files match " << ts::kManifestFile << "\n";
  const regionlm::sam::Sam sam = regionlm::sam::Sam::load(dir);
  std::cout << "loaded with Sam::load: " << sam.config().describe() << "\n";
  if (eval_scenes <= 0) return 0;
  ts::SamEvalOptions eval;
  eval.first_seed = 900000;
  eval.num_scenes = eval_scenes;
  std::cout << std::fixed << std::setprecision(4);
  const auto point = ts::evaluate_prompts(sam, eval, ts::PromptKind::kPoint);
  std::cout << "mean IoU on " << eval_scenes << " fresh scenes (Sam::best_masks: the candidate with the highest "
            << "predicted IoU, refined " << sam.config().refinement_passes << " time(s)):\n"
            << "  one click         " << point.mean_iou << "  (" << point.objects << " objects, " << point.below_half
            << " below 0.5; unrefined " << point.unrefined_iou << ", best of three by true IoU " << point.oracle_iou
            << ", single-mask output " << point.single_iou << ")\n";
  const auto box = ts::evaluate_prompts(sam, eval, ts::PromptKind::kBox);
  std::cout << "  box               " << box.mean_iou << "  (" << box.below_half << " below 0.5; unrefined "
            << box.unrefined_iou << ", best of three " << box.oracle_iou << ", single-mask output " << box.single_iou
            << ")\n";
  ts::SamEvalOptions heavy = eval;
  heavy.scene = ts::heavy_overlap_options();
  const auto occluded = ts::evaluate_prompts(sam, heavy, ts::PromptKind::kPoint);
  std::cout << "  one click, heavy overlap " << occluded.mean_iou << "  (" << occluded.objects << " objects, "
            << occluded.below_half << " below 0.5; unrefined " << occluded.unrefined_iou << ", best of three "
            << occluded.oracle_iou << ", single-mask output " << occluded.single_iou << ")\n";
  const auto automatic = ts::evaluate_automatic(sam, eval, ts::tiny_automatic_options());
  std::cout << "automatic generation (16 x 16 grid): found " << percent(automatic.found_share()) << " of "
            << automatic.objects << " objects (IoU >= 0.8), " << percent(automatic.spurious_share()) << " of "
            << automatic.masks << " masks spurious\n";
  std::cout << "took " << std::setprecision(1) << point.seconds + box.seconds + occluded.seconds + automatic.seconds
            << " s\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
#if defined(__GLIBC__)
  // Training allocates and frees the same large activations every step. glibc's defaults hand
  // them back to the kernel each time and fault them in again (13 % of a 128 px step's time was
  // in the kernel); keeping them in the heap makes the step 6 % faster (docs/tiny-shapes.md).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // the largest glibc accepts
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 256 << 20);
#endif
  using regionlm::examples::ArgumentParser;
  using regionlm::examples::parse_int;
  using regionlm::examples::format_number;
  ts::SamTrainOptions options;
  options.log = [](const std::string& line) { std::cout << line << std::endl; };
  std::string out_dir, verify_dir;
  const auto integer = [](auto* target, const std::string& flag) {
    return [target, flag](const std::string& v) {
      *target = static_cast<std::remove_reference_t<decltype(*target)>>(parse_int(v, flag));
    };
  };
  ArgumentParser parser("regionlm-train-tiny-sam",
                        "Reproduces models/tiny-shapes/sam (a small Segment Anything for the tiny-shapes world) from "
                        "scratch (--out DIR), or checks a SAM directory (--verify DIR).");
  parser.option("out", "DIR", "train from scratch and write the SAM directory DIR", &out_dir);
  parser.option("verify", "DIR", "check DIR's manifest, load it, score --eval-scenes fresh scenes", &verify_dir);
  parser.option("seed", "N", "training seed, 1 .. 2^32-1 (default " + std::to_string(options.seed) + ")", &options.seed);
  parser.option("threads", "N", "torch threads (default: torch's choice)", integer(&options.threads, "--threads"));
  parser.option("shards", "N",
                "split each step's scenes into N parts computed side by side, one thread each (default " +
                    std::to_string(options.shards) + ": all --threads inside every op)",
                integer(&options.shards, "--shards"));
  parser.option("steps", "N", "stage 2 optimizer steps (default " + std::to_string(options.steps) + ")",
                integer(&options.steps, "--steps"));
  parser.option("coarse-image-size", "N",
                "encoder input side of stages 1 and 2, px; 0 = --image-size (default " +
                    std::to_string(options.coarse_image_size) + ")",
                integer(&options.coarse_image_size, "--coarse-image-size"));
  parser.option(
      "fine-steps", "N",
      "stage 3: optimizer steps at --image-size after stage 2 (default " + std::to_string(options.fine_steps) + ")",
      integer(&options.fine_steps, "--fine-steps"));
  parser.option("fine-lr", "X", "stage 3 peak learning rate (default " + format_number(options.fine_lr) + ")",
                [&](const std::string& v) { options.fine_lr = regionlm::examples::parse_number(v, "--fine-lr"); });
  parser.option("fine-images-per-step", "N",
                "stage 3 scenes per step; 0 = --images-per-step (default " +
                    std::to_string(options.fine_images_per_step) + ")",
                integer(&options.fine_images_per_step, "--fine-images-per-step"));
  parser.option("images-per-step", "N", "scenes per step (default " + std::to_string(options.images_per_step) + ")",
                integer(&options.images_per_step, "--images-per-step"));
  parser.option("pretrain-steps", "N",
                "stage 1, dense encoder pretraining (default " + std::to_string(options.pretrain_steps) + ")",
                integer(&options.pretrain_steps, "--pretrain-steps"));
  parser.option("corrective-share", "X", "share of steps with corrective rounds (default " + format_number(options.corrective_share) + ")",
                [&](const std::string& v) { options.corrective_share = regionlm::examples::parse_number(v, "--corrective-share"); });
  parser.option("corrective-rounds", "N",
                "error-region rounds after the first (default " + std::to_string(options.corrective_rounds) + ")",
                integer(&options.corrective_rounds, "--corrective-rounds"));
  parser.option("lr", "X", "peak learning rate (default " + format_number(options.lr) + ")",
                [&](const std::string& v) { options.lr = regionlm::examples::parse_number(v, "--lr"); });
  parser.option("embed-dim", "N", "ViT width (default " + std::to_string(options.model.embed_dim) + ")",
                integer(&options.model.embed_dim, "--embed-dim"));
  parser.option("depth", "N", "ViT blocks (default " + std::to_string(options.model.depth) + ")",
                integer(&options.model.depth, "--depth"));
  parser.option("heavy-overlap-share", "X", "share of heavy-overlap training scenes (default " + format_number(options.heavy_overlap_share) + ")",
                [&](const std::string& v) {
                  options.heavy_overlap_share = regionlm::examples::parse_number(v, "--heavy-overlap-share");
                });
  parser.option("first-prompts", "LIST",
                "round 0's prompts of every object, comma-separated: point (a random interior pixel), box "
                "(its jittered box) (default " + prompt_list(options.first_prompts) + ")",
                [&](const std::string& v) { options.first_prompts = parse_prompt_list(v); });
  parser.option("image-size", "N", "encoder input side, px (default " + std::to_string(options.model.image_size) + ")",
                integer(&options.model.image_size, "--image-size"));
  parser.option("patch-size", "N", "ViT patch side, px (default " + std::to_string(options.model.patch_size) + ")",
                integer(&options.model.patch_size, "--patch-size"));
  parser.option("window", "N", "side of the windowed blocks' windows, tokens (default " +
                    std::to_string(options.model.window_size) + ")",
                integer(&options.model.window_size, "--window"));
  parser.option("prompt-dim", "N", "decoder width (default " + std::to_string(options.model.prompt_embed_dim) + ")",
                integer(&options.model.prompt_embed_dim, "--prompt-dim"));
  parser.option("attention-downsample", "N",
                "decoder cross-attention width divisor (default " +
                    std::to_string(options.model.attention_downsample_rate) + ")",
                integer(&options.model.attention_downsample_rate, "--attention-downsample"));
  parser.option("images-per-pretrain-step", "N",
                "scenes per stage-1 step (default " + std::to_string(options.pretrain_images) + ")",
                integer(&options.pretrain_images, "--images-per-pretrain-step"));
  parser.option("pretrain-lr", "X", "stage 1 peak learning rate (default 2e-3)",
                [&](const std::string& v) { options.pretrain_lr = regionlm::examples::parse_number(v, "--pretrain-lr"); });
  bool no_pixel_pretraining = false;
  parser.flag("no-pixel-pretraining",
              "stage 1 trains the encoder alone, not also the decoder's upscaled features (every cell's colour)",
              &no_pixel_pretraining);
  parser.flag("soft-pixel-targets",
              "pixel pretraining learns the share of each cell every colour covers, not the colour at its centre",
              &options.soft_pixel_targets);
  parser.flag("instance-pretraining",
              "pixel pretraining also learns whether one object covers both cells of nearby pairs",
              &options.instance_pretraining);
  parser.option("init", "DIR", "start from DIR's weights (experiments, resuming; default: from scratch)",
                [&](const std::string& v) { options.init = v; });
  parser.option("eval-scenes", "N",
                "fresh scenes scored after training / verification (default " + std::to_string(options.eval_scenes) +
                    "; 0 = none)",
                integer(&options.eval_scenes, "--eval-scenes"));
  parser.option("eval-every", "N", "steps between interim scores on 40 scenes (default 0: none)",
                integer(&options.eval_every, "--eval-every"));
  parser.option("log-every", "N", "steps between progress lines (default " + std::to_string(options.log_every) + ")",
                integer(&options.log_every, "--log-every"));
  try {
    if (!parser.parse(argc, argv)) return 0;
    if (no_pixel_pretraining) options.pixel_pretraining = false;
    if (!verify_dir.empty()) return verify(verify_dir, options.eval_scenes);
    if (out_dir.empty()) throw regionlm::examples::UsageError("give --out DIR (train) or --verify DIR (check)");
    options.out_dir = out_dir;
    std::string command = parser.program();
    for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];
    options.provenance.push_back({"command", command});
    const ts::SamTrainReport report = ts::train_sam(options);
    std::cout << "wrote " << options.out_dir.string() << " (" << report.seconds << " s)\n";
  } catch (const std::exception& e) {
    return regionlm::examples::report_error(parser.program(), e);
  }
  return 0;
}
