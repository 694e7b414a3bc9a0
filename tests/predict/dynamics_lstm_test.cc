// The LSTM behind DynamicsPredictor (predict/dynamics_lstm.h): the still
// gate's expected step and the weights file's format version check.
#include "predict/dynamics_lstm.h"

#include <filesystem>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "predict/dynamics_predictor.h"
#include "tests/test_support.h"

namespace faceanime::predict::internal {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A two-component mixture for one row with distinct means, velocity and gate.
MixtureOut TwoComponentOut(const torch::Tensor& still_logits) {
  MixtureOut out;
  out.logits = torch::tensor({{0.0f, std::log(3.0f)}});  // Weights 0.25, 0.75.
  out.means = torch::stack({torch::full({1, kStateDim}, 0.4f), torch::full({1, kStateDim}, -0.8f)}, 1);
  out.log_sigma = torch::zeros({1, 2, kStateDim});
  out.velocity = torch::arange(kStateDim, torch::kFloat).unsqueeze(0) * 0.01f;
  out.still_logits = still_logits;
  return out;
}

TEST(DynamicsLstmTest, ExpectedStepKeepsConstantVelocityOnChannelsTheGateCallsStill) {
  torch::Tensor gate = torch::full({1, face3d::kNumExpressionShapes}, -1.0f);
  gate[0][0] = 2.0f;   // Expression channel 0 (state channel 6): still.
  gate[0][52] = 0.5f;  // Last expression channel: still.
  const MixtureOut out = TwoComponentOut(gate);
  const torch::Tensor mean = out.Mean();
  const torch::Tensor expected = out.Expected();
  ASSERT_EQ(expected.sizes(), mean.sizes());
  EXPECT_NEAR(mean[0][0].item<float>(), 0.25f * 0.4f - 0.75f * 0.8f, 1e-6);
  for (int c = 0; c < kStateDim; ++c) {
    const bool still = c == 6 || c == kStateDim - 1;
    const float want = still ? out.velocity[0][c].item<float>() : mean[0][c].item<float>();
    EXPECT_FLOAT_EQ(expected[0][c].item<float>(), want) << "channel " << c;
  }
}

TEST(DynamicsLstmTest, ApplyingTheStillStepKeepsAWeightAtItsBoundExactly) {
  DynamicsLstm model(LstmConfig{.hidden = 8, .components = 2});
  torch::NoGradGuard no_grad;
  model->delta_std.fill_(0.013f);
  torch::Tensor x = torch::full({1, kStateDim}, 0.3f), prev = x.clone();
  x[0][6] = 0.0f;   // At the bound, still.
  prev[0][6] = 0.0f;
  x[0][7] = 0.0f;   // At the bound, arriving from above: constant velocity clamps.
  prev[0][7] = 0.02f;
  MixtureOut out = TwoComponentOut(torch::full({1, face3d::kNumExpressionShapes}, 3.0f));
  out.velocity = (x - prev) / model->delta_std;
  const torch::Tensor next = ApplyStep(model, x, out.Expected());
  EXPECT_EQ(next[0][6].item<float>(), 0.0f);
  EXPECT_EQ(next[0][7].item<float>(), 0.0f);
  EXPECT_NEAR(next[0][10].item<float>(), 0.3f, 1e-6);  // Still, no velocity.
}

TEST(DynamicsLstmTest, WeightsOfAnOlderFormatVersionAreRefusedNamingBothVersions) {
  DynamicsLstm model(LstmConfig{.hidden = 8, .components = 2});
  const fs::path path = fs::path(testing::TempDir()) / "dynamics_lstm_v3.pt";
  torch::serialize::OutputArchive archive;
  archive.write("faceanime_version", torch::tensor({kWeightsVersion - 1}, torch::kInt64));
  archive.write("config", torch::tensor({8.0, 2.0, 25.0, 0.5, 0.5}, torch::kFloat64));
  torch::serialize::OutputArchive module_archive;
  model->save(module_archive);
  archive.write("model", module_archive);
  archive.save_to(path.string());
  try {
    LoadWeights(path);
    ADD_FAILURE() << "an older format loaded";
  } catch (const PredictorModelError& e) {
    EXPECT_THAT(e.what(), HasSubstr(path.string()));
    EXPECT_THAT(e.what(), HasSubstr("format version " + std::to_string(kWeightsVersion - 1)));
    EXPECT_THAT(e.what(), HasSubstr("reads version " + std::to_string(kWeightsVersion)));
    EXPECT_THAT(e.what(), HasSubstr("train-predictor"));
  }
  // The same file at the current version loads.
  SaveWeights(model, path);
  EXPECT_NO_THROW(LoadWeights(path));
}

}  // namespace
}  // namespace faceanime::predict::internal
