#include "evaluation.hpp"

#include <chrono>
#include <iomanip>
#include <sstream>

#include "regionlm/region/region.hpp"

namespace regionlm::tiny_shapes {
namespace {

Region region_of(const SceneObject& object, bool box) {
  if (!box) return Region::from_mask(object.mask);
  const cv::Rect& b = object.box;
  return Region::from_box(b.x, b.y, b.x + b.width, b.y + b.height);
}

}  // namespace

Score EvalReport::overall() const {
  Score s;
  for (const Score& k : by_kind) {
    s.correct += k.correct;
    s.total += k.total;
  }
  return s;
}

std::vector<Question> evaluation_questions(const Scene& scene, const EvalOptions& options) {
  const std::vector<Question> all = all_questions(scene);
  std::vector<Question> out;
  for (const Question& q : all) {
    if (q.regions.size() == 1 && (!options.what_only || q.kind == QuestionKind::kWhat)) {
      out.push_back(q);
    }
  }
  if (options.what_only) return out;
  for (const QuestionKind kind : {QuestionKind::kLeftOf, QuestionKind::kSameColor}) {
    std::vector<Question> yes, no;
    for (const Question& q : all) {
      if (q.kind == kind) (q.answer == "yes" ? yes : no).push_back(q);
    }
    Random rng(scene.seed * 7919 + static_cast<uint64_t>(kind));
    for (int i = 0; i < options.pairs_per_scene && !(yes.empty() && no.empty()); ++i) {
      std::vector<Question>& pool = ((i % 2 == 0 && !yes.empty()) || no.empty()) ? yes : no;
      const int pick = rng.integer(0, static_cast<int>(pool.size()) - 1);
      out.push_back(pool[static_cast<size_t>(pick)]);
      pool.erase(pool.begin() + pick);
    }
  }
  return out;
}

EvalReport evaluate(const Model& model, const EvalOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  EvalReport report;
  GenerationOptions generation;
  generation.max_new_tokens = options.max_new_tokens;
  for (int s = 0; s < options.num_scenes; ++s) {
    const Scene scene = generate_scene(options.first_seed + static_cast<uint64_t>(s), options.scene);
    const EncodedImage image = model.encode(scene.image);
    for (const Question& q : evaluation_questions(scene, options)) {
      std::vector<Region> regions;
      for (int index : q.regions) regions.push_back(region_of(scene.objects[static_cast<size_t>(index)], options.boxes));
      const Answer answer = model.describe(image, regions, q.prompt, generation);
      Score& score = report.by_kind[static_cast<size_t>(q.kind)];
      ++score.total;
      if (answer.text == q.answer) {
        ++score.correct;
      } else if (report.failures.size() < options.max_failures) {
        report.failures.push_back({scene.seed, q.prompt, q.regions, q.answer, answer.text});
      }
    }
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

std::string format_report(const EvalReport& report) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1);
  for (int k = 0; k < kNumQuestionKinds; ++k) {
    const Score& s = report.by_kind[static_cast<size_t>(k)];
    if (s.total == 0) continue;
    out << "  " << std::left << std::setw(11) << question_kind_name(static_cast<QuestionKind>(k))
        << std::right << std::setw(6) << 100.0 * s.accuracy() << " %  (" << s.correct << "/"
        << s.total << ")\n";
  }
  const Score all = report.overall();
  out << "  " << std::left << std::setw(11) << "all" << std::right << std::setw(6)
      << 100.0 * all.accuracy() << " %  (" << all.correct << "/" << all.total << ")  in "
      << std::setprecision(1) << report.seconds << " s\n";
  return out.str();
}

std::string format_failures(const EvalReport& report) {
  std::ostringstream out;
  for (const Failure& f : report.failures) {
    out << "  wrong: scene " << f.seed << ", regions";
    for (int r : f.regions) out << " " << r;
    out << ": \"" << f.prompt << "\" -> \"" << f.answer << "\" (expected \"" << f.expected << "\")\n";
  }
  return out.str();
}

}  // namespace regionlm::tiny_shapes
