#include "gen/pgfg/networks.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace faceanime::gen::pgfg {
namespace {

constexpr int64_t kOptionsVersion = 2;  // 1: no stem_stride (then 1).
constexpr double kAttentionBiasInit = 2.0;

void Require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument(what);
}

void CheckInput(const torch::Tensor& t, const char* name, int64_t n, int64_t channels, int64_t size) {
  if (!t.defined() || t.dim() != 4 || t.size(0) != n || t.size(1) != channels || t.size(2) != size ||
      t.size(3) != size) {
    std::string shape = t.defined() ? "" : "undefined";
    if (t.defined()) {
      shape = "[";
      for (int64_t d = 0; d < t.dim(); ++d) {
        if (d > 0) shape += ',';
        shape += std::to_string(t.size(d));
      }
      shape += "]";
    }
    throw std::invalid_argument(std::string("PgfgGenerator: input '") + name + "' has shape " + shape +
                                "; expected [" + std::to_string(n) + "," + std::to_string(channels) + "," +
                                std::to_string(size) + "," + std::to_string(size) +
                                "] (NCHW, the batch size of 'source' and the model's image_size)");
  }
}

}  // namespace

GeneratorOptions GeneratorOptions::Cpu128() { return GeneratorOptions{}; }

GeneratorOptions GeneratorOptions::Quality256() {
  GeneratorOptions o;
  o.image_size = 256;
  o.stem_stride = 1;
  o.base_channels = 32;
  o.max_channels = 256;
  o.num_downsamples = 4;
  o.dense_layers = 3;
  o.growth = 16;
  o.prior_channels = 16;
  return o;
}

GeneratorOptions GeneratorOptions::ForSize(int64_t size) {
  if (size == 128) return Cpu128();
  if (size == 256) return Quality256();
  throw std::invalid_argument("model size " + std::to_string(size) + ": valid sizes are 128 (CPU) and 256 (quality)");
}

void GeneratorOptions::Validate() const {
  Require(num_downsamples >= 2 && num_downsamples <= 6, "GeneratorOptions::num_downsamples must be in [2, 6]");
  Require(stem_stride == 1 || stem_stride == 2, "GeneratorOptions::stem_stride must be 1 or 2");
  Require(image_size >= 32 && image_size <= 1024 && image_size % (stem_stride << num_downsamples) == 0,
          "GeneratorOptions::image_size must be in [32, 1024] and a multiple of stem_stride * 2^num_downsamples");
  Require(base_channels >= 4, "GeneratorOptions::base_channels must be >= 4");
  Require(max_channels >= base_channels, "GeneratorOptions::max_channels must be >= base_channels");
  Require(dense_layers >= 1 && dense_layers <= 8, "GeneratorOptions::dense_layers must be in [1, 8]");
  Require(growth >= 1 && growth <= 128, "GeneratorOptions::growth must be in [1, 128]");
  Require(prior_channels >= 1, "GeneratorOptions::prior_channels must be >= 1");
}

int64_t GeneratorOptions::channels(int64_t k) const { return std::min(base_channels << k, max_channels); }
int64_t GeneratorOptions::prior_channels_at(int64_t k) const {
  return std::min(prior_channels << k, max_channels);
}

DiscriminatorOptions DiscriminatorOptions::Cpu128() { return DiscriminatorOptions{}; }
DiscriminatorOptions DiscriminatorOptions::Quality256() {
  DiscriminatorOptions o;
  o.base_channels = 64;
  o.max_channels = 512;
  o.num_layers = 4;
  return o;
}
DiscriminatorOptions DiscriminatorOptions::ForSize(int64_t size) {
  if (size == 128) return Cpu128();
  if (size == 256) return Quality256();
  throw std::invalid_argument("model size " + std::to_string(size) + ": valid sizes are 128 (CPU) and 256 (quality)");
}
void DiscriminatorOptions::Validate() const {
  Require(base_channels >= 4, "DiscriminatorOptions::base_channels must be >= 4");
  Require(max_channels >= base_channels, "DiscriminatorOptions::max_channels must be >= base_channels");
  Require(num_layers >= 1 && num_layers <= 6, "DiscriminatorOptions::num_layers must be in [1, 6]");
}

PriorEncoderImpl::PriorEncoderImpl(const GeneratorOptions& options) {
  levels->push_back(ConvBlock(4, options.prior_channels_at(0), options.stem_stride));
  for (int64_t k = 1; k <= options.num_downsamples; ++k) {
    levels->push_back(ConvBlock(options.prior_channels_at(k - 1), options.prior_channels_at(k), /*stride=*/2));
  }
  register_module("levels", levels);
}

std::vector<torch::Tensor> PriorEncoderImpl::forward(const torch::Tensor& prior, const torch::Tensor& mask) {
  std::vector<torch::Tensor> features;
  torch::Tensor x = torch::cat({prior, mask}, 1);
  for (const auto& level : *levels) {
    x = level->as<ConvBlock>()->forward(x);
    features.push_back(x);
  }
  return features;
}

PgfgGeneratorImpl::PgfgGeneratorImpl(const GeneratorOptions& o) : options(o) {
  options.Validate();
  const int64_t levels = options.num_downsamples;
  stem = register_module("stem", ConvBlock(6, options.channels(0), options.stem_stride));
  for (int64_t k = 0; k < levels; ++k) {
    encoder_dense->push_back(DenseBlock(options.channels(k), options.channels(k), options.dense_layers, options.growth));
    encoder_down->push_back(ConvBlock(options.channels(k), options.channels(k + 1), /*stride=*/2));
  }
  register_module("encoder_dense", encoder_dense);
  register_module("encoder_down", encoder_down);
  prior_encoder = register_module("prior_encoder", PriorEncoder(options));
  bottleneck = register_module(
      "bottleneck", DenseBlock(options.channels(levels) + options.prior_channels_at(levels), options.channels(levels),
                               options.dense_layers, options.growth));
  // Decoder modules in decoding order: scale levels-1 first.
  for (int64_t k = levels - 1; k >= 0; --k) {
    decoder_up->push_back(ConvBlock(options.channels(k + 1), options.channels(k)));
    decoder_dense->push_back(DenseBlock(2 * options.channels(k) + options.prior_channels_at(k), options.channels(k),
                                        options.dense_layers, options.growth));
  }
  register_module("decoder_up", decoder_up);
  register_module("decoder_dense", decoder_dense);
  if (options.self_attention) {
    attention1 = register_module("attention1", SelfAttention(options.channels(levels)));
    attention2 = register_module("attention2", SelfAttention(options.channels(levels - 1)));
  }
  color_head = register_module(
      "color_head", torch::nn::Conv2d(torch::nn::Conv2dOptions(options.channels(0), 3, 3).padding(1)));
  attention_head = register_module(
      "attention_head", torch::nn::Conv2d(torch::nn::Conv2dOptions(options.channels(0), 1, 3).padding(1)));
  // Start close to "copy the warp" (A = sigmoid(2) = 0.88 on average): the
  // classical warp is already a good answer almost everywhere, so an
  // untrained model starts near it rather than at a 50/50 blend with noise.
  {
    torch::NoGradGuard no_grad;
    attention_head->bias.fill_(kAttentionBiasInit);
  }
}

GeneratorOutput PgfgGeneratorImpl::forward(const torch::Tensor& source, const torch::Tensor& warp,
                                           const torch::Tensor& prior_s, const torch::Tensor& mask_s,
                                           const torch::Tensor& prior_t, const torch::Tensor& mask_t) {
  const int64_t n = source.defined() && source.dim() == 4 ? source.size(0) : 0;
  const int64_t size = options.image_size;
  CheckInput(source, "source", n, 3, size);
  CheckInput(warp, "warp", n, 3, size);
  CheckInput(prior_s, "prior_s", n, 3, size);
  CheckInput(mask_s, "mask_s", n, 1, size);
  CheckInput(prior_t, "prior_t", n, 3, size);
  CheckInput(mask_t, "mask_t", n, 1, size);
  const int64_t levels = options.num_downsamples;

  // Guidance: the shared prior encoder's residual at every scale.
  const auto features_s = prior_encoder->forward(prior_s, mask_s);
  const auto features_t = prior_encoder->forward(prior_t, mask_t);
  std::vector<torch::Tensor> residual(levels + 1);
  for (int64_t k = 0; k <= levels; ++k) residual[k] = features_t[k] - features_s[k];

  torch::Tensor x = stem->forward(torch::cat({source, warp}, 1));
  std::vector<torch::Tensor> skips;
  for (int64_t k = 0; k < levels; ++k) {
    x = encoder_dense[k]->as<DenseBlock>()->forward(x);
    skips.push_back(x);
    x = encoder_down[k]->as<ConvBlock>()->forward(x);
  }
  x = bottleneck->forward(torch::cat({x, residual[levels]}, 1));
  if (options.self_attention) x = attention1->forward(x);
  for (int64_t i = 0; i < levels; ++i) {
    const int64_t k = levels - 1 - i;
    // Conv at the coarse scale, then upsample: 4x cheaper than the reverse.
    x = decoder_up[i]->as<ConvBlock>()->forward(x);
    x = torch::upsample_nearest2d(x, {x.size(2) * 2, x.size(3) * 2});
    x = decoder_dense[i]->as<DenseBlock>()->forward(torch::cat({x, skips[k], residual[k]}, 1));
    if (i == 0 && options.self_attention) x = attention2->forward(x);
  }
  if (options.stem_stride == 2) {
    x = torch::upsample_bilinear2d(x, std::vector<int64_t>{size, size}, /*align_corners=*/false);
  }
  GeneratorOutput out;
  out.color = torch::tanh(color_head->forward(x));
  out.attention = torch::sigmoid(attention_head->forward(x));
  out.output = out.attention * warp + (1 - out.attention) * out.color;
  return out;
}

PatchDiscriminatorImpl::PatchDiscriminatorImpl(const DiscriminatorOptions& o) : options(o) {
  options.Validate();
  int64_t in = 7;
  for (int64_t k = 0; k < options.num_layers; ++k) {
    const int64_t out = std::min(options.base_channels << k, options.max_channels);
    layers->push_back(SNConv2d(in, out, 4, /*stride=*/2, /*padding=*/1));
    in = out;
  }
  const int64_t last = std::min(options.base_channels << options.num_layers, options.max_channels);
  layers->push_back(SNConv2d(in, last, 4, 1, 1));
  layers->push_back(SNConv2d(last, 1, 4, 1, 1));
  register_module("layers", layers);
}

torch::Tensor PatchDiscriminatorImpl::forward(const torch::Tensor& prior_t, const torch::Tensor& mask_t,
                                              const torch::Tensor& image) {
  torch::Tensor x = torch::cat({prior_t, mask_t, image}, 1);
  const size_t n = layers->size();
  for (size_t i = 0; i < n; ++i) {
    x = layers[i]->as<SNConv2d>()->forward(x);
    if (i + 1 < n) x = torch::leaky_relu(x, 0.2);
  }
  return x;
}

void SaveGenerator(PgfgGenerator& generator, const std::filesystem::path& path) {
  const GeneratorOptions& o = generator->options;
  torch::serialize::OutputArchive archive;
  generator->save(archive);
  archive.write("pgfg_options",
                torch::tensor({kOptionsVersion, o.image_size, o.base_channels, o.max_channels, o.num_downsamples,
                               o.dense_layers, o.growth, o.prior_channels, int64_t{o.self_attention}, o.stem_stride},
                              torch::kInt64),
                /*is_buffer=*/true);
  if (generator->trust_error > 0.0) {
    archive.write("pgfg_trust_error", torch::tensor({generator->trust_error}, torch::kFloat64), /*is_buffer=*/true);
  }
  try {
    archive.save_to(path.string());
  } catch (const c10::Error& e) {
    throw std::runtime_error("cannot write generator file '" + path.string() + "': " + e.what_without_backtrace());
  }
}

PgfgGenerator LoadGenerator(const std::filesystem::path& path, const torch::Device& device) {
  if (!std::filesystem::exists(path)) {
    throw std::runtime_error("generator file '" + path.string() + "' does not exist (train one with pgfg_train)");
  }
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path.string(), device);
  } catch (const c10::Error& e) {
    throw std::runtime_error("generator file '" + path.string() +
                             "' is corrupt or not a torch archive (re-copy or re-export it): " +
                             e.what_without_backtrace());
  }
  torch::Tensor t;
  if (!archive.try_read("pgfg_options", t) || t.dim() != 1 || t.size(0) < 9 || t.scalar_type() != torch::kInt64) {
    throw std::runtime_error("generator file '" + path.string() +
                             "' has no valid 'pgfg_options' entry: not a PGFG generator (write it with SaveGenerator)");
  }
  t = t.to(torch::kCPU);
  const auto v = t.accessor<int64_t, 1>();
  if ((v[0] != 1 || t.size(0) != 9) && (v[0] != kOptionsVersion || t.size(0) != 10)) {
    throw std::runtime_error("generator file '" + path.string() + "' has options version " + std::to_string(v[0]) +
                             " with " + std::to_string(t.size(0)) + " entries; this build reads versions 1 (9) and " +
                             std::to_string(kOptionsVersion) + " (10)");
  }
  GeneratorOptions o;
  o.image_size = v[1];
  o.base_channels = v[2];
  o.max_channels = v[3];
  o.num_downsamples = v[4];
  o.dense_layers = v[5];
  o.growth = v[6];
  o.prior_channels = v[7];
  o.self_attention = v[8] != 0;
  o.stem_stride = v[0] == 1 ? 1 : v[9];
  double trust_error = 0.0;
  torch::Tensor trust;
  if (archive.try_read("pgfg_trust_error", trust)) {
    const bool scalar = trust.numel() == 1 && trust.is_floating_point();
    if (scalar) trust_error = trust.to(torch::kCPU).item<double>();
    if (!scalar || !std::isfinite(trust_error) || trust_error < 0.0) {
      throw std::runtime_error("generator file '" + path.string() +
                               "' has an invalid 'pgfg_trust_error' entry (one finite number >= 0 expected; rewrite "
                               "it with faceanime calibrate-trust)");
    }
  }
  try {
    PgfgGenerator generator(o);
    generator->load(archive);
    generator->to(device);
    generator->trust_error = trust_error;
    return generator;
  } catch (const std::exception& e) {
    throw std::runtime_error("generator file '" + path.string() + "' does not match its options: " + e.what());
  }
}

}  // namespace faceanime::gen::pgfg
