// The prior-guided face generator (PGFG) and its discriminator, after
// FaceAnime (Tu et al. 2021, "Image-to-Video Generation via 3D Facial
// Dynamics"): the generator refines the classical 3D-guided warp W of the
// source portrait, guided by the sparse texture priors p_s (source colours at
// the source pose) and p_t (the same colours at the target pose/expression).
//
// Tensor conventions (every input and output):
//   images  (source, warp, priors, outputs): NCHW float32, RGB, in [-1, 1];
//           a prior is -1 (black) where its mask is 0.
//   masks   (m_s, m_t, attention A): N1HW float32 in [0, 1].
//   H = W = GeneratorOptions::image_size (a face crop).
//
// Generator (an encoder-decoder with dense blocks):
//   main encoder  input [source, W] (6 channels); a stem ConvBlock (stride
//                 `stem_stride`: 2 starts the features at half resolution),
//                 then a DenseBlock per scale and a stride-2 conv down, the
//                 dense outputs kept as skips.
//   prior encoder shared: E([p, m]) (4 channels) gives one feature map per
//                 feature scale (the stem's resolution to the bottleneck);
//                 the guidance is the residual R_k = E(p_t)_k - E(p_s)_k.
//   bottleneck    DenseBlock over [x, R_bottom] + self-attention #1.
//   decoder       per scale: conv + nearest upsample, DenseBlock over
//                 [up, skip_k, R_k]; self-attention #2 after the first
//                 (coarsest) decoder scale.
//   to full size  with stem_stride 2: bilinear x2 upsample of the last
//                 decoder features (the heads run at full resolution).
//   heads         (GANimation, Pumarola et al. 2018) colour C = tanh(conv),
//                 attention A = sigmoid(conv); output = A * W + (1 - A) * C:
//                 where A = 1 the warp is copied unchanged (at full
//                 resolution: the warp's detail is never resampled). The A
//                 head's bias starts at 2 (A ~ 0.88): an untrained model is
//                 close to the warp.
// Discriminator: PatchGAN (Isola et al. 2017) of spectrally normalised 4x4
//   convs on [p_t, m_t, image] (7 channels), conditioned on the target prior;
//   one logit per patch (hinge loss, no sigmoid).
#ifndef FACEANIME_GEN_PGFG_NETWORKS_H_
#define FACEANIME_GEN_PGFG_NETWORKS_H_

#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "gen/pgfg/layers.h"

namespace faceanime::gen::pgfg {

struct GeneratorOptions {
  // Side of the square face crop, pixels; a multiple of
  // stem_stride * 2^num_downsamples, in [32, 1024] (default 128).
  int64_t image_size = 128;
  // Stride of the stem conv, 1 or 2 (default 2): 2 runs every feature map at
  // half resolution or less (4x fewer pixels at the first scale) and the
  // heads on the upsampled last decoder scale.
  int64_t stem_stride = 2;
  // Channels at the first feature scale, doubling per scale up to
  // max_channels; >= 4 (default 12) and max_channels >= base_channels
  // (default 128).
  int64_t base_channels = 12;
  int64_t max_channels = 128;
  // Stride-2 levels after the stem, in [2, 6] (default 3: 64 -> 8 at the
  // bottleneck for a 128 crop with a stride-2 stem).
  int64_t num_downsamples = 3;
  // Layers per dense block, in [1, 8] (default 2), each adding `growth`
  // channels, in [1, 128] (default 6).
  int64_t dense_layers = 2;
  int64_t growth = 6;
  // Prior encoder channels at the first feature scale, doubling per scale up
  // to max_channels; >= 1 (default 6).
  int64_t prior_channels = 6;
  // The two self-attention layers (default true).
  bool self_attention = true;

  // The CPU real-time model: 128x128 crop, the defaults above (stride-2
  // stem: features at 64, 32, 16, 8 with 12, 24, 48, 96 channels;
  // self-attention at 8x8 and 16x16; 0.22 M parameters). Measured with
  // pgfg_bench: ~12 ms CPU time per crop on one thread (gen/README.md).
  static GeneratorOptions Cpu128();
  // The GPU quality model: 256x256 crop, stride-1 stem, base 32, 4
  // downsamples, 3 dense layers of growth 16, prior 16, max 256.
  static GeneratorOptions Quality256();
  // By size: 128 -> Cpu128(), 256 -> Quality256(); else std::invalid_argument.
  static GeneratorOptions ForSize(int64_t size);

  // std::invalid_argument naming the field and its valid range.
  void Validate() const;
  // Channels of the main encoder / prior encoder at feature scale k (0 = the
  // stem's resolution, image_size / stem_stride).
  int64_t channels(int64_t k) const;
  int64_t prior_channels_at(int64_t k) const;
};

struct DiscriminatorOptions {
  // First layer's channels, doubling per layer up to max_channels; >= 4
  // (default 32) and max_channels >= base_channels (default 256).
  int64_t base_channels = 32;
  int64_t max_channels = 256;
  // Stride-2 layers, in [1, 6] (default 3); then one stride-1 layer and the
  // stride-1 logit layer (receptive field 70 px for 3, as pix2pix's 70x70).
  int64_t num_layers = 3;

  static DiscriminatorOptions Cpu128();      // The defaults.
  static DiscriminatorOptions Quality256();  // base 64, 4 layers, max 512.
  static DiscriminatorOptions ForSize(int64_t size);
  void Validate() const;
};

struct GeneratorOutput {
  torch::Tensor output;     // N3HW in [-1, 1]: A * warp + (1 - A) * color.
  torch::Tensor attention;  // N1HW in [0, 1]: A (1: copy the warp).
  torch::Tensor color;      // N3HW in [-1, 1]: C.
};

// The shared prior encoder: ConvBlock(4 -> p_0, stride stem_stride), then a
// stride-2 ConvBlock per scale. Returns num_downsamples + 1 maps, the
// largest first.
struct PriorEncoderImpl : torch::nn::Module {
  explicit PriorEncoderImpl(const GeneratorOptions& options);
  std::vector<torch::Tensor> forward(const torch::Tensor& prior, const torch::Tensor& mask);
  torch::nn::ModuleList levels;
};
TORCH_MODULE(PriorEncoder);

struct PgfgGeneratorImpl : torch::nn::Module {
  // Validates `options` (std::invalid_argument).
  explicit PgfgGeneratorImpl(const GeneratorOptions& options);
  // Shapes: images N3HW, masks N1HW, all the same N, H = W = image_size
  // (std::invalid_argument otherwise, naming the input).
  GeneratorOutput forward(const torch::Tensor& source, const torch::Tensor& warp, const torch::Tensor& prior_s,
                          const torch::Tensor& mask_s, const torch::Tensor& prior_t, const torch::Tensor& mask_t);

  GeneratorOptions options;
  // The model's own trust threshold for the pipeline's self-check (grey
  // levels, pipeline::RetargeterOptions::neural_trust_error), calibrated on
  // its training faces by `faceanime calibrate-trust` and kept in its file
  // (SaveGenerator); 0: none (a freshly built or trained network).
  double trust_error = 0.0;
  ConvBlock stem{nullptr};
  torch::nn::ModuleList encoder_dense, encoder_down, decoder_up, decoder_dense;
  PriorEncoder prior_encoder{nullptr};
  DenseBlock bottleneck{nullptr};
  SelfAttention attention1{nullptr}, attention2{nullptr};
  torch::nn::Conv2d color_head{nullptr}, attention_head{nullptr};
};
TORCH_MODULE(PgfgGenerator);

struct PatchDiscriminatorImpl : torch::nn::Module {
  explicit PatchDiscriminatorImpl(const DiscriminatorOptions& options);
  // prior_t N3HW, mask_t N1HW, image N3HW -> logits N1hw.
  torch::Tensor forward(const torch::Tensor& prior_t, const torch::Tensor& mask_t, const torch::Tensor& image);

  DiscriminatorOptions options;
  torch::nn::ModuleList layers;
};
TORCH_MODULE(PatchDiscriminator);

// A self-describing generator file: the parameters and buffers (torch::save
// archive) plus the GeneratorOptions as an int64 tensor "pgfg_options"
// (version 2: with stem_stride; version-1 files load with stem_stride 1), so
// the loader rebuilds the same architecture, and, when it is > 0, the
// calibrated trust_error as a float64 tensor "pgfg_trust_error" (files
// without it load with 0).
void SaveGenerator(PgfgGenerator& generator, const std::filesystem::path& path);
// Throws std::runtime_error naming `path` when it is missing, unreadable,
// not a PGFG generator file, its tensors do not match its options, or its
// trust_error is not a finite number >= 0.
PgfgGenerator LoadGenerator(const std::filesystem::path& path, const torch::Device& device = torch::kCPU);

}  // namespace faceanime::gen::pgfg

#endif  // FACEANIME_GEN_PGFG_NETWORKS_H_
