// Turning a prompt layout into decoder input embeddings.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "regionlm/error.hpp"
#include "regionlm/text/sequence.hpp"

using namespace regionlm::text;

namespace {

constexpr int64_t kHidden = 8;

Chunk text(std::vector<int64_t> ids) {
  Chunk c;
  c.length = static_cast<int64_t>(ids.size());
  c.ids = std::move(ids);
  return c;
}
Chunk image(int64_t n) {
  Chunk c;
  c.kind = Chunk::Kind::Image;
  c.length = n;
  return c;
}
Chunk region(int64_t r) {
  Chunk c;
  c.kind = Chunk::Kind::Region;
  c.region_index = r;
  c.length = 2;
  return c;
}
PromptLayout layout_of(std::vector<Chunk> chunks) {
  PromptLayout l;
  for (const Chunk& c : chunks) l.length += c.length;
  l.chunks = std::move(chunks);
  return l;
}

/// Embedding whose row for id k is k everywhere; counts its calls.
struct IdEmbedding {
  int* calls;
  torch::Tensor operator()(const torch::Tensor& ids) const {
    ++*calls;
    EXPECT_EQ(ids.dim(), 1);
    EXPECT_EQ(ids.scalar_type(), torch::kInt64);
    return ids.to(torch::kFloat32).unsqueeze(1).expand({ids.size(0), kHidden}).contiguous();  // [n, H]
  }
};

}  // namespace

TEST(Assemble, PlacesTextImageAndRegionTokens) {
  const PromptLayout layout =
      layout_of({text({1, 5, 7}), image(4), text({9}), region(1), text({3, 4}), region(0), text({8})});
  ASSERT_EQ(layout.length, 15);
  const auto bf16 = torch::TensorOptions().dtype(torch::kBFloat16);
  const torch::Tensor image_tokens = (100 + torch::arange(4 * kHidden)).view({4, kHidden}).to(bf16);
  const torch::Tensor mask_tokens = -1 - torch::arange(2).unsqueeze(1).expand({2, kHidden}).to(torch::kFloat32);
  const torch::Tensor pos_tokens = -10 - torch::arange(2).unsqueeze(1).expand({2, kHidden}).to(torch::kFloat32);
  int calls = 0;
  const torch::Tensor out = assemble_embeddings(layout, IdEmbedding{&calls}, image_tokens, mask_tokens, pos_tokens);
  EXPECT_EQ(calls, 1);  // all text ids embedded in one lookup
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{1, 15, kHidden}));
  EXPECT_EQ(out.scalar_type(), torch::kBFloat16);

  const torch::Tensor rows = out[0].to(torch::kFloat32);  // [15, H]
  const std::vector<float> first_column_expected{1, 5, 7, -1, -1, -1, -1, 9, -2, -11, 3, 4, -1, -10, 8};
  for (int64_t i = 0; i < 15; ++i) {
    if (i >= 3 && i < 7) {
      EXPECT_TRUE(torch::equal(rows[i], image_tokens[i - 3].to(torch::kFloat32))) << "image row " << i;
    } else {
      EXPECT_TRUE(torch::all(rows[i] == first_column_expected[static_cast<size_t>(i)]).item<bool>()) << "row " << i;
    }
  }
}

TEST(Assemble, OneTokenPerRegionWithoutPositionTokens) {
  // GPT4RoI's form: each Region chunk is one position, the region's token (its box feature).
  Chunk bbox = region(1);
  bbox.length = 1;
  Chunk bbox0 = region(0);
  bbox0.length = 1;
  const PromptLayout layout = layout_of({text({1}), image(2), text({9}), bbox, text({3}), bbox0});
  ASSERT_EQ(layout.length, 7);
  const torch::Tensor image_tokens = torch::zeros({2, kHidden});
  const torch::Tensor features = -1 - torch::arange(2).unsqueeze(1).expand({2, kHidden}).to(torch::kFloat32);
  int calls = 0;
  const torch::Tensor out = assemble_embeddings(layout, IdEmbedding{&calls}, image_tokens, features, torch::Tensor());
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{1, 7, kHidden}));
  const std::vector<float> first_column_expected{1, 0, 0, 9, -2, 3, -1};
  for (int64_t i = 0; i < 7; ++i) {
    EXPECT_TRUE(torch::all(out[0][i] == first_column_expected[static_cast<size_t>(i)]).item<bool>()) << "row " << i;
  }
  // A two-position chunk needs position tokens; a one-position chunk takes none.
  EXPECT_THROW(assemble_embeddings(layout_of({region(0)}), IdEmbedding{&calls}, image_tokens, features, torch::Tensor()),
               regionlm::ShapeError);
  EXPECT_THROW(assemble_embeddings(layout, IdEmbedding{&calls}, image_tokens, features, features), regionlm::ShapeError);
}

TEST(Assemble, LayoutWithoutImageOrRegions) {
  const PromptLayout layout = layout_of({text({2, 3})});
  int calls = 0;
  const torch::Tensor none = torch::empty({0, kHidden});
  const torch::Tensor out = assemble_embeddings(layout, IdEmbedding{&calls}, none, torch::Tensor(), torch::Tensor());
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{1, 2, kHidden}));
  EXPECT_TRUE(torch::equal(out[0][1], torch::full({kHidden}, 3.0f)));
}

TEST(Assemble, ShapeErrors) {
  const PromptLayout layout = layout_of({text({1}), image(4), region(1)});
  int calls = 0;
  const IdEmbedding embed{&calls};
  const torch::Tensor img = torch::zeros({4, kHidden});
  const torch::Tensor two = torch::zeros({2, kHidden});
  EXPECT_NO_THROW(assemble_embeddings(layout, embed, img, two, two));
  EXPECT_THROW(assemble_embeddings(layout, embed, torch::zeros({3, kHidden}), two, two), regionlm::ShapeError);
  EXPECT_THROW(assemble_embeddings(layout, embed, torch::Tensor(), two, two), regionlm::ShapeError);
  EXPECT_THROW(assemble_embeddings(layout, embed, img, torch::zeros({1, kHidden}), torch::zeros({1, kHidden})),
               regionlm::ShapeError);  // region 2 of 1
  EXPECT_THROW(assemble_embeddings(layout, embed, img, two, torch::zeros({3, kHidden})), regionlm::ShapeError);
  EXPECT_THROW(assemble_embeddings(layout, embed, img, torch::zeros({2, kHidden + 1}), two), regionlm::ShapeError);
  const auto bad_embed = [](const torch::Tensor& ids) { return torch::zeros({ids.size(0), kHidden + 1}); };
  EXPECT_THROW(assemble_embeddings(layout, bad_embed, img, two, two), regionlm::ShapeError);
}

TEST(Assemble, PositionsContinueTheCache) {
  const PromptLayout layout = layout_of({text({1, 2}), region(0)});
  const torch::Tensor pos = layout_positions(layout, 7, torch::kCPU);
  ASSERT_EQ(pos.sizes(), (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(pos.scalar_type(), torch::kInt64);
  EXPECT_TRUE(torch::equal(pos[0], torch::arange(7, 11)));
}
