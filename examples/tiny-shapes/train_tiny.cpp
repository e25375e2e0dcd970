// regionlm-train-tiny: reproduces models/tiny-shapes from scratch, or checks a model directory.
//
//   regionlm-train-tiny --out models/tiny-shapes --seed 1
//   regionlm-train-tiny --verify models/tiny-shapes [--eval-scenes 100]
#include <chrono>
#include <iostream>
#include <string>

#include "evaluation.hpp"
#include "manifest.hpp"
#include "regionlm/error.hpp"
#include "regionlm/model.hpp"
#include "trainer.hpp"

namespace fs = std::filesystem;
namespace ts = regionlm::tiny_shapes;

namespace {

void usage(std::ostream& out) {
  const ts::TrainOptions d;
  out << "usage: regionlm-train-tiny --out DIR [options]      train from scratch, write DIR\n"
         "       regionlm-train-tiny --verify DIR [--eval-scenes N]   check a model directory\n"
         "options:\n"
         "  --seed N              training seed, 1 .. 2^32-1 (default " << d.seed << ")\n"
         "  --threads N           torch threads (default: torch's choice)\n"
         "  --pretrain-steps N    stage 1, vision pretraining (default " << d.pretrain.steps << ")\n"
         "  --align-steps N       stage 2, mask-text alignment (default " << d.align.steps << ")\n"
         "  --finetune-steps N    stage 3, end to end (default " << d.finetune.steps << ")\n"
         "  --eval-scenes N       fresh scenes scored after training / verification\n"
         "                        (default " << d.eval_scenes << "; 0 = none)\n"
         "  --log-every N         steps between progress lines (default " << d.log_every << ")\n";
}

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
  ts::TrainOptions options;
  options.log = [](const std::string& line) { std::cout << line << std::endl; };
  fs::path verify_dir;
  std::string command = "regionlm-train-tiny";
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      command += " " + arg;
      if (arg == "--help" || arg == "-h") {
        usage(std::cout);
        return 0;
      }
      if (i + 1 >= argc) throw regionlm::ArgumentError("option " + arg + " needs a value (see --help)");
      const std::string value = argv[++i];
      command += " " + value;
      if (arg == "--out") options.out_dir = value;
      else if (arg == "--verify") verify_dir = value;
      else if (arg == "--seed") options.seed = std::stoull(value);
      else if (arg == "--threads") options.threads = std::stoi(value);
      else if (arg == "--pretrain-steps") options.pretrain.steps = std::stoi(value);
      else if (arg == "--align-steps") options.align.steps = std::stoi(value);
      else if (arg == "--finetune-steps") options.finetune.steps = std::stoi(value);
      else if (arg == "--eval-scenes") options.eval_scenes = std::stoi(value);
      else if (arg == "--log-every") options.log_every = std::stoi(value);
      else throw regionlm::ArgumentError("unknown option " + arg + " (see --help)");
    }
    if (!verify_dir.empty()) return verify(verify_dir, options.eval_scenes);
    if (options.out_dir.empty()) {
      usage(std::cerr);
      return 2;
    }
    options.provenance.push_back({"command", command});
    const ts::TrainReport report = ts::train(options);
    std::cout << "wrote " << options.out_dir.string() << " (" << report.seconds << " s of training)\n";
  } catch (const std::invalid_argument&) {
    std::cerr << "regionlm-train-tiny: a numeric option has a non-numeric value\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "regionlm-train-tiny: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
