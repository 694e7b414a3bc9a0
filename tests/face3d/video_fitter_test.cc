// Video tracking (VideoFitter) on a synthetic sequence drawn from the ICT
// model: smooth pose and expression motion with one step change, 1 px noise.
#include "face3d/video_fitter.h"

#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "tests/face3d/synthetic_face.h"
#include "tests/test_support.h"

namespace faceanime::face3d {
namespace {

using testing::AddNoise;
using testing::LandmarkMovingExpressions;
using testing::RotationErrorDeg;
using testing::SyntheticCamera;
using testing::TestModel;

constexpr int kFrames = 100;
constexpr int kStepFrame = 60;
constexpr int64_t kFrameNs = 40'000'000;  // 25 fps.

struct Sequence {
  std::vector<FaceParams> truth;
  std::vector<Landmarks68> observed;
};

// Slow sinusoidal head motion and smile, jawOpen stepping 0.1 -> 0.6 at kStepFrame.
Sequence MakeSequence(std::mt19937& rng) {
  const MorphableModel& model = TestModel();
  // The landmark model the fitter uses (default FitOptions, calibrated offsets included).
  const LandmarkModel lm = LandmarkModel::Create(model, FitOptions{}.landmark_offsets_cm);
  std::normal_distribution<double> normal(0.0, 1.0);
  FaceParams base;
  for (double& w : base.identity) w = normal(rng);
  const int jaw = model.ExpressionIndex("jawOpen");
  const int smile_l = model.ExpressionIndex("mouthSmile_L");
  const int smile_r = model.ExpressionIndex("mouthSmile_R");
  const int brow = model.ExpressionIndex("browInnerUp_L");
  Sequence s;
  for (int f = 0; f < kFrames; ++f) {
    const double t = f / 25.0;
    FaceParams p = base;
    p.pose.rotation = RotationFromEuler({15.0 * std::sin(0.8 * t), 6.0 * std::sin(0.5 * t + 1.0), 3.0 * std::sin(0.3 * t)});
    p.pose.translation = Eigen::Vector3d(0.5 * std::sin(0.4 * t), 0.3 * std::cos(0.6 * t), 30.0);
    p.expression[jaw] = f < kStepFrame ? 0.1 : 0.6;
    p.expression[smile_l] = 0.3 + 0.2 * std::sin(0.7 * t);
    p.expression[smile_r] = 0.3 + 0.2 * std::sin(0.7 * t + 0.3);
    p.expression[brow] = 0.2 + 0.15 * std::sin(0.9 * t);
    s.truth.push_back(p);
    s.observed.push_back(AddNoise(lm.Project(p, SyntheticCamera()), 1.0, rng));
  }
  return s;
}

// RMS of second differences of the expression weights (landmark-moving
// shapes), over frames [begin, end) avoiding the step's neighbourhood.
double Jitter(const std::vector<FaceParams>& fits, int begin, int end) {
  const std::vector<int> shapes = LandmarkMovingExpressions(TestModel());
  double sum = 0;
  int n = 0;
  for (int f = begin + 1; f + 1 < end; ++f) {
    if (std::abs(f - kStepFrame) <= 2) continue;
    for (int j : shapes) {
      const double d2 = fits[f + 1].expression[j] - 2 * fits[f].expression[j] + fits[f - 1].expression[j];
      sum += d2 * d2;
      ++n;
    }
  }
  return std::sqrt(sum / n);
}

TEST(VideoFitterTest, RejectsInvalidOptions) {
  VideoFitOptions bad;
  bad.identity_frames = 0;
  EXPECT_THROW(VideoFitter::Create(TestModel(), bad), std::invalid_argument);
  bad = {};
  bad.expression_jitter = 0;
  EXPECT_THROW(VideoFitter::Create(TestModel(), bad), std::invalid_argument);
}

TEST(VideoFitterTest, SmoothsJitterAndFollowsAStepWithinOneFrame) {
  std::mt19937 rng(7);
  const Sequence seq = MakeSequence(rng);
  const Camera camera = SyntheticCamera();
  VideoFitter tracker = VideoFitter::Create(TestModel());
  std::vector<FaceParams> tracked;
  int lock_frame = -1;
  for (int f = 0; f < kFrames; ++f) {
    const FitResult r = tracker.Track(seq.observed[f], camera, f * kFrameNs);
    EXPECT_GT(r.confidence, 0.5) << "frame " << f;
    EXPECT_LT(RotationErrorDeg(r.params.pose, seq.truth[f].pose), 2.0) << "frame " << f;
    if (lock_frame < 0 && tracker.identity_locked()) lock_frame = f;
    tracked.push_back(r.params);
  }
  ASSERT_GE(lock_frame, 0);
  ASSERT_LT(lock_frame + 5, kStepFrame);

  // Independent per-frame fits with the same (held) identity.
  const FaceFitter& fitter = tracker.fitter();
  FitRequest request;
  request.identity = tracker.identity();
  std::vector<FaceParams> independent(kFrames);
  for (int f = lock_frame; f < kFrames; ++f) independent[f] = fitter.Fit(seq.observed[f], camera, request).params;

  const double tracked_jitter = Jitter(tracked, lock_frame + 2, kFrames);
  const double independent_jitter = Jitter(independent, lock_frame + 2, kFrames);
  std::printf("expression jitter: tracked %.4f, independent %.4f (ratio %.1f)\n", tracked_jitter, independent_jitter,
              independent_jitter / tracked_jitter);
  EXPECT_LE(tracked_jitter * 3.0, independent_jitter);

  // The step (jawOpen 0.1 -> 0.6) is followed within one frame.
  const int jaw = TestModel().ExpressionIndex("jawOpen");
  std::printf("jawOpen around the step: %.3f %.3f | %.3f %.3f %.3f\n", tracked[kStepFrame - 2].expression[jaw],
              tracked[kStepFrame - 1].expression[jaw], tracked[kStepFrame].expression[jaw],
              tracked[kStepFrame + 1].expression[jaw], tracked[kStepFrame + 2].expression[jaw]);
  EXPECT_NEAR(tracked[kStepFrame + 1].expression[jaw], 0.6, 0.1);
  EXPECT_NEAR(tracked[kStepFrame + 2].expression[jaw], 0.6, 0.1);
}

// RMS distance (cm) between the neutral faces (face part) of two identities.
double IdentityVertexError(const std::array<double, kNumIdentityShapes>& a,
                           const std::array<double, kNumIdentityShapes>& b) {
  const MorphableModel& model = TestModel();
  const std::array<double, kNumExpressionShapes> neutral{};
  const Vertices va = model.Evaluate(a, neutral), vb = model.Evaluate(b, neutral);
  const IndexRange face = model.part(Part::kFace).vertices;
  double sum = 0;
  for (int v = face.begin; v < face.end; ++v) sum += (va.row(v) - vb.row(v)).cast<double>().squaredNorm();
  return std::sqrt(sum / face.size());
}

// The offline joint identity fit (FaceFitter::FitFrames: Ceres, one shared
// identity, per-frame pose and expression) over keyframes of a sequence
// recovers the identity better than the tracker's estimate, the mean of the
// same frames' single-image identity estimates.
TEST(VideoFitterTest, JointIdentityFitOverKeyframesBeatsTheMeanOfSingleImageEstimates) {
  std::mt19937 rng(5);
  const Sequence seq = MakeSequence(rng);
  const Camera camera = SyntheticCamera();
  const FaceFitter fitter = FaceFitter::Create(TestModel());
  std::vector<FrameObservation> frames;
  std::array<double, kNumIdentityShapes> mean{};
  for (int f = 0; f < kFrames; f += 12) {
    frames.push_back({seq.observed[f], camera, std::nullopt, std::nullopt});
    const FitResult single = fitter.Fit(seq.observed[f], camera);
    ASSERT_GT(single.confidence, 0.5) << "frame " << f;
    for (int i = 0; i < kNumIdentityShapes; ++i) mean[i] += single.params.identity[i];
  }
  for (double& w : mean) w /= static_cast<double>(frames.size());
  const std::vector<FitResult> joint = fitter.FitFrames(frames);
  ASSERT_EQ(joint.size(), frames.size());
  for (size_t i = 0; i < joint.size(); ++i) {
    EXPECT_GT(joint[i].confidence, 0.5) << "keyframe " << i;
    EXPECT_EQ(joint[i].params.identity, joint[0].params.identity) << "keyframe " << i;
    EXPECT_LT(RotationErrorDeg(joint[i].params.pose, seq.truth[12 * i].pose), 2.0) << "keyframe " << i;
  }
  const std::array<double, kNumIdentityShapes> zero{};
  const double truth_norm = IdentityVertexError(seq.truth[0].identity, zero);
  const double mean_error = IdentityVertexError(mean, seq.truth[0].identity);
  const double joint_error = IdentityVertexError(joint[0].params.identity, seq.truth[0].identity);
  std::printf("identity vertex RMS error over %zu keyframes: mean of single-image fits %.3f cm, joint fit %.3f cm "
              "(mean face vs truth %.3f cm)\n",
              frames.size(), mean_error, joint_error, truth_norm);
  EXPECT_LT(joint_error, mean_error);
}

// A gap in timestamps or Reset() starts over; the tracker then recovers.
TEST(VideoFitterTest, ResetForgetsIdentityAndRecovers) {
  std::mt19937 rng(9);
  const Sequence seq = MakeSequence(rng);
  VideoFitOptions options;
  options.identity_frames = 2;
  options.identity_stride = 1;
  VideoFitter tracker = VideoFitter::Create(TestModel(), options);
  for (int f = 0; f < 4; ++f) tracker.Track(seq.observed[f], SyntheticCamera(), f * kFrameNs);
  EXPECT_TRUE(tracker.identity_locked());
  tracker.Reset();
  EXPECT_FALSE(tracker.identity_locked());
  EXPECT_EQ(tracker.frames_tracked(), 0);
  const FitResult r = tracker.Track(seq.observed[10], SyntheticCamera(), 0);
  EXPECT_GT(r.confidence, 0.5);
  EXPECT_LT(RotationErrorDeg(r.params.pose, seq.truth[10].pose), 2.0);
}

}  // namespace
}  // namespace faceanime::face3d
