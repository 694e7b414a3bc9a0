// pipeline::Prediction: frame times and counts follow the rate, a preset
// target is reached at the target time and held, and bad inputs fail with errors
// naming the cause (no face in the target, unknown preset, missing weights).
#include "pipeline/prediction.h"

#include <cmath>
#include <filesystem>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "predict/dynamics_predictor.h"
#include "predict/expression_control.h"
#include "tests/test_support.h"

namespace faceanime::pipeline {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path kPortrait = fs::path(FACEANIME_TEST_ASSETS) / "astronaut.png";

PredictionOptions Options() {
  PredictionOptions o;
  o.retargeter.source_image = kPortrait;
  o.retargeter.output_crop = 64;  // Small renders keep the test quick.
  return o;
}

double MeanAbsDiff(const std::array<double, face3d::kNumExpressionShapes>& a,
                   const std::array<double, face3d::kNumExpressionShapes>& b) {
  double sum = 0;
  for (size_t j = 0; j < a.size(); ++j) sum += std::abs(a[j] - b[j]);
  return sum / a.size();
}

TEST(FrameTimeTest, FrameTimesComeFromIndexAndRate) {
  EXPECT_EQ(FrameTimeNs(0, 25), 0);
  EXPECT_EQ(FrameTimeNs(3, 25), 120'000'000);
  EXPECT_EQ(FrameTimeNs(1, 30000, 1001), 33'366'666);
  EXPECT_EQ(FrameTimeNs(30000, 30000, 1001), int64_t{1'001} * 1'000'000'000);  // 1001 s.
  // Ten hours at 25 fps: no overflow.
  EXPECT_EQ(FrameTimeNs(900'000, 25), int64_t{36'000} * 1'000'000'000);
  EXPECT_THROW(FrameTimeNs(1, 0), std::invalid_argument);
}

TEST(PredictionTest, PresetTargetIsReachedAtTheTargetTimeAndFramesFollowTheRate) {
  PredictionOptions o = Options();
  o.target.expression = "surprised";
  o.seconds = 2.0;
  o.target_time = 0.5;
  const auto p = Prediction::Create(o);
  EXPECT_EQ(p->NumFrames(25), 50);
  EXPECT_EQ(p->NumFrames(30), 60);
  EXPECT_EQ(p->output_size(), cv::Size(64, 64));
  ASSERT_TRUE(p->target_frame().has_value());
  EXPECT_EQ(*p->target_frame(), static_cast<int>(std::lround(1.0 * p->model_fps())));
  EXPECT_GE(static_cast<int>(p->dynamics().size()), p->NumFrames(static_cast<int>(p->model_fps())));

  const auto goal = p->target_dynamics()->expression;
  const face3d::FaceParams start = p->FaceAt(0);
  const face3d::FaceParams at_target = p->FaceAt(1'000'000'000);
  // Frame 0 is the portrait's own face; at the target time the face is far
  // closer to the surprised expression than it started.
  EXPECT_LT(MeanAbsDiff(start.expression, p->retargeter().source().params.expression), 1e-6);
  const double before = MeanAbsDiff(start.expression, goal);
  const double reached = MeanAbsDiff(at_target.expression, goal);
  EXPECT_GT(before, 0.01);
  EXPECT_LT(reached, 0.5 * before) << "start " << before << ", at target " << reached;
  // ... and holds it to the end (the rollout keeps the target's expression
  // after T, predict/dynamics_predictor.h): the surprised expression itself
  // (the preset's shapes: brows up, eyes wide, jaw open); the eyeBlink shapes
  // are not among them, so the blinks overlaid after T do not count here.
  const auto surprised = p->retargeter().expression_control().ToExpression(
      predict::PresetActionUnits(predict::ExpressionPreset::kSurprised));
  const auto end = p->FaceAt(1'960'000'000).expression;
  double preset_before = 0.0, preset_held = 0.0;
  int preset_shapes = 0;
  for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
    if (surprised[j] == 0.0) continue;
    preset_before += std::abs(start.expression[j] - goal[j]);
    preset_held += std::abs(end[j] - goal[j]);
    ++preset_shapes;
  }
  ASSERT_GT(preset_shapes, 0);
  EXPECT_LT(preset_held, 0.5 * preset_before) << "preset shapes: start " << preset_before / preset_shapes
                                              << ", at the end " << preset_held / preset_shapes;
  // The rendered frame shows it (the mouth opens, brows rise).
  const cv::Mat first = p->RenderAt(0), reached_img = p->RenderAt(1'000'000'000);
  EXPECT_EQ(first.size(), cv::Size(64, 64));
  EXPECT_GT(cv::norm(first, reached_img, cv::NORM_L1) / first.total() / 3, 0.5);
}

TEST(PredictionTest, TargetImageWithoutAFaceIsATargetErrorNamingIt) {
  const fs::path blank = testing::TempDir() / "blank.png";
  ASSERT_TRUE(cv::imwrite(blank.string(), cv::Mat(120, 160, CV_8UC3, cv::Scalar(90, 90, 90))));
  PredictionOptions o = Options();
  o.target.image = blank;
  try {
    Prediction::Create(o);
    FAIL() << "no error";
  } catch (const TargetError& e) {
    EXPECT_THAT(e.what(), HasSubstr("blank.png"));
    EXPECT_THAT(e.what(), HasSubstr("no face"));
  }
}

TEST(PredictionTest, UnknownPresetListsTheValidOnes) {
  PredictionOptions o = Options();
  o.target.expression = "grumpy";
  try {
    Prediction::Create(o);
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("grumpy"));
    EXPECT_THAT(e.what(), HasSubstr("surprised"));
  }
}

TEST(PredictionTest, MissingWeightsNameTheFile) {
  PredictionOptions o = Options();
  o.weights = testing::TempDir() / "no_such_weights.pt";
  try {
    Prediction::Create(o);
    FAIL() << "no error";
  } catch (const predict::PredictorModelError& e) {
    EXPECT_THAT(e.what(), HasSubstr("no_such_weights.pt"));
  }
}

TEST(PredictionTest, TwoTargetsAreRefused) {
  PredictionOptions o = Options();
  o.target.expression = "happy";
  o.target.au = "AU12=0.5";
  EXPECT_THROW(Prediction::Create(o), std::invalid_argument);
}

}  // namespace
}  // namespace faceanime::pipeline
