#include "render/sparse_prior.h"

#include <cmath>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "tests/render/synthetic_scene.h"
#include "tests/test_support.h"

namespace faceanime::render {
namespace {

using face3d::Camera;
using face3d::FaceParams;

const face3d::MorphableModel& Model() { return faceanime::testing::TestModel(); }

// RGB = (x / 2, y / 2, 100): bilinear sampling is exact, so a point's colour
// tells where it was sampled.
cv::Mat GradientImage(int size) {
  cv::Mat image(size, size, CV_8UC3);
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) image.at<cv::Vec3b>(y, x) = cv::Vec3b(x / 2, y / 2, 100);
  }
  return image;
}

FaceParams Frontal() {
  FaceParams p;
  p.pose.translation = Eigen::Vector3d(0, 1, 60);
  return p;
}

TEST(SparsePriorTest, SamplesTheSourceAtTheVisibleVertices) {
  const cv::Mat image = GradientImage(400);
  const Camera camera = Camera::ForImage(400, 400);
  const PriorRenderer renderer = PriorRenderer::Create(Model(), {.density = 0.1, .point_radius = 0});
  const FaceParams p = Frontal();
  const SparsePriors priors = renderer.Render(ViewOf(image, PixelFormat::kRgb), p, p, camera);
  ASSERT_GT(priors.num_points, 300);
  // Same params: p_t == p_s.
  EXPECT_EQ(cv::norm(priors.source.image, priors.target.image, cv::NORM_INF), 0.0);
  EXPECT_EQ(cv::norm(priors.source.mask, priors.target.mask, cv::NORM_INF), 0.0);
  // Each drawn pixel (the nearest to its vertex) holds the colour sampled at
  // the vertex, within the half-pixel rounding of the drawing: |dx| <= 0.5 px
  // is 0.25 levels, plus rounding of the sample.
  int drawn = 0;
  for (int y = 0; y < image.rows; ++y) {
    for (int x = 0; x < image.cols; ++x) {
      if (!priors.source.mask.at<uint8_t>(y, x)) {
        ASSERT_EQ(priors.source.image.at<cv::Vec3b>(y, x), cv::Vec3b(0, 0, 0));
        continue;
      }
      const cv::Vec3b c = priors.source.image.at<cv::Vec3b>(y, x);
      const cv::Vec3b s = image.at<cv::Vec3b>(y, x);
      ASSERT_LE(std::abs(c[0] - s[0]), 1) << x << "," << y;
      ASSERT_LE(std::abs(c[1] - s[1]), 1) << x << "," << y;
      ASSERT_EQ(c[2], 100);
      ++drawn;
    }
  }
  EXPECT_GT(drawn, 300);
}

TEST(SparsePriorTest, DensityControlsADeterministicSubset) {
  const PriorRenderer sparse = PriorRenderer::Create(Model(), {.density = 0.05});
  const PriorRenderer dense = PriorRenderer::Create(Model(), {.density = 0.2});
  const PriorRenderer again = PriorRenderer::Create(Model(), {.density = 0.05});
  const PriorRenderer reseeded = PriorRenderer::Create(Model(), {.density = 0.05, .seed = 9});
  const double ratio = static_cast<double>(dense.selected().size()) / sparse.selected().size();
  EXPECT_NEAR(ratio, 4.0, 0.5);
  // About 5% of the 9409 face vertices.
  EXPECT_NEAR(static_cast<double>(sparse.selected().size()), 0.05 * 9409, 0.2 * 0.05 * 9409);
  EXPECT_EQ(sparse.selected(), again.selected());
  EXPECT_NE(sparse.selected(), reseeded.selected());
  EXPECT_THROW(PriorRenderer::Create(Model(), {.density = 0.0}), std::invalid_argument);
  EXPECT_THROW(PriorRenderer::Create(Model(), {.point_radius = 20}), std::invalid_argument);
}

TEST(SparsePriorTest, HiddenVerticesAreNotSampledAndPointsFollowTheTarget) {
  const cv::Mat image = faceanime::testing::ProceduralBackground(cv::Size(400, 400));
  const Camera camera = Camera::ForImage(400, 400);
  const PriorRenderer renderer = PriorRenderer::Create(Model(), {.density = 0.2, .point_radius = 0});
  const FaceParams frontal = Frontal();
  FaceParams turned = frontal;
  turned.pose.rotation = face3d::RotationFromEuler({70, 0, 0});
  const ImageView view = ViewOf(image, PixelFormat::kRgb);
  const SparsePriors front = renderer.Render(view, frontal, frontal, camera);
  const SparsePriors side = renderer.Render(view, turned, turned, camera);
  // At 70 degrees of yaw, the far half of the face is hidden.
  EXPECT_LT(side.num_points, 0.75 * front.num_points);
  // Moving the target 3 cm right moves the points f * 3 / Z pixels right.
  FaceParams moved = frontal;
  moved.pose.translation.x() += 3.0;
  const SparsePriors shifted = renderer.Render(view, frontal, moved, camera);
  const cv::Moments m_source = cv::moments(shifted.source.mask, true);
  const cv::Moments m_target = cv::moments(shifted.target.mask, true);
  const double dx = m_target.m10 / m_target.m00 - m_source.m10 / m_source.m00;
  const double dy = m_target.m01 / m_target.m00 - m_source.m01 / m_source.m00;
  EXPECT_NEAR(dx, 400.0 * 3.0 / (60.0 - 9.0), 2.0);  // The face is ~9 cm in front of its origin.
  EXPECT_NEAR(dy, 0.0, 1.0);
}

}  // namespace
}  // namespace faceanime::render
