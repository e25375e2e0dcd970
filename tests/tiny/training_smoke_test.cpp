// The trainer stays alive: a few dozen steps from scratch (every stage, the tokenizer, the
// checkpoint writer) lower the loss and leave a directory that Model::load accepts and whose
// manifest matches.
#include <gtest/gtest.h>

#include <numeric>

#include "manifest.hpp"
#include "regionlm/model.hpp"
#include "test_util.hpp"
#include "trainer.hpp"

namespace ts = regionlm::tiny_shapes;

TEST(TinyTraining, FewStepsFromScratchLowerTheLoss) {
  ts::TrainOptions options;
  options.out_dir = regionlm::test::scratch_dir("tiny-training") / "model";
  options.seed = 7;
  options.pretrain = {10, 2e-3};
  options.align = {40, 2e-3};
  options.finetune = {5, 3e-4};
  options.images_per_step = 4;
  options.pretrain_images = 4;
  options.log_every = 5;
  options.eval_scenes = 0;
  options.threads = 1;  // ctest runs test programs side by side on few cores
  const ts::TrainReport report = ts::train(options);

  std::vector<double> align;
  for (const auto& p : report.losses) {
    if (p.stage == "align") align.push_back(p.loss);
  }
  ASSERT_EQ(align.size(), 8u);  // one mean per 5 steps
  // Untrained, the answer tokens cost about ln(vocab) nats; a few dozen steps learn at least
  // the answer vocabulary and the end-of-turn token.
  EXPECT_LT(align.back(), 0.6 * align.front()) << "first " << align.front() << ", last " << align.back();
  EXPECT_TRUE(std::all_of(align.begin(), align.end(), [](double l) { return std::isfinite(l); }));

  EXPECT_EQ(ts::verify_manifest(options.out_dir).size(), 4u);
  const regionlm::Model model = regionlm::Model::load(options.out_dir);
  EXPECT_EQ(model.config().text.vocab_size, report.vocab_size);
  EXPECT_TRUE(model.unused_keys().empty());
}
