#include "gen/pgfg/layers.h"

#include <gtest/gtest.h>

namespace faceanime::gen::pgfg {
namespace {

double LargestSingularValue(const torch::Tensor& weight) {
  return torch::linalg_svdvals(weight.reshape({weight.size(0), -1})).max().item<double>();
}

TEST(SpectralNormTest, PowerIterationBringsLargestSingularValueToOne) {
  torch::manual_seed(3);
  SNConv2d conv(8, 16, 3, 1, 1);
  {
    torch::NoGradGuard no_grad;
    conv->weight_orig.mul_(5.0);  // sigma far from 1 before normalisation.
  }
  ASSERT_GT(LargestSingularValue(conv->weight_orig), 2.0);
  conv->train();
  const auto x = torch::randn({2, 8, 12, 12});
  for (int i = 0; i < 20; ++i) conv->forward(x);  // One power iteration each.
  torch::NoGradGuard no_grad;
  EXPECT_NEAR(LargestSingularValue(conv->effective_weight()), 1.0, 0.02);
}

TEST(SpectralNormTest, EvalModeDoesNotIterate) {
  torch::manual_seed(4);
  SNConv2d conv(4, 6, 3, 1, 1);
  conv->eval();
  const auto u_before = conv->u.clone();
  const auto x = torch::randn({1, 4, 8, 8});
  const auto y1 = conv->forward(x);
  const auto y2 = conv->forward(x);
  EXPECT_TRUE(torch::equal(conv->u, u_before));
  EXPECT_TRUE(torch::equal(y1, y2));
  conv->train();
  conv->forward(x);
  EXPECT_FALSE(torch::equal(conv->u, u_before));
}

TEST(SpectralNormTest, ForwardUsesTheNormalisedWeight) {
  torch::manual_seed(5);
  SNConv2d conv(3, 5, 3, 2, 1);
  conv->eval();
  const auto x = torch::randn({2, 3, 9, 9});
  torch::NoGradGuard no_grad;
  const auto expected = torch::conv2d(x, conv->effective_weight(), conv->bias, 2, 1);
  EXPECT_TRUE(torch::allclose(conv->forward(x), expected, 1e-5, 1e-6));
}

TEST(SelfAttentionTest, GammaZeroIsIdentity) {
  torch::manual_seed(6);
  SelfAttention attention(16);
  ASSERT_EQ(attention->gamma.item<float>(), 0.0f);
  const auto x = torch::randn({2, 16, 8, 8});
  EXPECT_TRUE(torch::equal(attention->forward(x), x));
}

TEST(SelfAttentionTest, NonZeroGammaMixesPositions) {
  torch::manual_seed(7);
  SelfAttention attention(16);
  {
    torch::NoGradGuard no_grad;
    attention->gamma.fill_(1.0);
  }
  auto x = torch::randn({1, 16, 6, 6});
  const auto y = attention->forward(x).detach();
  EXPECT_FALSE(torch::allclose(y, x));
  // Changing one position changes the output at other positions (global attention).
  auto x2 = x.clone();
  x2.index_put_({0, torch::indexing::Slice(), 0, 0}, 5.0);
  const auto y2 = attention->forward(x2).detach();
  EXPECT_GT((y2.index({0, torch::indexing::Slice(), 5, 5}) - y.index({0, torch::indexing::Slice(), 5, 5})).abs().max().item<float>(),
            1e-4);
}

TEST(DenseBlockTest, KeepsSpatialSizeAndMapsChannels) {
  DenseBlock block(12, 20, 3, 8);
  const auto y = block->forward(torch::randn({2, 12, 10, 10}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 20, 10, 10}));
}

}  // namespace
}  // namespace faceanime::gen::pgfg
