// Face tracking with the real detector on real photos and a fake landmark
// source (fixed points, optional noise, scripted confidence).
#include "face3d/face_tracker.h"

#include <cmath>
#include <filesystem>
#include <functional>
#include <random>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "tests/test_support.h"

namespace faceanime::face3d {
namespace {

constexpr int64_t kFrameNs = 33'333'333;  // 30 fps.

cv::Mat Astronaut() {
  cv::Mat bgr = cv::imread((std::filesystem::path(FACEANIME_TEST_ASSETS) / "astronaut.png").string());
  EXPECT_FALSE(bgr.empty());
  return bgr;
}

const FaceDetector& Detector() {
  static const FaceDetector* detector = new FaceDetector(FaceDetector::Create());
  return *detector;
}

// A stand-in for the landmark network. Its "face" is 68 fixed points laid out
// inside `face` plus `offset` (the test moves it), with optional Gaussian
// noise. Confidence is 0.95 when the box it is given holds image texture
// (a real face) and 0.02 on a flat (blank) region, unless a script overrides
// it for a given call. Records every box it was given.
class FakeLandmarks : public LandmarkSource {
 public:
  FakeLandmarks(const Eigen::AlignedBox2d& face, double noise_px) : noise_(0.0, noise_px) {
    for (int i = 0; i < kNumLandmarks; ++i) {
      const Eigen::Vector2d grid((i % 9) / 8.0, (i / 9) / 7.0);
      truth_[i] = face.min() + (0.1 * Eigen::Vector2d::Ones() + 0.8 * grid).cwiseProduct(face.sizes());
    }
  }

  LandmarkResult Detect(const ImageView& image, const Eigen::AlignedBox2d& face_box) const override {
    const int call = static_cast<int>(boxes_.size());
    boxes_.push_back(face_box);
    LandmarkResult result;
    for (int i = 0; i < kNumLandmarks; ++i) {
      result.points[i] = truth_[i] + offset_;
      if (noise_.stddev() > 0) result.points[i] += Eigen::Vector2d(noise_(rng_), noise_(rng_));
    }
    result.confidence = HasTexture(image, face_box) ? 0.95 : 0.02;
    if (confidence_script_) {
      if (auto scripted = confidence_script_(call)) result.confidence = *scripted;
    }
    return result;
  }

  void set_offset(const Eigen::Vector2d& offset) { offset_ = offset; }
  void set_confidence_script(std::function<std::optional<double>(int call)> script) {
    confidence_script_ = std::move(script);
  }
  int calls() const { return static_cast<int>(boxes_.size()); }
  const Eigen::AlignedBox2d& last_box() const { return boxes_.back(); }
  const Landmarks68& truth() const { return truth_; }

 private:
  static bool HasTexture(const ImageView& image, const Eigen::AlignedBox2d& box) {
    const cv::Rect rect = cv::Rect(cv::Point(static_cast<int>(box.min().x()), static_cast<int>(box.min().y())),
                                   cv::Point(static_cast<int>(box.max().x()), static_cast<int>(box.max().y()))) &
                          cv::Rect(0, 0, image.width, image.height);
    if (rect.area() <= 0) return false;
    cv::Scalar mean, stddev;
    cv::meanStdDev(WrapAsMat(image)(rect), mean, stddev);
    return stddev[0] > 5.0;
  }

  Landmarks68 truth_;
  Eigen::Vector2d offset_ = Eigen::Vector2d::Zero();
  mutable std::mt19937 rng_{11};
  mutable std::normal_distribution<double> noise_;
  std::function<std::optional<double>(int)> confidence_script_;
  mutable std::vector<Eigen::AlignedBox2d> boxes_;
};

Eigen::AlignedBox2d AstronautFaceBox() {
  const cv::Mat bgr = Astronaut();
  const auto face = LargestFace(Detector().Detect(ViewOf(bgr, PixelFormat::kBgr)));
  EXPECT_TRUE(face.has_value());
  return face ? face->box : Eigen::AlignedBox2d(Eigen::Vector2d(180, 75), Eigen::Vector2d(278, 172));
}

TEST(FaceTrackerTest, DetectsOnTheFirstFrameThenFollowsTheLandmarksAlone) {
  const cv::Mat bgr = Astronaut();
  const Eigen::AlignedBox2d detected = AstronautFaceBox();
  FakeLandmarks landmarks(detected, 0.0);
  FaceTracker tracker = FaceTracker::Create({}, Detector(), landmarks);
  for (int frame = 0; frame < 10; ++frame) {
    SCOPED_TRACE(frame);
    const auto face = tracker.Track(ViewOf(bgr, PixelFormat::kBgr), frame * kFrameNs);
    ASSERT_TRUE(face.has_value());
    EXPECT_EQ(face->redetected, frame == 0);
    EXPECT_EQ(tracker.frames_since_detection(), frame);
    EXPECT_NEAR(face->confidence, 0.95, 1e-12);
    // The box from the landmarks reproduces the detector's box convention.
    EXPECT_LT((face->box.min() - detected.min()).norm(), 1e-6);
    EXPECT_LT((face->box.max() - detected.max()).norm(), 1e-6);
    for (int i = 0; i < kNumLandmarks; ++i) {
      EXPECT_LT((face->landmarks[i] - landmarks.truth()[i]).norm(), 1e-9);
      EXPECT_EQ(face->raw_landmarks[i], landmarks.truth()[i]);
    }
  }
  EXPECT_EQ(landmarks.calls(), 10);  // One landmark call per frame.
}

TEST(FaceTrackerTest, TakesTheCropBoxFromThePreviousFramesLandmarks) {
  // The face moves 4 px right and 2 px down per frame.
  const cv::Mat bgr = Astronaut();
  const Eigen::AlignedBox2d detected = AstronautFaceBox();
  FakeLandmarks landmarks(detected, 0.0);
  FaceTracker tracker = FaceTracker::Create({}, Detector(), landmarks);
  const Eigen::Vector2d step(4.0, 2.0);
  for (int frame = 0; frame < 8; ++frame) {
    SCOPED_TRACE(frame);
    landmarks.set_offset(frame * step);
    const auto face = tracker.Track(ViewOf(bgr, PixelFormat::kBgr), frame * kFrameNs);
    ASSERT_TRUE(face.has_value());
    if (frame == 0) continue;
    EXPECT_FALSE(face->redetected);
    const Eigen::Vector2d expected_shift = (frame - 1) * step;  // One frame behind.
    EXPECT_LT((face->box.center() - (detected.center() + expected_shift)).norm(), 1e-6);
    EXPECT_EQ(face->raw_landmarks[30], landmarks.truth()[30] + frame * step);
    // Filtered points follow with a small lag in the direction of motion.
    const Eigen::Vector2d lag = face->raw_landmarks[30] - face->landmarks[30];
    EXPECT_GE(lag.dot(step), 0.0);
    EXPECT_LT(lag.norm(), 2.5 * step.norm());
  }
}

TEST(FaceTrackerTest, RedetectsEveryNFramesWhenAsked) {
  const cv::Mat bgr = Astronaut();
  FakeLandmarks landmarks(AstronautFaceBox(), 0.0);
  FaceTrackerOptions options;
  options.redetect_interval = 4;
  FaceTracker tracker = FaceTracker::Create(options, Detector(), landmarks);
  std::vector<int> detection_frames;
  for (int frame = 0; frame < 12; ++frame) {
    const auto face = tracker.Track(ViewOf(bgr, PixelFormat::kBgr), frame * kFrameNs);
    ASSERT_TRUE(face.has_value());
    if (face->redetected) detection_frames.push_back(frame);
  }
  EXPECT_EQ(detection_frames, (std::vector<int>{0, 4, 8}));
}

TEST(FaceTrackerTest, RedetectsInTheSameFrameWhenLandmarkConfidenceDrops) {
  const cv::Mat bgr = Astronaut();
  FakeLandmarks landmarks(AstronautFaceBox(), 0.0);
  // The 6th call (frame 5, from the landmark box) is unsure; the retry from
  // the detector's box is fine.
  landmarks.set_confidence_script([](int call) -> std::optional<double> {
    if (call == 5) return 0.3;
    return std::nullopt;
  });
  FaceTracker tracker = FaceTracker::Create({}, Detector(), landmarks);
  for (int frame = 0; frame < 8; ++frame) {
    SCOPED_TRACE(frame);
    const auto face = tracker.Track(ViewOf(bgr, PixelFormat::kBgr), frame * kFrameNs);
    ASSERT_TRUE(face.has_value());
    EXPECT_EQ(face->redetected, frame == 0 || frame == 5);
    EXPECT_GE(face->confidence, 0.5);
  }
  EXPECT_EQ(landmarks.calls(), 9);  // Frame 5 asked twice.
}

TEST(FaceTrackerTest, ReportsNoFaceWhileTheFaceIsAwayAndFindsItWhenItReturns) {
  const cv::Mat bgr = Astronaut();
  const cv::Mat blank(bgr.size(), CV_8UC3, cv::Scalar(90, 100, 110));
  FakeLandmarks landmarks(AstronautFaceBox(), 1.0);
  FaceTracker tracker = FaceTracker::Create({}, Detector(), landmarks);
  for (int frame = 0; frame < 15; ++frame) {
    SCOPED_TRACE(frame);
    const bool present = frame < 5 || frame >= 10;
    const auto face = tracker.Track(ViewOf(present ? bgr : blank, PixelFormat::kBgr), frame * kFrameNs);
    ASSERT_EQ(face.has_value(), present);
    if (!present) continue;
    EXPECT_EQ(face->redetected, frame == 0 || frame == 10);
    if (frame == 0 || frame == 10) {
      // A new track restarts the filter: the first sample passes through.
      for (int i = 0; i < kNumLandmarks; ++i) EXPECT_EQ(face->landmarks[i], face->raw_landmarks[i]);
    } else {
      EXPECT_NE(face->landmarks[0], face->raw_landmarks[0]);  // Filtered.
    }
  }
}

TEST(FaceTrackerTest, StaticFaceJitterAfterFilteringIsAtMostThreeTenthsOfAPixel) {
  // A "clip" of one photo repeated for 3 s at 30 fps with sensor noise
  // (sigma 2 grey levels) on every frame; the fake landmark source adds 1 px
  // Gaussian noise per coordinate to fixed points, about what a landmark
  // network shows on a still face.
  const cv::Mat bgr = Astronaut();
  FakeLandmarks landmarks(AstronautFaceBox(), 1.0);
  FaceTracker tracker = FaceTracker::Create({}, Detector(), landmarks);
  cv::RNG rng(5);
  std::optional<TrackedFace> previous;
  double raw_sq = 0.0, filtered_sq = 0.0;
  int n = 0;
  for (int frame = 0; frame < 90; ++frame) {
    cv::Mat noisy = bgr.clone();
    cv::Mat noise(bgr.size(), CV_16SC3);
    rng.fill(noise, cv::RNG::NORMAL, 0, 2);
    cv::add(noisy, noise, noisy, cv::noArray(), CV_8UC3);
    const auto face = tracker.Track(ViewOf(noisy, PixelFormat::kBgr), frame * kFrameNs);
    ASSERT_TRUE(face.has_value()) << frame;
    if (frame >= 15 && previous) {  // After half a second of settling.
      EXPECT_FALSE(face->redetected);
      for (int i = 0; i < kNumLandmarks; ++i) {
        raw_sq += (face->raw_landmarks[i] - previous->raw_landmarks[i]).squaredNorm();
        filtered_sq += (face->landmarks[i] - previous->landmarks[i]).squaredNorm();
        ++n;
      }
    }
    previous = face;
  }
  const double raw_rms = std::sqrt(raw_sq / n);
  const double filtered_rms = std::sqrt(filtered_sq / n);
  RecordProperty("raw_rms_px", std::to_string(raw_rms));
  RecordProperty("filtered_rms_px", std::to_string(filtered_rms));
  EXPECT_GT(raw_rms, 1.8);  // The input really jitters (~2 px).
  EXPECT_LE(filtered_rms, 0.3);
}

TEST(FaceTrackerTest, ReportsNoFaceOnAnEmptyFrame) {
  FakeLandmarks landmarks(AstronautFaceBox(), 0.0);
  FaceTracker tracker = FaceTracker::Create({}, Detector(), landmarks);
  EXPECT_FALSE(tracker.Track(ImageView{}, 0).has_value());
  EXPECT_EQ(landmarks.calls(), 0);
}

TEST(FaceTrackerTest, RejectsInvalidOptions) {
  FakeLandmarks landmarks(Eigen::AlignedBox2d(Eigen::Vector2d(0, 0), Eigen::Vector2d(10, 10)), 0.0);
  FaceTrackerOptions bad_confidence;
  bad_confidence.min_landmark_confidence = 1.5;
  EXPECT_THROW(FaceTracker::Create(bad_confidence, Detector(), landmarks), std::invalid_argument);
  FaceTrackerOptions bad_interval;
  bad_interval.redetect_interval = -1;
  EXPECT_THROW(FaceTracker::Create(bad_interval, Detector(), landmarks), std::invalid_argument);
  FaceTrackerOptions bad_filter;
  bad_filter.filter.min_cutoff = 0.0;
  EXPECT_THROW(FaceTracker::Create(bad_filter, Detector(), landmarks), std::invalid_argument);
}

}  // namespace
}  // namespace faceanime::face3d
