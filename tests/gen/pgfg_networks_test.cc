#include "gen/pgfg/networks.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace faceanime::gen::pgfg {
namespace {

namespace fs = std::filesystem;

struct Inputs {
  torch::Tensor source, warp, prior_s, mask_s, prior_t, mask_t;
};

Inputs RandomInputs(int64_t n, int64_t size) {
  Inputs in;
  in.source = torch::rand({n, 3, size, size}) * 2 - 1;
  in.warp = torch::rand({n, 3, size, size}) * 2 - 1;
  in.mask_s = (torch::rand({n, 1, size, size}) > 0.8).to(torch::kFloat32);
  in.mask_t = (torch::rand({n, 1, size, size}) > 0.8).to(torch::kFloat32);
  in.prior_s = (torch::rand({n, 3, size, size}) * 2 - 1) * in.mask_s + (in.mask_s - 1);
  in.prior_t = (torch::rand({n, 3, size, size}) * 2 - 1) * in.mask_t + (in.mask_t - 1);
  return in;
}

// A small CPU-architecture generator (64x64 crop, 8 base channels) for the
// file tests.
GeneratorOptions SmallCpuOptions() {
  GeneratorOptions o = GeneratorOptions::Cpu128();
  o.image_size = 64;
  o.base_channels = 8;
  return o;
}

GeneratorOutput Forward(PgfgGenerator& g, const Inputs& in) {
  return g->forward(in.source, in.warp, in.prior_s, in.mask_s, in.prior_t, in.mask_t);
}

class ModelSizeTest : public ::testing::TestWithParam<int64_t> {};

TEST_P(ModelSizeTest, GeneratorAndDiscriminatorOutputShapes) {
  const int64_t size = GetParam();
  torch::manual_seed(1);
  PgfgGenerator g(GeneratorOptions::ForSize(size));
  PatchDiscriminator d(DiscriminatorOptions::ForSize(size));
  torch::NoGradGuard no_grad;
  const Inputs in = RandomInputs(2, size);
  const GeneratorOutput out = Forward(g, in);
  EXPECT_EQ(out.output.sizes(), (std::vector<int64_t>{2, 3, size, size}));
  EXPECT_EQ(out.color.sizes(), (std::vector<int64_t>{2, 3, size, size}));
  EXPECT_EQ(out.attention.sizes(), (std::vector<int64_t>{2, 1, size, size}));
  EXPECT_GE(out.attention.min().item<float>(), 0.0f);
  EXPECT_LE(out.attention.max().item<float>(), 1.0f);
  EXPECT_LE(out.output.abs().max().item<float>(), 1.0f);
  const auto logits = d->forward(in.prior_t, in.mask_t, out.output);
  // PatchGAN: k stride-2 layers, then two 4x4 stride-1 layers (-1 px each).
  const int64_t patches = size / (int64_t{1} << d->options.num_layers) - 2;
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 1, patches, patches}));
}

INSTANTIATE_TEST_SUITE_P(Sizes, ModelSizeTest, ::testing::Values(128, 256));

TEST(PgfgGeneratorTest, AttentionOneCopiesTheWarpExactly) {
  torch::manual_seed(2);
  PgfgGenerator g(GeneratorOptions::Cpu128());
  {
    torch::NoGradGuard no_grad;
    g->attention_head->weight.zero_();
    g->attention_head->bias.fill_(40.0);  // sigmoid(40) == 1 in float32.
  }
  torch::NoGradGuard no_grad;
  const Inputs in = RandomInputs(2, 128);
  const GeneratorOutput out = Forward(g, in);
  ASSERT_TRUE(torch::all(out.attention == 1.0f).item<bool>());
  EXPECT_TRUE(torch::equal(out.output, in.warp));
  // And the colour head is what shows where A = 0.
  g->attention_head->bias.fill_(-200.0);
  const GeneratorOutput out0 = Forward(g, in);
  EXPECT_TRUE(torch::allclose(out0.output, out0.color));
  EXPECT_FALSE(torch::allclose(out0.output, in.warp, 1e-2, 1e-2));
}

TEST(PgfgGeneratorTest, TargetPriorChangesTheOutput) {
  torch::manual_seed(3);
  PgfgGenerator g(GeneratorOptions::Cpu128());
  torch::NoGradGuard no_grad;
  Inputs in = RandomInputs(1, 128);
  const auto a = Forward(g, in).output;
  Inputs same = in;
  same.prior_t = in.prior_s;
  same.mask_t = in.mask_s;
  const auto b = Forward(g, same).output;
  EXPECT_GT((a - b).abs().max().item<float>(), 1e-4);
}

TEST(PgfgGeneratorTest, WrongInputShapeNamesTheInput) {
  PgfgGenerator g(GeneratorOptions::Cpu128());
  Inputs in = RandomInputs(1, 128);
  in.mask_t = torch::zeros({1, 3, 128, 128});
  try {
    Forward(g, in);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'mask_t'"), std::string::npos) << e.what();
  }
}

TEST(GeneratorOptionsTest, InvalidOptionsAreRejected) {
  GeneratorOptions o;
  o.image_size = 100;  // Not a multiple of 8.
  EXPECT_THROW(o.Validate(), std::invalid_argument);
  EXPECT_THROW(GeneratorOptions::ForSize(192), std::invalid_argument);
  EXPECT_NO_THROW(GeneratorOptions::Quality256().Validate());
  GeneratorOptions stride = GeneratorOptions::Cpu128();
  stride.stem_stride = 3;
  EXPECT_THROW(stride.Validate(), std::invalid_argument);
  // A stride-2 stem needs image_size to be a multiple of 2 * 2^num_downsamples.
  GeneratorOptions odd = GeneratorOptions::Cpu128();
  odd.image_size = 40;  // A multiple of 8, not of 16.
  EXPECT_THROW(odd.Validate(), std::invalid_argument);
  odd.stem_stride = 1;
  EXPECT_NO_THROW(odd.Validate());
}

// The CPU model runs its features at half resolution (stride-2 stem) and
// keeps the structure: dense blocks, the prior encoder's residual at
// every feature scale, two self-attention layers (at the bottleneck 8x8 and
// at 16x16), full-size C and A heads. The quality model keeps a stride-1 stem.
TEST(GeneratorOptionsTest, CpuModelUsesAStrideTwoStemAndCoarseAttention) {
  const GeneratorOptions cpu = GeneratorOptions::Cpu128();
  EXPECT_EQ(cpu.image_size, 128);
  EXPECT_EQ(cpu.stem_stride, 2);
  EXPECT_EQ(GeneratorOptions::Quality256().stem_stride, 1);
  PgfgGenerator g(cpu);
  ASSERT_TRUE(g->attention1 && g->attention2);
  EXPECT_EQ(g->stem->conv->options.stride()->at(0), 2);
  const std::vector<torch::Tensor> features =
      g->prior_encoder->forward(torch::zeros({1, 3, 128, 128}), torch::zeros({1, 1, 128, 128}));
  ASSERT_EQ(features.size(), 4u);
  EXPECT_EQ(features.front().size(2), 64);
  EXPECT_EQ(features.back().size(2), 8);
}

TEST(GeneratorFileTest, VersionOneFileLoadsWithAStrideOneStem) {
  torch::manual_seed(6);
  GeneratorOptions o = SmallCpuOptions();
  o.stem_stride = 1;
  PgfgGenerator g(o);
  // The file layout before stem_stride existed: 9 option entries, version 1.
  torch::serialize::OutputArchive archive;
  g->save(archive);
  archive.write("pgfg_options",
                torch::tensor({int64_t{1}, o.image_size, o.base_channels, o.max_channels, o.num_downsamples,
                               o.dense_layers, o.growth, o.prior_channels, int64_t{1}},
                              torch::kInt64),
                /*is_buffer=*/true);
  const fs::path path = fs::path(::testing::TempDir()) / "pgfg_v1.pt";
  archive.save_to(path.string());
  PgfgGenerator loaded = LoadGenerator(path);
  EXPECT_EQ(loaded->options.stem_stride, 1);
  torch::NoGradGuard no_grad;
  const Inputs in = RandomInputs(1, 64);
  EXPECT_TRUE(torch::equal(Forward(g, in).output, Forward(loaded, in).output));
  fs::remove(path);
}

TEST(GeneratorFileTest, SaveLoadRoundTripReproducesOutputs) {
  torch::manual_seed(4);
  PgfgGenerator g(SmallCpuOptions());
  const fs::path path = fs::path(::testing::TempDir()) / "pgfg_roundtrip.pt";
  SaveGenerator(g, path);
  PgfgGenerator loaded = LoadGenerator(path);
  EXPECT_EQ(loaded->options.image_size, 64);
  EXPECT_EQ(loaded->options.base_channels, 8);
  EXPECT_EQ(loaded->options.stem_stride, 2);
  torch::NoGradGuard no_grad;
  const Inputs in = RandomInputs(1, 64);
  EXPECT_TRUE(torch::equal(Forward(g, in).output, Forward(loaded, in).output));
  fs::remove(path);
}

// The calibrated trust threshold (`faceanime calibrate-trust`) travels in
// the file; files without it read 0, an invalid one is an error naming the
// file and the entry.
TEST(GeneratorFileTest, StoresTheCalibratedTrustErrorAndRejectsAnInvalidOne) {
  torch::manual_seed(5);
  PgfgGenerator g(SmallCpuOptions());
  const fs::path path = fs::path(::testing::TempDir()) / "pgfg_trust.pt";
  SaveGenerator(g, path);
  EXPECT_EQ(LoadGenerator(path)->trust_error, 0.0);
  g->trust_error = 2.77;
  SaveGenerator(g, path);
  PgfgGenerator loaded = LoadGenerator(path);
  EXPECT_DOUBLE_EQ(loaded->trust_error, 2.77);
  torch::NoGradGuard no_grad;
  const Inputs in = RandomInputs(1, 64);
  EXPECT_TRUE(torch::equal(Forward(g, in).output, Forward(loaded, in).output));

  // The same file with a negative threshold: the saved options entry copied.
  torch::serialize::InputArchive saved;
  saved.load_from(path.string());
  torch::Tensor options;
  ASSERT_TRUE(saved.try_read("pgfg_options", options));
  torch::serialize::OutputArchive archive;
  g->save(archive);
  archive.write("pgfg_options", options, /*is_buffer=*/true);
  archive.write("pgfg_trust_error", torch::tensor({-2.0}, torch::kFloat64), /*is_buffer=*/true);
  archive.save_to(path.string());
  try {
    LoadGenerator(path);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("pgfg_trust_error"), std::string::npos) << e.what();
  }
  fs::remove(path);
}

TEST(GeneratorFileTest, CorruptFileErrorNamesIt) {
  const fs::path path = fs::path(::testing::TempDir()) / "pgfg_corrupt.pt";
  std::ofstream(path) << "this is not a torch archive";
  try {
    LoadGenerator(path);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("corrupt"), std::string::npos) << e.what();
  }
  fs::remove(path);
}

}  // namespace
}  // namespace faceanime::gen::pgfg
