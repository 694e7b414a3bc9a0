// The procedural motion generator: deterministic, natural timing, bounded.
#include "predict/procedural_motion.h"

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/test_support.h"

namespace faceanime::predict {
namespace {

using testing::TestModel;

int Shape(const char* name) { return TestModel().ExpressionIndex(name); }

TEST(ProceduralMotionTest, SameSeedSameSequenceOtherSeedDiffers) {
  ProceduralMotionOptions o;
  o.seed = 7;
  const auto a = ProceduralMotion::Create(TestModel(), o).Generate(250);
  const auto b = ProceduralMotion::Create(TestModel(), o).Generate(250);
  o.seed = 8;
  const auto c = ProceduralMotion::Create(TestModel(), o).Generate(250);
  double diff_ab = 0, diff_ac = 0;
  for (int k = 0; k < 250; ++k) {
    for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
      diff_ab += std::abs(a[k].expression[j] - b[k].expression[j]);
      diff_ac += std::abs(a[k].expression[j] - c[k].expression[j]);
    }
    diff_ab += (a[k].rotation - b[k].rotation).norm();
  }
  EXPECT_EQ(diff_ab, 0.0);
  EXPECT_GT(diff_ac, 1.0);
}

TEST(ProceduralMotionTest, FirstFrameIsTheRestState) {
  const auto seq = ProceduralMotion::Create(TestModel(), {}).Generate(10);
  EXPECT_EQ(seq[0].rotation.norm(), 0.0);
  EXPECT_EQ(seq[0].translation.norm(), 0.0);
  for (double w : seq[0].expression) EXPECT_EQ(w, 0.0);
}

TEST(ProceduralMotionTest, BlinkRateFollowsTheOption) {
  for (double rate : {10.0, 20.0}) {
    ProceduralMotionOptions o;
    o.blink_rate_per_min = rate;
    o.seed = 3;
    const int frames = static_cast<int>(10 * 60 * o.fps);  // Ten minutes.
    const auto seq = ProceduralMotion::Create(TestModel(), o).Generate(frames);
    int blinks = 0;
    for (int k = 1; k < frames; ++k) {
      if (seq[k].expression[Shape("eyeBlink_L")] >= 0.5 && seq[k - 1].expression[Shape("eyeBlink_L")] < 0.5) ++blinks;
    }
    EXPECT_NEAR(blinks / 10.0, rate, 0.25 * rate) << "rate " << rate;
  }
}

TEST(ProceduralMotionTest, BlinksCloseFastAndReopenSlower) {
  ProceduralMotionOptions o;
  o.fps = 100;  // Fine time resolution for timing the profile.
  o.seed = 5;
  const auto seq = ProceduralMotion::Create(TestModel(), o).Generate(3000);
  const int b = Shape("eyeBlink_R");
  int k = 1;
  while (k < 3000 && !(seq[k].expression[b] > 0 && seq[k - 1].expression[b] == 0)) ++k;
  ASSERT_LT(k, 3000);
  int peak = k;
  while (seq[peak + 1].expression[b] >= seq[peak].expression[b]) ++peak;
  int end = peak;
  while (end < 2999 && seq[end].expression[b] > 0) ++end;
  EXPECT_NEAR((peak - k) / 100.0, o.blink_close_s + 0.03, 0.03);
  EXPECT_NEAR((end - peak) / 100.0, o.blink_open_s, 0.03);
}

TEST(ProceduralMotionTest, WeightsStayInRangeAndChangeSmoothly) {
  ProceduralMotionOptions o;
  o.seed = 11;
  o.expression_events_per_min = 20;
  const auto seq = ProceduralMotion::Create(TestModel(), o).Generate(25 * 120);
  const int blink_l = Shape("eyeBlink_L"), blink_r = Shape("eyeBlink_R");
  double max_step = 0;
  for (size_t k = 0; k < seq.size(); ++k) {
    for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
      ASSERT_GE(seq[k].expression[j], 0.0);
      ASSERT_LE(seq[k].expression[j], 1.0);
      // Blinks and saccades are fast by nature; everything else eases.
      if (k == 0 || j == blink_l || j == blink_r || TestModel().expression_names()[j].rfind("eyeLook", 0) == 0) {
        continue;
      }
      max_step = std::max(max_step, std::abs(seq[k].expression[j] - seq[k - 1].expression[j]));
    }
  }
  EXPECT_LT(max_step, 0.35);
  EXPECT_GT(max_step, 0.01);  // It does move.
}

TEST(ProceduralMotionTest, ExpressionEventsReachTheirApex) {
  ProceduralMotionOptions o;
  o.events = {{"smile", {{"mouthSmile_L", 0.8}, {"mouthSmile_R", 0.8}}}};
  o.expression_events_per_min = 10;
  o.expression_strength = 1.0;
  o.speech_fraction = 0;
  const auto seq = ProceduralMotion::Create(TestModel(), o).Generate(25 * 60);
  double peak = 0;
  for (const auto& d : seq) peak = std::max(peak, d.expression[Shape("mouthSmile_L")]);
  EXPECT_GT(peak, 0.8 * 0.6 - 1e-9);
  EXPECT_LE(peak, 0.8 + 1e-9);
}

TEST(ProceduralMotionTest, HeadSwayStaysWithinItsAmplitude) {
  ProceduralMotionOptions o;
  o.speech_fraction = 0;  // No nods.
  o.head_yaw_deg = 8;
  o.head_pitch_deg = 4;
  o.head_roll_deg = 2;
  const auto seq = ProceduralMotion::Create(TestModel(), o).Generate(25 * 60);
  double max_yaw = 0;
  for (const auto& d : seq) {
    face3d::Pose p;
    p.rotation = d.rotation;
    const auto e = face3d::ToEuler(p);
    ASSERT_LE(std::abs(e.yaw), 8.0 + 1e-6);
    ASSERT_LE(std::abs(e.pitch), 4.0 + 1e-6);
    ASSERT_LE(std::abs(e.roll), 2.0 + 1e-6);
    max_yaw = std::max(max_yaw, std::abs(e.yaw));
  }
  EXPECT_GT(max_yaw, 2.0);
}

TEST(ProceduralMotionTest, RejectsUnknownShapesAndBadOptions) {
  ProceduralMotionOptions o;
  o.events = {{"bad", {{"mouthSmileBoth", 0.5}}}};
  try {
    ProceduralMotion::Create(TestModel(), o);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("mouthSmileBoth"));
  }
  ProceduralMotionOptions bad_fps;
  bad_fps.fps = 0;
  EXPECT_THROW(ProceduralMotion::Create(TestModel(), bad_fps), std::invalid_argument);
}

TEST(ProceduralMotionTest, ApplyDynamicsComposesWithTheBasePose) {
  face3d::FaceParams base;
  base.pose.rotation = face3d::RotationFromEuler({10, 0, 0});
  base.pose.translation = Eigen::Vector3d(1, 2, 50);
  Dynamics d;
  d.rotation = face3d::RotationFromEuler({5, 0, 0});
  d.translation = Eigen::Vector3d(0.5, 0, 0);
  d.expression[3] = 0.4;
  const auto out = ApplyDynamics(base, d);
  EXPECT_NEAR(face3d::ToEuler(out.pose).yaw, 15.0, 1e-9);
  EXPECT_NEAR(out.pose.translation.x(), 1.5, 1e-12);
  EXPECT_EQ(out.expression[3], 0.4);
  EXPECT_EQ(out.identity, base.identity);
}

TEST(ProceduralMotionTest, AddBlendKeepsTheBasesOwnExpression) {
  face3d::FaceParams base;
  base.expression[5] = 0.7;  // A portrait that smiles.
  base.expression[6] = 0.9;
  Dynamics d;
  d.expression[6] = 0.3;
  d.expression[7] = 0.2;
  const auto added = ApplyDynamics(base, d, ExpressionBlend::kAdd);
  EXPECT_DOUBLE_EQ(added.expression[5], 0.7);
  EXPECT_DOUBLE_EQ(added.expression[6], 1.0);  // Clamped.
  EXPECT_DOUBLE_EQ(added.expression[7], 0.2);
  EXPECT_DOUBLE_EQ(ApplyDynamics(base, d, ExpressionBlend::kReplace).expression[5], 0.0);
}

}  // namespace
}  // namespace faceanime::predict
