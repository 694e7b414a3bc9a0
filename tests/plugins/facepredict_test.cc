// facepredict through GstHarness on a synthetic GstFaceMeta stream (a smooth
// head turn and mouth motion): look-ahead output leads its input towards
// the true future, a 10-frame face loss is bridged without a jump (but not
// across a flush), and a buffer without face analysis is an element error.
#include <gst/check/gstharness.h>
#include <gst/gst.h>

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "face3d/face_params.h"
#include "plugins/elements.h"
#include "plugins/face_meta.h"
#include "tests/plugins/harness_util.h"
#include "tests/test_support.h"

namespace {

constexpr GstClockTime kFrame = 40 * GST_MSECOND;  // 25 fps.
constexpr int kJawOpen = 26;                        // ICT expression index.

// The synthetic driver at frame k: yaw (degrees) and jawOpen, both smooth
// (periods 3 s and 1.6 s: head turns and speech-like mouth motion).
double Yaw(int k) { return 12.0 * std::sin(2 * std::numbers::pi * k / 75.0); }
double Jaw(int k) { return 0.15 + 0.12 * std::sin(2 * std::numbers::pi * k / 20.0); }

struct Sample {
  bool has_face = false;
  double yaw = 0, jaw = 0;
};

class FacePredictTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gst_init(nullptr, nullptr);
    faceanime::plugins::RegisterStatic();
  }

  static GstBuffer* DriverBuffer(int k, bool face) {
    GstBuffer* buffer = gst_buffer_new_allocate(nullptr, 32 * 24 * 3, nullptr);
    gst_buffer_memset(buffer, 0, 90, 32 * 24 * 3);
    GST_BUFFER_PTS(buffer) = k * kFrame;
    GST_BUFFER_DURATION(buffer) = kFrame;
    GstFaceMeta* meta = gst_buffer_add_face_meta(buffer);
    meta->has_face = face;
    if (face) {
      const Eigen::Vector3d r = faceanime::face3d::RotationFromEuler({Yaw(k), 0, 0});
      for (int i = 0; i < 3; ++i) meta->rotation[i] = r[i];
      meta->translation[2] = 60;
      meta->expression[kJawOpen] = Jaw(k);
      meta->confidence = 0.9;
      meta->box[2] = meta->box[3] = 20;
    }
    return buffer;
  }

  static Sample Read(GstBuffer* buffer) {
    Sample s;
    const GstFaceMeta* meta = gst_buffer_get_primary_face_meta(buffer);
    EXPECT_NE(meta, nullptr);
    if (meta == nullptr || !meta->has_face) return s;
    s.has_face = true;
    faceanime::face3d::Pose pose;
    pose.rotation = Eigen::Vector3d(meta->rotation[0], meta->rotation[1], meta->rotation[2]);
    s.yaw = faceanime::face3d::ToEuler(pose).yaw;
    s.jaw = meta->expression[kJawOpen];
    return s;
  }

  // Pushes frames 0..n-1 (face lost where `lost(k)`) and returns what came out.
  template <typename Lost>
  static std::vector<Sample> Run(const std::string& properties, int n, Lost lost) {
    GstHarness* h = gst_harness_new_parse(("facepredict " + properties).c_str());
    gst_harness_set_src_caps_str(h, "video/x-raw,format=RGB,width=32,height=24,framerate=25/1");
    std::vector<Sample> out;
    for (int k = 0; k < n; ++k) {
      GstBuffer* b = gst_harness_push_and_pull(h, DriverBuffer(k, !lost(k)));
      EXPECT_NE(b, nullptr);
      if (b == nullptr) break;
      EXPECT_EQ(GST_BUFFER_PTS(b), k * kFrame);
      out.push_back(Read(b));
      gst_buffer_unref(b);
    }
    gst_harness_teardown(h);
    return out;
  }
};

// Mean absolute error, over frames after a warm-up, of what a renderer two
// frames behind shows: the element's output at k (or, without prediction, the
// input at k) against the truth at k + 2. `value` reads yaw or jawOpen.
template <typename Value, typename Truth>
std::pair<double, double> LagErrors(const std::vector<Sample>& out, Value value, Truth truth) {
  constexpr int kLatency = 2, kWarmup = 15;
  double lag = 0, predicted = 0;
  int n = 0;
  for (int k = kWarmup; k + kLatency < static_cast<int>(out.size()); ++k, ++n) {
    EXPECT_TRUE(out[k].has_face) << k;
    lag += std::abs(truth(k) - truth(k + kLatency));
    predicted += std::abs(value(out[k]) - truth(k + kLatency));
  }
  return {lag / n, predicted / n};
}

TEST_F(FacePredictTest, LookaheadLeadsTheHeadTurnTowardsTheTrueFuture) {
  const auto out = Run("lookahead=2", 150, [](int) { return false; });
  ASSERT_EQ(out.size(), 150u);
  const auto [lag, predicted] = LagErrors(out, [](const Sample& s) { return s.yaw; }, Yaw);
  RecordProperty("lag_yaw_deg", std::to_string(lag));
  RecordProperty("predicted_yaw_deg", std::to_string(predicted));
  EXPECT_LT(predicted, 0.8 * lag) << "mean yaw error: no prediction " << lag << " deg, look-ahead " << predicted
                                  << " deg";
}

// The driver's mouth moves 3x faster than GRID speech as tracked (mean
// |d jawOpen| 0.024 vs 0.0075 per frame on the held-out clips). The network
// alone damps such fast steps and was worse than no prediction here (0.066 vs
// 0.047); the online predictor's look-ahead combines it with constant velocity
// and holding by their recent errors (predict/dynamics_predictor.cc), so
// constant velocity takes over on this motion (0.019).
TEST_F(FacePredictTest, LookaheadLeadsTheMouthTowardsTheTrueFuture) {
  const auto out = Run("lookahead=2", 150, [](int) { return false; });
  ASSERT_EQ(out.size(), 150u);
  const auto [lag, predicted] = LagErrors(out, [](const Sample& s) { return s.jaw; }, Jaw);
  RecordProperty("lag_jaw", std::to_string(lag));
  RecordProperty("predicted_jaw", std::to_string(predicted));
  EXPECT_LT(predicted, 0.8 * lag) << "mean jawOpen error: no prediction " << lag << ", look-ahead " << predicted;
}

TEST_F(FacePredictTest, WithoutLookaheadTheTrackedFacePassesThrough) {
  const auto out = Run("lookahead=0", 60, [](int) { return false; });
  ASSERT_EQ(out.size(), 60u);
  for (int k = 0; k < 60; ++k) {
    ASSERT_TRUE(out[k].has_face) << k;
    EXPECT_NEAR(out[k].yaw, Yaw(k), 0.05) << k;
    EXPECT_NEAR(out[k].jaw, Jaw(k), 0.005) << k;
  }
}

TEST_F(FacePredictTest, TenFrameDropoutIsBridgedWithoutAJump) {
  constexpr int kFrames = 80, kLossBegin = 40, kLossEnd = 50;  // Frames 40..49 have no face.
  const auto out = Run("max-gap=10", kFrames, [](int k) { return k >= kLossBegin && k < kLossEnd; });
  ASSERT_EQ(out.size(), static_cast<size_t>(kFrames));
  // The driver's own largest frame-to-frame change.
  double true_step_yaw = 0, true_step_jaw = 0;
  for (int k = 1; k < kFrames; ++k) {
    true_step_yaw = std::max(true_step_yaw, std::abs(Yaw(k) - Yaw(k - 1)));
    true_step_jaw = std::max(true_step_jaw, std::abs(Jaw(k) - Jaw(k - 1)));
  }
  for (int k = kLossBegin - 5; k < kLossEnd + 5; ++k) {
    ASSERT_TRUE(out[k].has_face) << "frame " << k << " not bridged";
    const double step_yaw = std::abs(out[k].yaw - out[k - 1].yaw);
    const double step_jaw = std::abs(out[k].jaw - out[k - 1].jaw);
    EXPECT_LT(step_yaw, 3 * true_step_yaw) << "yaw jumps at frame " << k;
    EXPECT_LT(step_jaw, 3 * true_step_jaw) << "jawOpen jumps at frame " << k;
  }
}

TEST_F(FacePredictTest, LongerLossEndsTheBridgeAsNoFace) {
  const auto out = Run("lookahead=0 max-gap=3", 40, [](int k) { return k >= 20; });
  ASSERT_EQ(out.size(), 40u);
  EXPECT_TRUE(out[19].has_face);
  EXPECT_TRUE(out[22].has_face);   // Within the 3-frame bridge.
  EXPECT_FALSE(out[30].has_face);  // Well past it.
}

TEST_F(FacePredictTest, FlushForgetsTheFaceSoNothingIsBridgedAcrossIt) {
  const char* caps = "video/x-raw,format=RGB,width=32,height=24,framerate=25/1";
  GstHarness* h = gst_harness_new_parse("facepredict max-gap=10");
  gst_harness_set_src_caps_str(h, caps);
  for (int k = 0; k < 10; ++k) gst_buffer_unref(gst_harness_push_and_pull(h, DriverBuffer(k, true)));
  // Without a flush, a lost face is bridged ...
  GstBuffer* bridged = gst_harness_push_and_pull(h, DriverBuffer(10, false));
  EXPECT_TRUE(Read(bridged).has_face);
  gst_buffer_unref(bridged);
  // ... after one (a seek), there is nothing to continue from.
  faceanime::testing::FlushAndRestart(h, caps);
  GstBuffer* after = gst_harness_push_and_pull(h, DriverBuffer(11, false));
  EXPECT_FALSE(Read(after).has_face);
  gst_buffer_unref(after);
  gst_harness_teardown(h);
}

TEST_F(FacePredictTest, BufferWithoutFaceAnalysisIsAnError) {
  GstHarness* h = gst_harness_new_parse("facepredict");
  gst_harness_set_src_caps_str(h, "video/x-raw,format=RGB,width=32,height=24,framerate=25/1");
  GstBuffer* bare = gst_buffer_new_allocate(nullptr, 32 * 24 * 3, nullptr);
  GST_BUFFER_PTS(bare) = 0;
  EXPECT_EQ(gst_harness_push(h, bare), GST_FLOW_ERROR);
  gst_harness_teardown(h);
}

}  // namespace
