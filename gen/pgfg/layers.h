// Building blocks of the prior-guided face generator (PGFG): a spectrally
// normalised convolution, SAGAN self-attention and a dense block.
//
// Torch-only core: this folder depends on LibTorch alone (no OpenCV, face3d or
// render), so it also builds against the CUDA LibTorch inside an installed
// PyTorch (see gen/pgfg/CMakeLists.txt). Tensors are NCHW float.
#ifndef FACEANIME_GEN_PGFG_LAYERS_H_
#define FACEANIME_GEN_PGFG_LAYERS_H_

#include <torch/torch.h>

namespace faceanime::gen::pgfg {

// A Conv2d whose weight is divided by its largest singular value sigma
// (Miyato et al. 2018), estimated by power iteration on the weight viewed as
// an [out_channels, in_channels * k * k] matrix W.
//
// Convention (as torch.nn.utils.spectral_norm with n_power_iterations=1):
//   * parameters: `weight_orig` (the unnormalised weight) and `bias`;
//     buffer `u` (out_channels, unit norm; saved in checkpoints).
//   * training mode: every forward runs ONE power iteration without gradient
//     (v = normalize(W^T u), u = normalize(W v)), stores u, then uses
//     sigma = u^T W v with gradient through W (u, v held constant).
//   * eval mode (and under c10::InferenceMode): no iteration; u stays frozen,
//     v = normalize(W^T u) and sigma = u^T W v are computed from it, so
//     inference is deterministic and changes no state.
//   The estimate converges from below over training steps; a fresh layer's
//   sigma is only a rough estimate until a few training forwards have run.
struct SNConv2dImpl : torch::nn::Module {
  SNConv2dImpl(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride = 1,
               int64_t padding = 0, bool bias = true);
  torch::Tensor forward(const torch::Tensor& x);
  // weight_orig / sigma with the current u (no iteration, no state change).
  torch::Tensor effective_weight();

  torch::Tensor weight_orig, bias, u;
  int64_t stride, padding;

 private:
  torch::Tensor Sigma(const torch::Tensor& w_mat, bool iterate);
};
TORCH_MODULE(SNConv2d);

// SAGAN self-attention (Zhang et al. 2019): f, g: 1x1 convs C -> max(C/8, 1),
// h: 1x1 conv C -> C; attention beta = softmax over positions of f^T g;
// out = gamma * (h beta) + x with a learnable scalar gamma initialised to 0,
// so a fresh layer is exactly the identity and attention is blended in as
// training raises |gamma|.
struct SelfAttentionImpl : torch::nn::Module {
  explicit SelfAttentionImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d f{nullptr}, g{nullptr}, h{nullptr};
  torch::Tensor gamma;
};
TORCH_MODULE(SelfAttention);

// 3x3 conv + instance norm (affine) + LeakyReLU(0.2), stride 1 or 2.
struct ConvBlockImpl : torch::nn::Module {
  ConvBlockImpl(int64_t in_channels, int64_t out_channels, int64_t stride = 1);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv{nullptr};
  torch::nn::InstanceNorm2d norm{nullptr};
};
TORCH_MODULE(ConvBlock);

// DenseNet-style block (Huang et al. 2017): `layers` ConvBlocks, layer i sees
// the input and every earlier layer's `growth` channels concatenated; a 1x1
// conv maps the in + layers * growth channels to `out_channels`. Spatial size
// is kept.
struct DenseBlockImpl : torch::nn::Module {
  DenseBlockImpl(int64_t in_channels, int64_t out_channels, int64_t layers, int64_t growth);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::ModuleList blocks;
  torch::nn::Conv2d fuse{nullptr};
};
TORCH_MODULE(DenseBlock);

}  // namespace faceanime::gen::pgfg

#endif  // FACEANIME_GEN_PGFG_LAYERS_H_
