#pragma once
// Accuracy of a model on fresh tiny-shapes scenes, measured through the public API exactly as
// a user would ask: Model::encode once per image, Model::describe per question, greedy
// decoding, exact match of the answer text.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "regionlm/model.hpp"
#include "scene.hpp"

namespace regionlm::tiny_shapes {

/// Which scenes and questions.
struct EvalOptions {
  uint64_t first_seed = 0;    // scenes first_seed .. first_seed + num_scenes - 1
  int num_scenes = 300;       // scenes to generate
  SceneOptions scene;         // layout of the scenes (normal by default)
  int pairs_per_scene = 2;    // "left of?" and "same color?" questions asked per scene, each
  bool what_only = false;     // ask only "What is <region>?" (the masks-vs-boxes comparison)
  bool boxes = false;         // give each region as its visible-pixel box instead of its mask
  int max_new_tokens = 8;     // generation limit per answer; answers are at most 3 tokens
  size_t max_failures = 20;   // wrong answers kept in the report, for diagnosis
};

/// Correct / asked for one question kind.
struct Score {
  int correct = 0;
  int total = 0;
  double accuracy() const { return total ? static_cast<double>(correct) / total : 0.0; }
};

/// One wrong answer.
struct Failure {
  uint64_t seed;
  std::string prompt;
  std::vector<int> regions;
  std::string expected;
  std::string answer;
};

struct EvalReport {
  std::array<Score, kNumQuestionKinds> by_kind{};  // indexed by QuestionKind
  std::vector<Failure> failures;                    // the first max_failures wrong answers
  double seconds = 0;                               // wall time of the evaluation

  const Score& operator[](QuestionKind kind) const { return by_kind[static_cast<size_t>(kind)]; }
  /// All kinds together.
  Score overall() const;
};

/// The questions asked about one scene: for every object "What is", the short description,
/// colour and shape (only "What is" with what_only); then `pairs_per_scene` pairs for each
/// two-region kind, drawn from all_questions() with yes/no alternating where both exist.
std::vector<Question> evaluation_questions(const Scene& scene, const EvalOptions& options);

/// Generates the scenes and asks every question of evaluation_questions().
EvalReport evaluate(const Model& model, const EvalOptions& options);

/// A short table of the report, one kind per line (for logs and docs).
std::string format_report(const EvalReport& report);

/// The report's wrong answers, one line each: scene, regions, prompt, answer, expected.
std::string format_failures(const EvalReport& report);

}  // namespace regionlm::tiny_shapes
