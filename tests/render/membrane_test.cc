#include "render/membrane.h"

#include <cmath>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

namespace faceanime::render {
namespace {

// f(x, y) = 0.3x - 0.2y + 5 is harmonic: known on the border and on a few
// scattered pixels, the membrane reproduces it inside.
TEST(MembraneTest, ReproducesALinearFieldFromItsBorder) {
  const int n = 96;
  cv::Mat values(n, n, CV_32FC2, cv::Scalar::all(0));
  cv::Mat known(n, n, CV_8U, cv::Scalar::all(0));
  auto f = [](int x, int y) { return cv::Vec2f(0.3f * x - 0.2f * y + 5.f, -0.1f * x + 2.f); };
  for (int y = 0; y < n; ++y) {
    for (int x = 0; x < n; ++x) {
      if (x == 0 || y == 0 || x == n - 1 || y == n - 1 || (x % 17 == 3 && y % 23 == 5)) {
        known.at<uint8_t>(y, x) = 255;
        values.at<cv::Vec2f>(y, x) = f(x, y);
      }
    }
  }
  const cv::Mat before = values.clone();
  FillMembrane(known, &values, {.sweeps_per_level = 6});
  double max_err = 0;
  for (int y = 0; y < n; ++y) {
    for (int x = 0; x < n; ++x) {
      if (known.at<uint8_t>(y, x)) {
        ASSERT_EQ(values.at<cv::Vec2f>(y, x), before.at<cv::Vec2f>(y, x));
      }
      for (int c = 0; c < 2; ++c) max_err = std::max(max_err, std::abs(double(values.at<cv::Vec2f>(y, x)[c] - f(x, y)[c])));
    }
  }
  // Range of f is ~48; the coarse-to-fine solve gets within ~1% of it.
  EXPECT_LT(max_err, 0.6);
}

// The fill obeys the maximum principle and decays to the zero border: a
// blob of value 10 in the middle, zero on the border.
TEST(MembraneTest, FilledValuesStayWithinTheKnownRangeAndDecayToTheBorder) {
  const int n = 128;
  cv::Mat values(n, n, CV_32F, cv::Scalar::all(0));
  cv::Mat known(n, n, CV_8U, cv::Scalar::all(0));
  cv::rectangle(known, cv::Rect(0, 0, n, n), cv::Scalar(255), 1);
  cv::circle(known, cv::Point(64, 64), 10, cv::Scalar(255), -1);
  cv::circle(values, cv::Point(64, 64), 10, cv::Scalar(10), -1);
  FillMembrane(known, &values, {.sweeps_per_level = 0});
  double lo, hi;
  cv::minMaxLoc(values, &lo, &hi);
  EXPECT_GE(lo, 0.0);
  EXPECT_LE(hi, 10.0);
  // Monotone decay along a ray from the blob to the border.
  for (int x = 75; x < n - 1; ++x) {
    EXPECT_LE(values.at<float>(64, x + 1), values.at<float>(64, x) + 1e-4f) << x;
  }
  EXPECT_GT(values.at<float>(64, 80), 3.0f);
  EXPECT_LT(values.at<float>(64, 124), 1.0f);
}

TEST(MembraneTest, NoKnownPixelsGivesZeroAndBadInputsThrow) {
  cv::Mat values(8, 8, CV_32FC3, cv::Scalar::all(7));
  FillMembrane(cv::Mat::zeros(8, 8, CV_8U), &values);
  EXPECT_EQ(cv::countNonZero(values.reshape(1)), 0);
  cv::Mat wrong(8, 8, CV_8UC3);
  EXPECT_THROW(FillMembrane(cv::Mat::zeros(8, 8, CV_8U), &wrong), std::invalid_argument);
  EXPECT_THROW(FillMembrane(cv::Mat::zeros(4, 8, CV_8U), &values), std::invalid_argument);
}

}  // namespace
}  // namespace faceanime::render
