#include "gen/neural_generator.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <torch/torch.h>

#include "gen/pgfg/networks.h"

namespace faceanime::gen {
namespace {

namespace fs = std::filesystem;

// A small generator file whose attention head is forced to A = 1 (output = W).
fs::path WriteCopyWarpModel(const std::string& name) {
  torch::manual_seed(1);
  pgfg::GeneratorOptions o;
  o.image_size = 64;
  o.base_channels = 8;
  pgfg::PgfgGenerator g(o);
  {
    torch::NoGradGuard no_grad;
    g->attention_head->weight.zero_();
    g->attention_head->bias.fill_(40.0);
  }
  const fs::path path = fs::path(::testing::TempDir()) / name;
  pgfg::SaveGenerator(g, path);
  return path;
}

GeneratorInputs RandomInputs(int side) {
  cv::RNG rng(5);
  GeneratorInputs in;
  for (cv::Mat* m : {&in.source, &in.warp, &in.prior_s, &in.prior_t}) {
    *m = cv::Mat(side, side, CV_8UC3);
    rng.fill(*m, cv::RNG::UNIFORM, 0, 256);
  }
  for (cv::Mat* m : {&in.mask_s, &in.mask_t}) {
    *m = cv::Mat(side, side, CV_8U);
    rng.fill(*m, cv::RNG::UNIFORM, 0, 256);
  }
  return in;
}

TEST(NeuralGeneratorTest, CorruptFileErrorNamesIt) {
  const fs::path path = fs::path(::testing::TempDir()) / "corrupt_generator.pt";
  std::ofstream(path) << "not a model";
  try {
    NeuralGenerator::Create({.model_path = path});
    FAIL() << "expected std::runtime_error";
  } catch (const ModelMissingError&) {
    FAIL() << "a corrupt file is not a missing file";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
  // TryCreate does not swallow corrupt files either.
  std::string warning;
  EXPECT_THROW(NeuralGenerator::TryCreate({.model_path = path}, &warning), std::runtime_error);
  fs::remove(path);
}

TEST(NeuralGeneratorTest, MissingFileFallsBackWithWarning) {
  const fs::path path = fs::path(::testing::TempDir()) / "no_such_generator.pt";
  EXPECT_THROW(NeuralGenerator::Create({.model_path = path}), ModelMissingError);
  std::string warning;
  EXPECT_EQ(NeuralGenerator::TryCreate({.model_path = path}, &warning), nullptr);
  EXPECT_NE(warning.find(path.string()), std::string::npos) << warning;
  EXPECT_NE(warning.find("classical"), std::string::npos) << warning;
}

TEST(NeuralGeneratorTest, CopyWarpModelReturnsTheWarp) {
  const fs::path path = WriteCopyWarpModel("copy_warp_generator.pt");
  auto g = NeuralGenerator::Create({.model_path = path});
  EXPECT_EQ(g->image_size(), 64);
  const GeneratorInputs in = RandomInputs(64);
  const GeneratorResult out = g->Generate(in);
  ASSERT_EQ(out.rgb.type(), CV_8UC3);
  EXPECT_EQ(cv::norm(out.rgb, in.warp, cv::NORM_INF), 0.0);
  double lo = 0, hi = 0;
  cv::minMaxLoc(out.attention, &lo, &hi);
  EXPECT_EQ(lo, 1.0);
  // Another crop size is resized to the model's and back.
  const GeneratorResult big = g->Generate(RandomInputs(96));
  EXPECT_EQ(big.rgb.size(), cv::Size(96, 96));
  fs::remove(path);
}

// The committed models' trust thresholds (`faceanime calibrate-trust`,
// assets/pgfg/README.md): the 256 model carries the 81st percentile of its
// self-check errors on its 176 GRID training clips (2.769); the 128 model
// carries none (the pipeline's fallback, 1.15, is its value); a fresh
// network none.
TEST(NeuralGeneratorTest, CommittedModelsCarryTheirCalibratedTrustThresholds) {
  const fs::path assets = fs::path(FACEANIME_TEST_ASSETS) / "pgfg";
  const auto quality = NeuralGenerator::Create({.model_path = assets / "pgfg_256.pt"});
  ASSERT_TRUE(quality->calibrated_trust_error().has_value());
  EXPECT_NEAR(*quality->calibrated_trust_error(), 2.769, 0.001);
  EXPECT_FALSE(NeuralGenerator::Create({.model_path = assets / "pgfg_128.pt"})->calibrated_trust_error());
  EXPECT_FALSE(NeuralGenerator::Create({.model_path = WriteCopyWarpModel("fresh.pt")})->calibrated_trust_error());
}

TEST(NeuralGeneratorTest, BadInputIsNamed) {
  const fs::path path = WriteCopyWarpModel("copy_warp_generator2.pt");
  auto g = NeuralGenerator::Create({.model_path = path});
  GeneratorInputs in = RandomInputs(64);
  in.mask_t = cv::Mat(64, 64, CV_8UC3, cv::Scalar::all(0));
  try {
    g->Generate(in);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'mask_t'"), std::string::npos) << e.what();
  }
  fs::remove(path);
}

}  // namespace
}  // namespace faceanime::gen
