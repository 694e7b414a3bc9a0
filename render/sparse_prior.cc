#include "render/sparse_prior.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

namespace faceanime::render {
namespace {

// Uniform [0, 1) from a vertex id (splitmix-style integer hash).
double HashUnit(uint32_t id, uint32_t seed) {
  uint64_t z = (static_cast<uint64_t>(seed) << 32 | id) + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * (1.0 / 9007199254740992.0);
}

struct Projected {
  float x, y, z;
};

Projected ProjectPoint(const Positions& cam, int i, const face3d::Camera& camera) {
  const Eigen::Vector2d px = camera.Project(cam.row(i).transpose().cast<double>());
  return {static_cast<float>(px.x()), static_cast<float>(px.y()), cam(i, 2)};
}

// True when the point is in the image and within `tol` of the z-buffer.
bool Visible(const Projected& p, const cv::Mat& depth, float tol) {
  if (!(p.z > 0.f)) return false;
  const int x = static_cast<int>(std::lround(p.x)), y = static_cast<int>(std::lround(p.y));
  if (x < 0 || y < 0 || x >= depth.cols || y >= depth.rows) return false;
  const float d = depth.at<float>(y, x);
  return std::isfinite(d) && p.z <= d + tol;
}

void DrawPoint(const Projected& p, const cv::Vec3b& colour, int radius, SparsePrior* prior) {
  const int cx = static_cast<int>(std::lround(p.x)), cy = static_cast<int>(std::lround(p.y));
  for (int y = std::max(0, cy - radius); y <= std::min(prior->image.rows - 1, cy + radius); ++y) {
    for (int x = std::max(0, cx - radius); x <= std::min(prior->image.cols - 1, cx + radius); ++x) {
      prior->image.at<cv::Vec3b>(y, x) = colour;
      prior->mask.at<uint8_t>(y, x) = 255;
    }
  }
}

}  // namespace

PriorRenderer PriorRenderer::Create(const face3d::MorphableModel& model, const PriorOptions& options) {
  if (!(options.density > 0.0 && options.density <= 1.0)) {
    throw std::invalid_argument("PriorOptions: density must be in (0, 1]");
  }
  if (options.parts.empty()) throw std::invalid_argument("PriorOptions: no parts");
  if (options.point_radius < 0 || options.point_radius > 8) {
    throw std::invalid_argument("PriorOptions: point_radius must be in [0, 8]");
  }
  if (!(options.depth_tolerance_cm > 0.f)) {
    throw std::invalid_argument("PriorOptions: depth_tolerance_cm must be > 0");
  }
  // The head occludes too (ears, the far cheek), so it joins the z-buffer.
  std::vector<face3d::Part> parts = options.parts;
  parts.push_back(face3d::Part::kHeadAndNeck);
  PriorRenderer r(PartMesh::Create(model, parts), options);
  for (int m = 0; m < r.mesh_.num_vertices(); ++m) {
    const int v = r.mesh_.vertex_ids()[m];
    const bool in_parts = std::any_of(options.parts.begin(), options.parts.end(), [&](face3d::Part p) {
      return model.part(p).vertices.contains(v);
    });
    if (in_parts && HashUnit(static_cast<uint32_t>(v), options.seed) < options.density) {
      r.selected_.push_back(m);
    }
  }
  return r;
}

SparsePriors PriorRenderer::Render(const ImageView& source_rgb, const face3d::FaceParams& source,
                                   const face3d::FaceParams& target,
                                   const face3d::Camera& camera) const {
  SourceSamples samples = SampleSource(source_rgb, source, camera);
  SparsePriors out;
  out.target = RenderTarget(samples, target, camera);
  out.num_points = static_cast<int>(samples.vertices.size());
  out.source = std::move(samples.prior);
  return out;
}

SourceSamples PriorRenderer::SampleSource(const ImageView& source_rgb, const face3d::FaceParams& source,
                                          const face3d::Camera& camera) const {
  if (source_rgb.width != camera.width || source_rgb.height != camera.height) {
    throw std::invalid_argument("PriorRenderer: image size differs from the camera's");
  }
  cv::Mat rgb = source_rgb.format == PixelFormat::kRgb ? WrapAsMat(source_rgb) : ToRgb(source_rgb);
  const Rasterizer raster = Rasterizer::Create({});
  RasterBuffers src_buf;
  const Positions src_cam = raster.Render(mesh_, source, camera, &src_buf);

  SourceSamples out;
  out.width = camera.width;
  out.height = camera.height;
  out.prior.image = cv::Mat(camera.height, camera.width, CV_8UC3, cv::Scalar::all(0));
  out.prior.mask = cv::Mat(camera.height, camera.width, CV_8U, cv::Scalar::all(0));
  const float tol = options_.depth_tolerance_cm;
  for (int m : selected_) {
    const Projected ps = ProjectPoint(src_cam, m, camera);
    if (!Visible(ps, src_buf.depth, tol)) continue;
    // Bilinear colour at the projected point.
    cv::Mat patch;
    cv::getRectSubPix(rgb, cv::Size(1, 1), cv::Point2f(ps.x, ps.y), patch);
    const cv::Vec3b colour = patch.at<cv::Vec3b>(0, 0);
    out.vertices.push_back(m);
    out.colours.push_back(colour);
    DrawPoint(ps, colour, options_.point_radius, &out.prior);
  }
  return out;
}

SparsePrior PriorRenderer::RenderTarget(const SourceSamples& samples, const face3d::FaceParams& target,
                                        const face3d::Camera& camera) const {
  if (samples.width != camera.width || samples.height != camera.height) {
    throw std::invalid_argument("PriorRenderer: the camera's size differs from the source samples'");
  }
  const Rasterizer raster = Rasterizer::Create({});
  RasterBuffers tgt_buf;
  const Positions tgt_cam = raster.Render(mesh_, target, camera, &tgt_buf);
  SparsePrior out;
  out.image = cv::Mat(camera.height, camera.width, CV_8UC3, cv::Scalar::all(0));
  out.mask = cv::Mat(camera.height, camera.width, CV_8U, cv::Scalar::all(0));
  const float tol = options_.depth_tolerance_cm;
  for (size_t i = 0; i < samples.vertices.size(); ++i) {
    const Projected pt = ProjectPoint(tgt_cam, samples.vertices[i], camera);
    if (Visible(pt, tgt_buf.depth, tol)) DrawPoint(pt, samples.colours[i], options_.point_radius, &out);
  }
  return out;
}

}  // namespace faceanime::render
