#include "tests/render/synthetic_scene.h"

#include <cmath>
#include <filesystem>
#include <stdexcept>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "render/rasterizer.h"

namespace faceanime::testing {

cv::Mat AstronautRgb() {
  const std::filesystem::path path = std::filesystem::path(FACEANIME_SOURCE_DIR) / "assets" / "astronaut.png";
  cv::Mat bgr = cv::imread(path.string(), cv::IMREAD_COLOR);
  if (bgr.empty()) throw std::runtime_error("cannot read " + path.string());
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

face3d::FaceParams AstronautParams() {
  face3d::FaceParams p;
  p.pose.translation = Eigen::Vector3d(-4.1, -15.8, 72.7);
  return p;
}

cv::Mat ProceduralBackground(cv::Size size) {
  cv::Mat out(size, CV_8UC3);
  for (int y = 0; y < size.height; ++y) {
    for (int x = 0; x < size.width; ++x) {
      out.at<cv::Vec3b>(y, x) = cv::Vec3b(
          cv::saturate_cast<uint8_t>(120 + 60 * std::sin(0.05 * x) + 40 * std::cos(0.07 * y)),
          cv::saturate_cast<uint8_t>(100 + 0.2 * x + 50 * std::sin(0.04 * (x + y))),
          cv::saturate_cast<uint8_t>(90 + 0.25 * y + 40 * std::cos(0.09 * x)));
    }
  }
  return out;
}

std::vector<float> ProceduralVertexColours(const face3d::MorphableModel& model,
                                           const render::PartMesh& mesh) {
  std::vector<float> colours(3 * mesh.num_vertices());
  for (int m = 0; m < mesh.num_vertices(); ++m) {
    const float* p = model.neutral() + 3 * mesh.vertex_ids()[m];
    colours[3 * m] = 40.f + 25.f * std::sin(0.9f * p[0]);
    colours[3 * m + 1] = 140.f + 80.f * std::sin(1.1f * p[1] + 0.5f * p[2]);
    colours[3 * m + 2] = 150.f + 70.f * std::cos(0.8f * p[0] - 0.7f * p[1]);
  }
  return colours;
}

cv::Mat RenderColouredHead(const render::PartMesh& mesh, const std::vector<float>& colours,
                           const face3d::FaceParams& params, const face3d::Camera& camera,
                           const cv::Mat& background) {
  const render::Rasterizer raster = render::Rasterizer::Create({});
  render::RasterBuffers buffers;
  raster.Render(mesh, params, camera, &buffers);
  const cv::Mat colour = render::InterpolateAttribute(buffers, mesh.triangles(), colours.data(), 3);
  cv::Mat out = background.clone();
  for (int y = 0; y < out.rows; ++y) {
    for (int x = 0; x < out.cols; ++x) {
      if (!buffers.mask.at<uint8_t>(y, x)) continue;
      const cv::Vec3f c = colour.at<cv::Vec3f>(y, x);
      out.at<cv::Vec3b>(y, x) = cv::Vec3b(cv::saturate_cast<uint8_t>(c[0]), cv::saturate_cast<uint8_t>(c[1]),
                                          cv::saturate_cast<uint8_t>(c[2]));
    }
  }
  return out;
}

}  // namespace faceanime::testing
