// regionlm-train-tiny: reproduces models/tiny-shapes from scratch, or checks a model directory.
//
//   regionlm-train-tiny --out models/tiny-shapes --seed 1
//   regionlm-train-tiny --verify models/tiny-shapes [--eval-scenes 100]
//   regionlm-train-tiny --help
#include <chrono>
#include <iostream>
#include <string>

#include "common/arguments.hpp"
#include "evaluation.hpp"
#include "manifest.hpp"
#include "regionlm/error.hpp"
#include "regionlm/model.hpp"
#include "trainer.hpp"

namespace fs = std::filesystem;
namespace ts = regionlm::tiny_shapes;

namespace {

int verify(const fs::path& dir, int eval_scenes) {
  const auto entries = ts::verify_manifest(dir);
  std::cout << dir.string() << ": " << entries.size() << " files match " << ts::kManifestFile << "\n";
  const regionlm::Model model = regionlm::Model::load(dir);
  std::cout << "loaded with Model::load\n";
  if (eval_scenes > 0) {
    ts::EvalOptions eval;
    eval.first_seed = 900000;
    eval.num_scenes = eval_scenes;
    const ts::EvalReport report = ts::evaluate(model, eval);
    std::cout << "accuracy on " << eval_scenes << " fresh scenes:\n"
              << ts::format_report(report) << ts::format_failures(report);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using regionlm::examples::ArgumentParser;
  using regionlm::examples::parse_int;
  ts::TrainOptions options;
  options.log = [](const std::string& line) { std::cout << line << std::endl; };
  std::string out_dir, verify_dir;
  const auto integer = [](int* target, const std::string& flag) {
    return [target, flag](const std::string& v) { *target = static_cast<int>(parse_int(v, flag)); };
  };
  ArgumentParser parser("regionlm-train-tiny",
                        "Reproduces models/tiny-shapes from scratch (--out DIR), or checks a model directory "
                        "(--verify DIR).");
  parser.option("out", "DIR", "train from scratch and write the model directory DIR", &out_dir);
  parser.option("verify", "DIR", "check DIR's manifest, load it, score --eval-scenes fresh scenes", &verify_dir);
  parser.option("seed", "N", "training seed, 1 .. 2^32-1 (default " + std::to_string(options.seed) + ")", &options.seed);
  parser.option("threads", "N", "torch threads (default: torch's choice)", integer(&options.threads, "--threads"));
  parser.option("pretrain-steps", "N", "stage 1, vision pretraining (default " + std::to_string(options.pretrain.steps) + ")",
                integer(&options.pretrain.steps, "--pretrain-steps"));
  parser.option("align-steps", "N", "stage 2, mask-text alignment (default " + std::to_string(options.align.steps) + ")",
                integer(&options.align.steps, "--align-steps"));
  parser.option("finetune-steps", "N", "stage 3, end to end (default " + std::to_string(options.finetune.steps) + ")",
                integer(&options.finetune.steps, "--finetune-steps"));
  parser.option("eval-scenes", "N",
                "fresh scenes scored after training / verification (default " + std::to_string(options.eval_scenes) +
                    "; 0 = none)",
                integer(&options.eval_scenes, "--eval-scenes"));
  parser.option("log-every", "N", "steps between progress lines (default " + std::to_string(options.log_every) + ")",
                integer(&options.log_every, "--log-every"));
  try {
    if (!parser.parse(argc, argv)) return 0;
    if (!verify_dir.empty()) return verify(verify_dir, options.eval_scenes);
    if (out_dir.empty()) throw regionlm::examples::UsageError("give --out DIR (train) or --verify DIR (check)");
    options.out_dir = out_dir;
    // The manifest records the command that made the model.
    std::string command = parser.program();
    for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];
    options.provenance.push_back({"command", command});
    const ts::TrainReport report = ts::train(options);
    std::cout << "wrote " << options.out_dir.string() << " (" << report.seconds << " s of training)\n";
  } catch (const std::exception& e) {
    return regionlm::examples::report_error(parser.program(), e);
  }
  return 0;
}
