// Issue 4 acceptance: jitter of the tracked landmarks on a static face with
// the real networks. The astronaut portrait (assets/astronaut.png) is
// repeated for 3 s at 30 fps, each frame with its own Gaussian sensor noise
// (sigma 2 grey levels); FaceDetector (BlazeFace front) + the full 68-point
// Landmarker, through a LandmarkSource adapter, + FaceTracker with default
// options.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "face3d/face_detector.h"
#include "face3d/face_tracker.h"
#include "face3d/landmarker.h"

namespace faceanime::face3d {
namespace {

constexpr int64_t kFrameNs = 33'333'333;  // 30 fps.

struct JitterFigures {
  double raw_rms = 0.0;       // Frame-to-frame RMS motion of the raw landmarks, px.
  double filtered_rms = 0.0;  // Same for the One-Euro filtered landmarks, px.
  int redetections_after_first = 0;
  int frames_with_face = 0;
};

JitterFigures MeasureStaticJitter(bool tiny) {
  const cv::Mat bgr = cv::imread((std::filesystem::path(FACEANIME_TEST_ASSETS) / "astronaut.png").string());
  EXPECT_FALSE(bgr.empty());
  const FaceDetector detector = FaceDetector::Create();
  Landmarker::Options lm_options;
  lm_options.tiny = tiny;
  const auto landmarker = Landmarker::Create(lm_options);
  const LandmarkerSource source(*landmarker);
  FaceTracker tracker = FaceTracker::Create({}, detector, source);

  cv::RNG rng(5);
  std::optional<TrackedFace> previous;
  double raw_sq = 0.0, filtered_sq = 0.0;
  int n = 0;
  JitterFigures out;
  for (int frame = 0; frame < 90; ++frame) {
    cv::Mat noise(bgr.size(), CV_16SC3);
    rng.fill(noise, cv::RNG::NORMAL, 0, 2);
    cv::Mat noisy;
    cv::add(bgr, noise, noisy, cv::noArray(), CV_8UC3);
    const auto face = tracker.Track(ViewOf(noisy, PixelFormat::kBgr), frame * kFrameNs);
    if (!face) {
      ADD_FAILURE() << "no face in frame " << frame;
      previous.reset();
      continue;
    }
    ++out.frames_with_face;
    if (frame > 0 && face->redetected) ++out.redetections_after_first;
    if (frame >= 15 && previous) {  // After half a second of settling.
      for (int i = 0; i < kNumLandmarks; ++i) {
        raw_sq += (face->raw_landmarks[i] - previous->raw_landmarks[i]).squaredNorm();
        filtered_sq += (face->landmarks[i] - previous->landmarks[i]).squaredNorm();
        ++n;
      }
    }
    previous = face;
  }
  if (n > 0) {
    out.raw_rms = std::sqrt(raw_sq / n);
    out.filtered_rms = std::sqrt(filtered_sq / n);
  }
  return out;
}

// Measured (full / tiny net): raw 0.122 / 0.126 px, filtered 0.008 / 0.010 px.
class TrackerJitterTest : public ::testing::TestWithParam<bool> {};

TEST_P(TrackerJitterTest, StaticFaceMovesAtMostThreeTenthsOfAPixelPerFrame) {
  const bool tiny = GetParam();
  const JitterFigures f = MeasureStaticJitter(tiny);
  std::printf("%s net: raw %.3f px, filtered %.3f px frame-to-frame RMS; %d re-detections after frame 0\n",
              tiny ? "tiny" : "full", f.raw_rms, f.filtered_rms, f.redetections_after_first);
  RecordProperty("raw_rms_px", std::to_string(f.raw_rms));
  RecordProperty("filtered_rms_px", std::to_string(f.filtered_rms));
  EXPECT_EQ(f.frames_with_face, 90);
  EXPECT_EQ(f.redetections_after_first, 0);
  // The per-frame sensor noise must really reach the net (raw motion well
  // above 0), and the filter must reduce it.
  EXPECT_GT(f.raw_rms, 0.03);
  EXPECT_LT(f.filtered_rms, 0.5 * f.raw_rms);
  EXPECT_LE(f.filtered_rms, 0.3);
}

INSTANTIATE_TEST_SUITE_P(FullAndTinyNets, TrackerJitterTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Tiny" : "Full"; });

}  // namespace
}  // namespace faceanime::face3d
