// gen/pgfg's identity embedder: face-api's recognition net exported by face3d
// (FaceRecognizer::ExportTorchWeights) and run by gen/pgfg from the archive
// alone gives face3d's descriptors, differentiably, and drives the trainer's
// identity term.
#include "gen/pgfg/identity.h"

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "face3d/face_recognizer.h"
#include "face3d/image.h"
#include "gen/pgfg/trainer.h"
#include "tests/test_support.h"

namespace faceanime::gen::pgfg {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path& ExportedNet() {
  static const fs::path path = [] {
    const fs::path p = testing::TempDir() / "recognition.pt";
    face3d::FaceRecognizer::ExportTorchWeights(p);
    return p;
  }();
  return path;
}

// A 240x240 RGB crop of the astronaut's face: its central 1/1.6 is exactly
// 150x150, so neither side resamples.
cv::Mat FaceCrop240() {
  const cv::Mat bgr = cv::imread((fs::path(FACEANIME_TEST_ASSETS) / "astronaut.png").string());
  EXPECT_FALSE(bgr.empty());
  cv::Mat rgb;
  cv::cvtColor(bgr(cv::Rect(130, 20, 240, 240)), rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

torch::Tensor ToGeneratorTensor(const cv::Mat& rgb) {
  return torch::from_blob(const_cast<uint8_t*>(rgb.ptr<uint8_t>()), {1, rgb.rows, rgb.cols, 3}, torch::kUInt8)
             .permute({0, 3, 1, 2})
             .to(torch::kFloat32)
             .div(127.5)
             .sub(1.0);
}

TEST(PgfgIdentityTest, EmbedderGivesFaceRecognizersDescriptorFromTheExportedNet) {
  const cv::Mat crop = FaceCrop240();
  ASSERT_TRUE(crop.isContinuous());
  const cv::Mat chip = crop(cv::Rect(45, 45, 150, 150)).clone();
  const auto recognizer = face3d::FaceRecognizer::Create();
  const auto expected = recognizer->EmbedChip(ViewOf(chip, PixelFormat::kRgb));

  const Embedder embed = LoadRecognitionEmbedder(ExportedNet(), torch::kCPU);
  const torch::Tensor got = embed(ToGeneratorTensor(crop));
  ASSERT_EQ(got.sizes(), (std::vector<int64_t>{1, 128}));
  double max_diff = 0, norm = 0;
  for (int i = 0; i < 128; ++i) {
    max_diff = std::max(max_diff, std::abs(static_cast<double>(got[0][i].item<float>()) - expected[i]));
    norm += static_cast<double>(expected[i]) * expected[i];
  }
  EXPECT_GT(std::sqrt(norm), 0.1);  // A real descriptor, not zeros.
  EXPECT_LT(max_diff, 1e-3);        // Same net; only the convolution routine differs.
}

TEST(PgfgIdentityTest, IdentityDistanceHasGradientsInTheOutput) {
  const Embedder embed = LoadRecognitionEmbedder(ExportedNet(), torch::kCPU);
  const torch::Tensor target = ToGeneratorTensor(FaceCrop240());
  torch::Tensor output = (target + 0.2 * torch::randn_like(target)).clamp(-1, 1).detach().requires_grad_(true);
  const torch::Tensor d = IdentityDistance(embed(output), embed(target).detach());
  EXPECT_GT(d.item<double>(), 0.0);
  d.backward();
  ASSERT_TRUE(output.grad().defined());
  EXPECT_GT(output.grad().abs().sum().item<double>(), 0.0);
  // The same image is at distance 0.
  EXPECT_NEAR(IdentityDistance(embed(target), embed(target)).item<double>(), 0.0, 1e-6);
}

TEST(PgfgIdentityTest, TrainerStepsWithTheIdentityTermAgainstTheTarget) {
  TrainerOptions o;
  o.generator.image_size = 32;
  o.generator.base_channels = 8;
  o.generator.max_channels = 16;
  o.generator.num_downsamples = 2;
  o.generator.prior_channels = 4;
  o.adversarial_weight = 0;
  o.identity_weight = 1.0;
  o.out_dir = testing::TempDir() / "pgfg_identity_run";
  fs::remove_all(o.out_dir);
  o.device = "cpu";
  o.sample_every = 0;
  o.checkpoint_every = 0;
  auto trainer = Trainer::Create(o, LoadRecognitionEmbedder(ExportedNet(), torch::kCPU));
  cv::Mat small;
  cv::resize(FaceCrop240(), small, cv::Size(32, 32), 0, 0, cv::INTER_AREA);
  Batch b;
  b.source = b.warp = b.prior_s = b.prior_t = b.target = ToGeneratorTensor(small);
  b.mask_s = b.mask_t = torch::ones({1, 1, 32, 32});
  b.warp = (b.target + 0.3 * torch::randn_like(b.target)).clamp(-1, 1);  // A poor warp: the output is off.
  const StepLosses first = trainer->Step(b);
  EXPECT_GT(first.identity, 0.0);
  EXPECT_TRUE(std::isfinite(first.generator_total));
  fs::remove_all(o.out_dir);
}

TEST(PgfgIdentityTest, MissingOrCorruptNetIsAnErrorNamingTheFile) {
  const fs::path missing = testing::TempDir() / "no_recognition.pt";
  try {
    LoadRecognitionEmbedder(missing, torch::kCPU);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr(missing.string()));
    EXPECT_THAT(e.what(), HasSubstr("gen-data"));
  }
  const fs::path corrupt = testing::TempDir() / "corrupt_recognition.pt";
  std::ofstream(corrupt) << "not an archive";
  try {
    LoadRecognitionEmbedder(corrupt, torch::kCPU);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr(corrupt.string()));
  }
}

}  // namespace
}  // namespace faceanime::gen::pgfg
