#include "gen/pgfg/layers.h"

#include <cmath>

namespace faceanime::gen::pgfg {
namespace {

constexpr double kEps = 1e-12;

torch::Tensor Normalize(const torch::Tensor& v) { return v / (v.norm() + kEps); }

}  // namespace

SNConv2dImpl::SNConv2dImpl(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride_,
                           int64_t padding_, bool with_bias)
    : stride(stride_), padding(padding_) {
  // Same initialisation as torch::nn::Conv2d (Kaiming uniform, a = sqrt(5)).
  auto w = torch::empty({out_channels, in_channels, kernel, kernel});
  torch::nn::init::kaiming_uniform_(w, std::sqrt(5.0));
  weight_orig = register_parameter("weight_orig", w);
  if (with_bias) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_channels * kernel * kernel));
    bias = register_parameter("bias", torch::empty({out_channels}).uniform_(-bound, bound));
  }
  u = register_buffer("u", Normalize(torch::randn({out_channels})));
}

torch::Tensor SNConv2dImpl::Sigma(const torch::Tensor& w_mat, bool iterate) {
  torch::Tensor v, u_now;
  {
    torch::NoGradGuard no_grad;
    const torch::Tensor w = w_mat.detach();
    v = Normalize(torch::mv(w.t(), u));
    if (iterate) {
      u.copy_(Normalize(torch::mv(w, v)));
    }
    // A copy: the buffer changes in place at the next training forward, while
    // this forward's graph may still need u for its backward pass.
    u_now = u.clone();
  }
  return torch::dot(u_now, torch::mv(w_mat, v));
}

torch::Tensor SNConv2dImpl::effective_weight() {
  const auto w_mat = weight_orig.reshape({weight_orig.size(0), -1});
  return weight_orig / Sigma(w_mat, /*iterate=*/false);
}

torch::Tensor SNConv2dImpl::forward(const torch::Tensor& x) {
  const auto w_mat = weight_orig.reshape({weight_orig.size(0), -1});
  const bool iterate = is_training() && !c10::InferenceMode::is_enabled();
  const torch::Tensor w = weight_orig / Sigma(w_mat, iterate);
  return torch::conv2d(x, w, bias, stride, padding);
}

SelfAttentionImpl::SelfAttentionImpl(int64_t channels) {
  const int64_t c8 = std::max<int64_t>(channels / 8, 1);
  f = register_module("f", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, c8, 1)));
  g = register_module("g", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, c8, 1)));
  h = register_module("h", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, channels, 1)));
  gamma = register_parameter("gamma", torch::zeros({1}));
}

torch::Tensor SelfAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
  const auto query = f->forward(x).reshape({n, -1, hw}).permute({0, 2, 1});  // [n, hw, c8]
  const auto key = g->forward(x).reshape({n, -1, hw});                         // [n, c8, hw]
  const auto attention = torch::softmax(torch::bmm(query, key), -1);           // [n, hw(i), hw(j)]
  const auto value = h->forward(x).reshape({n, c, hw});                        // [n, c, hw]
  // out_i = sum_j attention[i, j] value_j.
  const auto out = torch::bmm(value, attention.permute({0, 2, 1})).reshape(x.sizes());
  return gamma * out + x;
}

ConvBlockImpl::ConvBlockImpl(int64_t in_channels, int64_t out_channels, int64_t stride) {
  conv = register_module(
      "conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, out_channels, 3).stride(stride).padding(1)));
  norm = register_module("norm", torch::nn::InstanceNorm2d(torch::nn::InstanceNorm2dOptions(out_channels).affine(true)));
}

torch::Tensor ConvBlockImpl::forward(const torch::Tensor& x) {
  return torch::leaky_relu(norm->forward(conv->forward(x)), 0.2);
}

DenseBlockImpl::DenseBlockImpl(int64_t in_channels, int64_t out_channels, int64_t layers, int64_t growth) {
  for (int64_t i = 0; i < layers; ++i) blocks->push_back(ConvBlock(in_channels + i * growth, growth));
  register_module("blocks", blocks);
  fuse = register_module("fuse",
                         torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels + layers * growth, out_channels, 1)));
}

torch::Tensor DenseBlockImpl::forward(const torch::Tensor& x) {
  std::vector<torch::Tensor> features{x};
  for (const auto& block : *blocks) {
    features.push_back(block->as<ConvBlock>()->forward(torch::cat(features, 1)));
  }
  return torch::leaky_relu(fuse->forward(torch::cat(features, 1)), 0.2);
}

}  // namespace faceanime::gen::pgfg
