// One-Euro filter: pass-through start, step response, noise attenuation,
// irregular and out-of-order timestamps.
#include "face3d/one_euro_filter.h"

#include <cmath>
#include <numbers>
#include <random>
#include <stdexcept>

#include <gtest/gtest.h>

namespace faceanime::face3d {
namespace {

constexpr int64_t kFrameNs = 33'333'333;  // 30 fps.

Eigen::VectorXd Scalar(double v) { return Eigen::VectorXd::Constant(1, v); }

TEST(OneEuroFilterTest, FirstSamplePassesThroughUnchanged) {
  OneEuroFilter filter = OneEuroFilter::Create();
  Eigen::VectorXd v(3);
  v << 12.5, -3.0, 1e4;
  EXPECT_FALSE(filter.initialized());
  EXPECT_EQ(filter.Filter(v, 123456789), v);
  EXPECT_TRUE(filter.initialized());
}

TEST(OneEuroFilterTest, WithoutBetaIsTheExponentialLowPassOfTheCutoff) {
  // beta = 0: a plain first-order low-pass with alpha = 1 / (1 + tau / dt).
  OneEuroFilter filter = OneEuroFilter::Create({.min_cutoff = 2.0, .beta = 0.0, .d_cutoff = 1.0});
  filter.Filter(Scalar(0.0), 0);
  const double dt = 0.02;
  const double alpha = 1.0 / (1.0 + 1.0 / (2.0 * std::numbers::pi * 2.0 * dt));
  EXPECT_NEAR(filter.Filter(Scalar(10.0), 20'000'000)[0], 10.0 * alpha, 1e-12);
}

// Frames until the output is within 1 px of a 20 px step (30 fps).
int FramesToFollowStep(const OneEuroFilterOptions& options, double* first_frame_output) {
  OneEuroFilter filter = OneEuroFilter::Create(options);
  int64_t t = 0;
  for (int i = 0; i < 30; ++i, t += kFrameNs) filter.Filter(Scalar(100.0), t);
  for (int i = 0; i < 200; ++i, t += kFrameNs) {
    const double y = filter.Filter(Scalar(120.0), t)[0];
    if (i == 0) *first_frame_output = y;
    if (std::abs(y - 120.0) < 1.0) return i;
  }
  return 200;
}

TEST(OneEuroFilterTest, FollowsAStepWithLittleLag) {
  double first = 0.0;
  const int frames = FramesToFollowStep(OneEuroFilterOptions{}, &first);
  EXPECT_LE(frames, 5);        // Within 1 px in at most 5 frames (167 ms).
  EXPECT_GT(first, 100.0);     // Starts moving at once...
  EXPECT_LT(first, 120.0);     // ...but is still a filter.
  // The speed term is what makes it fast: the same cutoff without it lags.
  double unused = 0.0;
  EXPECT_GE(FramesToFollowStep({.min_cutoff = 0.5, .beta = 0.0, .d_cutoff = 1.0}, &unused), 20);
}

TEST(OneEuroFilterTest, StronglyAttenuatesStationaryNoise) {
  // 68 landmarks (136 coordinates) at fixed places with 1 px Gaussian noise.
  OneEuroFilter filter = OneEuroFilter::Create();
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0.0, 1.0);
  const Eigen::VectorXd truth = Eigen::VectorXd::LinSpaced(136, 100.0, 400.0);
  Eigen::VectorXd previous_raw, previous_out;
  double raw_motion = 0.0, out_motion = 0.0, out_error = 0.0;
  int n = 0;
  for (int i = 0; i < 300; ++i) {
    Eigen::VectorXd raw = truth;
    for (auto& v : raw) v += noise(rng);
    const Eigen::VectorXd out = filter.Filter(raw, i * kFrameNs);
    if (i >= 30) {  // After the start-up transient.
      raw_motion += (raw - previous_raw).squaredNorm();
      out_motion += (out - previous_out).squaredNorm();
      out_error += (out - truth).squaredNorm();
      n += 68;
    }
    previous_raw = raw;
    previous_out = out;
  }
  const double raw_rms = std::sqrt(raw_motion / n);  // Per 2D point, ~2 px.
  const double out_rms = std::sqrt(out_motion / n);
  EXPECT_GT(raw_rms, 1.8);
  EXPECT_LT(out_rms, 0.3);
  EXPECT_LT(out_rms, 0.15 * raw_rms);
  EXPECT_LT(std::sqrt(out_error / n), 0.6);  // Raw error is sqrt(2) = 1.41 px.
}

TEST(OneEuroFilterTest, UsesTheRealTimeBetweenIrregularSamples) {
  const OneEuroFilterOptions options{.min_cutoff = 1.0, .beta = 0.0, .d_cutoff = 1.0};
  // A long gap lets the output jump almost to the new value...
  OneEuroFilter slow = OneEuroFilter::Create(options);
  slow.Filter(Scalar(0.0), 0);
  EXPECT_GT(slow.Filter(Scalar(10.0), 10'000'000'000)[0], 9.8);
  // ...a very short one barely moves it.
  OneEuroFilter fast = OneEuroFilter::Create(options);
  fast.Filter(Scalar(0.0), 0);
  EXPECT_LT(fast.Filter(Scalar(10.0), 1'000'000)[0], 0.1);

  // Irregular frame intervals (10-80 ms, e.g. a stalling camera) still
  // converge on a constant signal and still attenuate noise.
  OneEuroFilter filter = OneEuroFilter::Create();
  std::mt19937 rng(3);
  std::uniform_int_distribution<int64_t> interval(10'000'000, 80'000'000);
  std::normal_distribution<double> noise(0.0, 1.0);
  int64_t t = 0;
  double error = 0.0;
  int n = 0;
  for (int i = 0; i < 300; ++i) {
    t += interval(rng);
    const double y = filter.Filter(Scalar(50.0 + noise(rng)), t)[0];
    if (i >= 50) error += (y - 50.0) * (y - 50.0), ++n;
  }
  EXPECT_LT(std::sqrt(error / n), 0.5);
}

TEST(OneEuroFilterTest, IgnoresRepeatedAndBackwardTimestamps) {
  OneEuroFilter filter = OneEuroFilter::Create();
  filter.Filter(Scalar(0.0), 1'000'000'000);
  const double y = filter.Filter(Scalar(10.0), 1'033'000'000)[0];
  EXPECT_EQ(filter.Filter(Scalar(500.0), 1'033'000'000)[0], y);  // Same time.
  EXPECT_EQ(filter.Filter(Scalar(500.0), 900'000'000)[0], y);    // Earlier.
  // The state is unchanged: the next sample continues from y.
  OneEuroFilter reference = OneEuroFilter::Create();
  reference.Filter(Scalar(0.0), 1'000'000'000);
  reference.Filter(Scalar(10.0), 1'033'000'000);
  EXPECT_EQ(filter.Filter(Scalar(11.0), 1'066'000'000)[0], reference.Filter(Scalar(11.0), 1'066'000'000)[0]);
}

TEST(OneEuroFilterTest, ResetMakesTheNextSamplePassThrough) {
  OneEuroFilter filter = OneEuroFilter::Create();
  filter.Filter(Scalar(0.0), 0);
  filter.Filter(Scalar(1.0), kFrameNs);
  filter.Reset();
  EXPECT_FALSE(filter.initialized());
  EXPECT_EQ(filter.Filter(Scalar(42.0), 2 * kFrameNs)[0], 42.0);
  // A new dimension is accepted after a reset, not before.
  EXPECT_THROW(filter.Filter(Eigen::VectorXd::Zero(2), 3 * kFrameNs), std::invalid_argument);
  filter.Reset();
  EXPECT_EQ(filter.Filter(Eigen::VectorXd::Ones(2), 4 * kFrameNs), Eigen::VectorXd::Ones(2));
}

TEST(OneEuroFilterTest, RejectsInvalidOptions) {
  EXPECT_THROW(OneEuroFilter::Create({.min_cutoff = 0.0}), std::invalid_argument);
  EXPECT_THROW(OneEuroFilter::Create({.min_cutoff = 1.0, .beta = -0.1}), std::invalid_argument);
  EXPECT_THROW(OneEuroFilter::Create({.min_cutoff = 1.0, .beta = 0.0, .d_cutoff = 0.0}), std::invalid_argument);
  EXPECT_THROW(OneEuroFilter::Create({.min_cutoff = NAN}), std::invalid_argument);
}

}  // namespace
}  // namespace faceanime::face3d
