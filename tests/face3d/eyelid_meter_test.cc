// face3d::EyelidMeter on drawn eyes whose lid closure is known exactly: the
// landmarks stay where an open eye's are (as face-api's do when a lid
// closes), only the pixels change. Real renders and real GRID blinks:
// tests/pipeline/eyelid_tracking_test.cc.
#include "face3d/eyelid_meter.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

namespace faceanime::face3d {
namespace {

constexpr double kPi = 3.14159265358979323846;

// A face-coloured image with two drawn eyes (grey, 8-bit). Each eye: corners
// `width` apart; the open upper lid `0.18 width` above the corner line, the
// lower lid `0.1 width` below it (sine-shaped); the upper lid's margin moves
// to 10% of the gap above the lower lid at closure 1. White sclera, dark
// iris and pupil, a dark lash line along the margin, a crease and a brow above.
struct DrawnFace {
  cv::Mat gray;
  Landmarks68 landmarks;
};

DrawnFace DrawFace(double width, double closure, cv::Point2d left_eye, double gap_between = 0, int w = 0, int h = 0,
                   double iris_dx = 0) {
  if (gap_between <= 0) gap_between = 0.9 * width;
  if (w <= 0) w = static_cast<int>(left_eye.x * 2 + 2 * width + gap_between);
  if (h <= 0) h = static_cast<int>(left_eye.y * 2);
  DrawnFace f;
  f.gray = cv::Mat(h, w, CV_8UC1, cv::Scalar(168));
  for (auto& p : f.landmarks) p = Eigen::Vector2d(w / 2.0, h * 0.8);
  constexpr int kSub = 4;  // Drawn at 4x, then averaged down (anti-aliased edges).
  cv::Mat big(h * kSub, w * kSub, CV_8UC1, cv::Scalar(168));
  for (int eye = 0; eye < 2; ++eye) {
    const double x0 = left_eye.x + eye * (width + gap_between), y0 = left_eye.y;
    const double hu = 0.18 * width, hl = 0.10 * width;
    for (int by = 0; by < big.rows; ++by) {
      const double y = (by + 0.5) / kSub - 0.5;
      for (int bx = 0; bx < big.cols; ++bx) {
        const double x = (bx + 0.5) / kSub - 0.5;
        const double t = (x - x0) / width;
        uint8_t& px = big.at<uint8_t>(by, bx);
        // Brow and crease.
        if (t > -0.1 && t < 1.1 && std::abs(y - (y0 - 0.55 * width)) < 0.05 * width) px = 90;
        if (t <= 0 || t >= 1) continue;
        const double s = std::sin(kPi * t);
        const double upper0 = y0 - hu * s, lower = y0 + hl * s;
        const double closed = lower - 0.1 * (lower - upper0);
        const double margin = upper0 + closure * (closed - upper0);
        if (std::abs(y - (upper0 - 0.12 * width * s)) < 0.015 * width) px = 140;  // Crease (fixed).
        if (y >= margin && y <= lower) {
          const double cx = x0 + (0.5 + iris_dx) * width, cy = y0 - 0.03 * width;
          const double r = std::hypot(x - cx, y - cy);
          px = r < 0.08 * width ? 20 : r < 0.2 * width ? 70 : 225;
        }
        if (y >= margin - 0.04 * width && y < margin + 0.02 * width && y <= lower) px = 35;  // Lashes.
      }
    }
    const int base = eye == 0 ? 36 : 42;
    auto upper_at = [&](double t) { return Eigen::Vector2d(x0 + t * width, y0 - hu * std::sin(kPi * t)); };
    auto lower_at = [&](double t) { return Eigen::Vector2d(x0 + t * width, y0 + hl * std::sin(kPi * t)); };
    f.landmarks[base + 0] = {x0, y0};
    f.landmarks[base + 1] = upper_at(1.0 / 3);
    f.landmarks[base + 2] = upper_at(2.0 / 3);
    f.landmarks[base + 3] = {x0 + width, y0};
    f.landmarks[base + 4] = lower_at(2.0 / 3);
    f.landmarks[base + 5] = lower_at(1.0 / 3);
  }
  cv::resize(big, f.gray, f.gray.size(), 0, 0, cv::INTER_AREA);
  return f;
}

ImageView View(const cv::Mat& gray) { return ViewOf(gray, PixelFormat::kGray); }

// Feeds open frames until both references are complete.
void LearnOpenEyes(EyelidMeter& meter, double width, cv::Point2d at) {
  const DrawnFace open = DrawFace(width, 0.0, at);
  for (int k = 0; k < 50 && !(meter.has_reference(0) && meter.has_reference(1)); ++k) {
    meter.Measure(View(open.gray), open.landmarks);
  }
  ASSERT_TRUE(meter.has_reference(0) && meter.has_reference(1));
}

class EyelidMeterClosureTest : public ::testing::TestWithParam<double> {};

TEST_P(EyelidMeterClosureTest, ReadsTheDrawnLidClosureWithLandmarksLeftWhereTheOpenEyesAre) {
  const double width = GetParam();  // Eye width, pixels: a GRID frame's ~22 and a portrait's 60.
  const cv::Point2d at(1.2 * width, 1.6 * width);
  EyelidMeter meter = EyelidMeter::Create();
  LearnOpenEyes(meter, width, at);
  for (double closure : {0.0, 0.5, 1.0, 0.0}) {
    const DrawnFace f = DrawFace(width, closure, at);
    const auto r = meter.Measure(View(f.gray), f.landmarks);
    for (int eye = 0; eye < 2; ++eye) {
      ASSERT_TRUE(r[eye].has_value()) << "closure " << closure << " eye " << eye;
      // The drawing is not the meter's synthesis (its crease stays, its lash
      // line is drawn, not warped): half-closed lids read 0.63-0.82.
      if (closure == 0.0) {
        EXPECT_LT(r[eye]->closure, 0.1) << "eye " << eye;
      } else if (closure == 0.5) {
        EXPECT_NEAR(r[eye]->closure, 0.5, 0.3) << "eye " << eye;
      } else {
        EXPECT_GT(r[eye]->closure, 0.85) << "eye " << eye;
      }
      EXPECT_GT(r[eye]->match, 0.7);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EyeWidths, EyelidMeterClosureTest, ::testing::Values(22.0, 60.0));

TEST(EyelidMeterTest, OpenEyesWithJitteredLandmarksOrAMovedIrisStillReadOpen) {
  const double width = 24;
  const cv::Point2d at(30, 40);
  EyelidMeter meter = EyelidMeter::Create();
  LearnOpenEyes(meter, width, at);
  // Landmarks 1 px off (detector jitter), and the gaze turned sideways.
  DrawnFace f = DrawFace(width, 0.0, at, 0, 0, 0, /*iris_dx=*/0.15);
  for (int i = 36; i < 48; ++i) f.landmarks[i] += Eigen::Vector2d(i % 2 ? 1.0 : -0.7, i % 3 ? 0.8 : -1.0);
  const auto r = meter.Measure(View(f.gray), f.landmarks);
  for (int eye = 0; eye < 2; ++eye) {
    ASSERT_TRUE(r[eye].has_value());
    EXPECT_LT(r[eye]->closure, 0.25);
  }
}

TEST(EyelidMeterTest, NoReadingUntilTheOpenEyeReferenceIsComplete) {
  EyelidMeterOptions o;
  o.reference_frames = 3;
  o.reference_stride = 2;
  EyelidMeter meter = EyelidMeter::Create(o);
  const DrawnFace f = DrawFace(30, 0.0, {40, 50});
  // Measurable frames 0, 2, 4 are collected: readings from the sixth on.
  for (int k = 0; k < 5; ++k) {
    const auto r = meter.Measure(View(f.gray), f.landmarks);
    EXPECT_FALSE(r[0].has_value() || r[1].has_value()) << "frame " << k;
  }
  EXPECT_TRUE(meter.has_reference(0) && meter.has_reference(1));
  const auto r = meter.Measure(View(f.gray), f.landmarks);
  EXPECT_TRUE(r[0].has_value() && r[1].has_value());
  meter.Reset();
  EXPECT_FALSE(meter.has_reference(0) || meter.has_reference(1));
  EXPECT_FALSE(meter.Measure(View(f.gray), f.landmarks)[0].has_value());
}

TEST(EyelidMeterTest, EyesOutOfTheImageGiveNoReading) {
  const double width = 30;
  EyelidMeter meter = EyelidMeter::Create();
  LearnOpenEyes(meter, width, {40, 50});
  // The same face shifted so that the left eye's patch leaves the image.
  DrawnFace f = DrawFace(width, 0.0, {40, 50});
  for (auto& p : f.landmarks) p.x() -= 30;
  const auto r = meter.Measure(View(f.gray), f.landmarks);
  EXPECT_FALSE(r[0].has_value());
  // Entirely outside, far away, and behind-the-camera-like huge values.
  for (auto& p : f.landmarks) p = Eigen::Vector2d(-1e9, 1e9);
  const auto far = meter.Measure(View(f.gray), f.landmarks);
  EXPECT_FALSE(far[0].has_value() || far[1].has_value());
}

TEST(EyelidMeterTest, TinyEyesGiveNoReading) {
  EyelidMeter meter = EyelidMeter::Create();
  const DrawnFace f = DrawFace(6, 0.0, {20, 20});
  for (int k = 0; k < 30; ++k) {
    const auto r = meter.Measure(View(f.gray), f.landmarks);
    EXPECT_FALSE(r[0].has_value() || r[1].has_value());
  }
  EXPECT_FALSE(meter.has_reference(0));
}

TEST(EyelidMeterTest, TexturelessOrNonFiniteInputGivesNoReading) {
  EyelidMeter meter = EyelidMeter::Create();
  const DrawnFace f = DrawFace(30, 0.0, {40, 50});
  const cv::Mat flat(f.gray.size(), CV_8UC1, cv::Scalar(128));
  for (int k = 0; k < 30; ++k) {
    const auto r = meter.Measure(View(flat), f.landmarks);
    EXPECT_FALSE(r[0].has_value() || r[1].has_value());
  }
  EXPECT_FALSE(meter.has_reference(0));
  Landmarks68 bad = f.landmarks;
  bad[39] = Eigen::Vector2d(std::numeric_limits<double>::quiet_NaN(), 10);
  bad[44] = Eigen::Vector2d(std::numeric_limits<double>::infinity(), 10);
  for (int k = 0; k < 30; ++k) {
    const auto r = meter.Measure(View(f.gray), bad);
    EXPECT_FALSE(r[0].has_value() || r[1].has_value());
  }
  EXPECT_FALSE(meter.Measure(ImageView{}, f.landmarks)[0].has_value());
}

TEST(EyelidMeterTest, AnOccludedEyeGivesNoReading) {
  const double width = 30;
  const cv::Point2d at(40, 50);
  EyelidMeter meter = EyelidMeter::Create();
  LearnOpenEyes(meter, width, at);
  DrawnFace f = DrawFace(width, 0.0, at);
  // A hand over the left eye: a smooth bright gradient, nothing like an eye.
  const cv::Rect box(static_cast<int>(at.x - 0.5 * width), static_cast<int>(at.y - 0.8 * width),
                     static_cast<int>(2 * width), static_cast<int>(1.4 * width));
  for (int y = box.y; y < box.y + box.height; ++y) {
    for (int x = box.x; x < box.x + box.width; ++x) f.gray.at<uint8_t>(y, x) = static_cast<uint8_t>(150 + (x - box.x));
  }
  const auto r = meter.Measure(View(f.gray), f.landmarks);
  EXPECT_FALSE(r[0].has_value());
  EXPECT_TRUE(r[1].has_value());
}

TEST(EyelidMeterTest, InvalidOptionsAreRejected) {
  auto bad = [](auto change) {
    EyelidMeterOptions o;
    change(o);
    return o;
  };
  EXPECT_THROW(EyelidMeter::Create(bad([](auto& o) { o.reference_frames = 0; })), std::invalid_argument);
  EXPECT_THROW(EyelidMeter::Create(bad([](auto& o) { o.reference_stride = 0; })), std::invalid_argument);
  EXPECT_THROW(EyelidMeter::Create(bad([](auto& o) { o.min_eye_width_px = 0; })), std::invalid_argument);
  EXPECT_THROW(EyelidMeter::Create(bad([](auto& o) { o.max_shift_px = -1; })), std::invalid_argument);
  EXPECT_THROW(EyelidMeter::Create(bad([](auto& o) { o.closure_steps = 2; })), std::invalid_argument);
  EXPECT_THROW(EyelidMeter::Create(bad([](auto& o) { o.gaze_steps = 0; })), std::invalid_argument);
  EXPECT_THROW(EyelidMeter::Create(bad([](auto& o) { o.max_gaze_down = 1.5; })), std::invalid_argument);
  EXPECT_THROW(EyelidMeter::Create(bad([](auto& o) { o.min_match = 1.5; })), std::invalid_argument);
  EXPECT_THROW(EyelidMeter::Create(bad([](auto& o) { o.adapt_rate = 1.0; })), std::invalid_argument);
  EXPECT_THROW(EyelidMeter::Create(bad([](auto& o) { o.adapt_max_closure = -0.1; })), std::invalid_argument);
  EXPECT_THROW(EyelidMeter::Create(bad([](auto& o) { o.adapt_min_match = 2; })), std::invalid_argument);
  EXPECT_NO_THROW(EyelidMeter::Create());
}

}  // namespace
}  // namespace faceanime::face3d
