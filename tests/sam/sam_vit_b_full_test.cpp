// The official ViT-B build (embed 768, depth 12, 12 heads, window 14, global blocks 2/5/8/11,
// 1024 input, prompt width 256) with random weights saved as segment-anything saves it.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>

#include "regionlm/io/weights.hpp"
#include "regionlm/sam/sam.hpp"
#include "sam_test_util.hpp"
#include "test_util.hpp"

using regionlm::sam::Sam;
using namespace regionlm::sam::test;

namespace {

TEST(SamVitBFull, MatchesSegmentAnything) {
  const auto model = reference_model("vit-b");
  const auto [rgb, image_file] = test_image(480, 640, "vit-b");
  const auto out = regionlm::test::scratch_dir("sam-vit-b") / "reference.safetensors";
  regionlm::test::run_python("tests/sam/sam_reference.py",
                             {"predict", model.string(), "vit-b", image_file.string(), out.string()});
  const auto ref = regionlm::load_weights(out);
  const Sam sam = Sam::load(model);
  EXPECT_EQ(sam.config().encoder_embed_dim, 768);
  EXPECT_EQ(sam.config().encoder_depth, 12);
  EXPECT_EQ(sam.config().encoder_num_heads, 12);
  EXPECT_EQ(sam.config().window_size, 14);
  EXPECT_EQ(sam.config().encoder_global_attn_indexes, (std::vector<int64_t>{2, 5, 8, 11}));
  const auto image = sam.encode(rgb);
  const double embed = relative_error(image.embedding(), ref.get("embedding"));
  EXPECT_LT(embed, 1e-4);
  std::string reference_encode;
  for (const auto& [k, v] : regionlm::safetensors_metadata(out)) {
    if (k == "encode_seconds") reference_encode = v;
  }
  std::cout << "[parity] vit-b 640x480: embedding rel " << embed << "; encode: C++ " << image.encode_ms()
            << " ms, segment-anything " << std::stod(reference_encode) * 1000 << " ms\n";
  // Decoder timings beside the reference's (printed for docs/segment.md, not asserted).
  {
    auto metadata = [&](const std::string& key) {
      for (const auto& [k, v] : regionlm::safetensors_metadata(out)) {
        if (k == key) return std::stod(v);
      }
      ADD_FAILURE() << "no " << key;
      return 0.0;
    };
    regionlm::sam::Prompt one;
    one.points = {{640 * 0.4, 480 * 0.5, 1}};
    auto t0 = std::chrono::steady_clock::now();
    sam.predict(image, one);
    const double one_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const auto grid = ref.get("batch64.points").to(torch::kFloat64);
    std::vector<regionlm::sam::Prompt> prompts(64);
    for (int64_t i = 0; i < 64; ++i) prompts[i].points = {{grid[i][0].item<double>(), grid[i][1].item<double>(), 1}};
    t0 = std::chrono::steady_clock::now();
    sam.predict(image, prompts);
    const double batch_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "[speed] vit-b one prompt: C++ " << one_ms << " ms, segment-anything " << metadata("one_seconds") * 1000
              << " ms; 64 prompts: C++ " << batch_ms << " ms, segment-anything " << metadata("batch64_seconds") * 1000
              << " ms\n";
  }
  for (int i = 0; ref.contains("case" + std::to_string(i) + ".multimask"); ++i) {
    const std::string c = "case" + std::to_string(i);
    regionlm::sam::Prompt p;
    if (ref.contains(c + ".points")) {
      const auto xy = ref.get(c + ".points");
      const auto labels = ref.get(c + ".labels");
      for (int64_t k = 0; k < xy.size(0); ++k) {
        p.points.push_back({xy[k][0].item<double>(), xy[k][1].item<double>(), labels[k].item<int>()});
      }
    }
    if (ref.contains(c + ".box")) {
      const auto b = ref.get(c + ".box");
      p.box = regionlm::sam::Box{b[0].item<double>(), b[1].item<double>(), b[2].item<double>(), b[3].item<double>()};
    }
    if (ref.contains(c + ".mask_input")) p.mask_input = ref.get(c + ".mask_input").clone();
    regionlm::sam::PredictOptions options;
    options.multimask_output = ref.get(c + ".multimask")[0].item<int>() != 0;
    const auto masks = sam.predict(image, p, options);
    const double low = relative_error(masks.low_res_logits, ref.get(c + ".low_res"));
    const double iou = relative_error(masks.iou_predictions, ref.get(c + ".iou"));
    EXPECT_LT(low, 1e-3) << c;
    EXPECT_LT(iou, 1e-3) << c;
    double worst = 1.0;
    for (int64_t m = 0; m < masks.count(); ++m) {
      const auto agreement = compare_masks(masks.masks[m], ref.get(c + ".logits")[m]);
      worst = std::min(worst, agreement.equal_fraction);
      EXPECT_LT(agreement.worst_margin, 1e-2) << c;
    }
    EXPECT_GE(worst, 0.999) << c;
    std::cout << "[parity] vit-b " << c << ": low-res rel " << low << ", iou rel " << iou << ", mask pixels equal "
              << worst << "\n";
  }
}

}  // namespace
