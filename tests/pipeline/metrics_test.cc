// Metrics on constructed cases with known answers.
#include "pipeline/metrics.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

namespace faceanime::metrics {
namespace {

cv::Mat Noise(int seed, cv::Size size = {96, 80}) {
  cv::Mat m(size, CV_8UC3);
  cv::RNG rng(seed);
  rng.fill(m, cv::RNG::UNIFORM, 0, 256);
  cv::GaussianBlur(m, m, {5, 5}, 1.0);  // Some structure for SSIM.
  return m;
}

face3d::Landmarks68 Grid(double scale = 1.0, double dx = 0.0, double dy = 0.0) {
  face3d::Landmarks68 lm;
  for (int i = 0; i < face3d::kNumLandmarks; ++i) {
    lm[i] = Eigen::Vector2d(100 + scale * (i % 9) * 10 + dx, 120 + scale * (i / 9) * 12 + dy);
  }
  return lm;
}

TEST(MetricsTest, IdenticalImagesScorePerfectly) {
  const cv::Mat a = Noise(1);
  const cv::Rect all(0, 0, a.cols, a.rows);
  EXPECT_EQ(L1(a, a, all), 0.0);
  EXPECT_EQ(Psnr(a, a, all), kPsnrCapDb);
  EXPECT_NEAR(Ssim(a, a, all), 1.0, 1e-12);
}

TEST(MetricsTest, ConstantOffsetGivesKnownL1AndPsnr) {
  const cv::Mat a(40, 50, CV_8UC3, cv::Scalar(100, 100, 100));
  const cv::Mat b(40, 50, CV_8UC3, cv::Scalar(110, 110, 110));
  const cv::Rect all(0, 0, 50, 40);
  EXPECT_DOUBLE_EQ(L1(a, b, all), 10.0);
  // MSE = 100 -> PSNR = 10 log10(65025 / 100).
  EXPECT_NEAR(Psnr(a, b, all), 10.0 * std::log10(650.25), 1e-9);
}

TEST(MetricsTest, RegionRestrictsTheComparison) {
  cv::Mat a = Noise(2), b = a.clone();
  b(cv::Rect(0, 0, 20, 20)).setTo(cv::Scalar(0, 0, 0));
  const cv::Rect untouched(40, 40, 30, 30);
  EXPECT_EQ(L1(a, b, untouched), 0.0);
  EXPECT_GT(L1(a, b, cv::Rect(0, 0, 20, 20)), 10.0);
  EXPECT_THROW(L1(a, b, cv::Rect(500, 500, 5, 5)), std::invalid_argument);
}

TEST(MetricsTest, SsimDropsWithNoiseAndIsSymmetric) {
  const cv::Mat a = Noise(3);
  cv::Mat noise(a.size(), CV_8UC3), b;
  cv::RNG(4).fill(noise, cv::RNG::NORMAL, 0, 20);
  cv::Mat a16;
  a.convertTo(a16, CV_16SC3);
  cv::Mat n16;
  noise.convertTo(n16, CV_16SC3);
  const cv::Mat sum = a16 + n16;
  sum.convertTo(b, CV_8UC3);
  const cv::Rect all(0, 0, a.cols, a.rows);
  const double s = Ssim(a, b, all);
  EXPECT_LT(s, 0.95);
  EXPECT_GT(s, 0.0);
  EXPECT_NEAR(s, Ssim(b, a, all), 1e-12);
  // An unrelated image scores far lower.
  EXPECT_LT(Ssim(a, Noise(99), all), s);
}

TEST(MetricsTest, SsimOfContrastChangeMatchesClosedForm) {
  // Constant images: SSIM = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1).
  const cv::Mat a(32, 32, CV_8UC1, cv::Scalar(80)), b(32, 32, CV_8UC1, cv::Scalar(120));
  const double c1 = (0.01 * 255) * (0.01 * 255);
  const double expected = (2 * 80.0 * 120.0 + c1) / (80.0 * 80.0 + 120.0 * 120.0 + c1);
  EXPECT_NEAR(Ssim(a, b, cv::Rect(0, 0, 32, 32)), expected, 1e-9);
}

TEST(MetricsTest, AkdOfAShiftIsTheShiftUnlessAligned) {
  const auto p = Grid();
  const auto q = Grid(1.0, 3.0, 4.0);
  EXPECT_NEAR(Akd(p, q, false), 5.0, 1e-9);
  EXPECT_NEAR(Akd(p, q, true), 0.0, 1e-9);
  // A similarity (scale + shift) is removed by alignment as well.
  EXPECT_NEAR(Akd(p, Grid(1.3, -7.0, 2.0), true), 0.0, 1e-9);
}

TEST(MetricsTest, AkdAfterAlignmentKeepsNonRigidMotion) {
  const auto p = Grid();
  auto q = p;
  for (int i = 48; i < 68; ++i) q[i].y() += 6.0;  // The mouth moves down alone.
  EXPECT_NEAR(Akd(p, q, false), 6.0 * 20 / 68, 1e-9);
  // Alignment minimises the squared error, so it cannot explain the mouth
  // away (the mean distance may even grow a little as the error spreads).
  EXPECT_GT(Akd(p, q, true), 1.0);
}

TEST(MetricsTest, AedIsMeanAbsoluteDifference) {
  const std::vector<double> a = {0.0, 0.5, 1.0, 0.2};
  const std::vector<double> b = {0.1, 0.5, 0.6, 0.2};
  EXPECT_NEAR(Aed(a, b), (0.1 + 0.0 + 0.4 + 0.0) / 4, 1e-12);
}

TEST(MetricsTest, JitterIsZeroForConstantVelocityAndKnownForAlternation) {
  std::vector<face3d::Landmarks68> linear, zigzag;
  for (int t = 0; t < 10; ++t) {
    linear.push_back(Grid(1.0, 2.0 * t, 0.0));
    zigzag.push_back(Grid(1.0, (t % 2) ? 1.0 : 0.0, 0.0));
  }
  EXPECT_NEAR(LandmarkJitter(linear), 0.0, 1e-9);
  // x alternates 0,1,0,1: second difference is +-2 everywhere.
  EXPECT_NEAR(LandmarkJitter(zigzag), 2.0, 1e-9);
  EXPECT_EQ(LandmarkJitter({Grid(), Grid()}), 0.0);
}

TEST(MetricsTest, RegionsFollowLandmarks) {
  const auto lm = Grid();
  const cv::Rect face = FaceRegion(lm, {640, 480}, 0.0);
  EXPECT_EQ(face.x, 100);
  EXPECT_EQ(face.y, 120);
  const cv::Rect mouth = MouthRegion(lm, {640, 480}, 0.0);
  EXPECT_GE(mouth.y, 120 + 5 * 12);  // Landmarks 48..67 are in rows 5..7.
  EXPECT_TRUE((mouth & face) == mouth);
}

TEST(MetricsTest, EmbeddingDistanceIsEuclidean) {
  const std::vector<float> a = {0, 0, 0}, b = {3, 4, 0};
  EXPECT_NEAR(EmbeddingDistance(a, b), 5.0, 1e-12);
}

}  // namespace
}  // namespace faceanime::metrics
