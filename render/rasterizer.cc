#include "render/rasterizer.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

namespace faceanime::render {
namespace {

constexpr int kSubBits = 4;                   // 1/16 pixel fixed point.
constexpr int64_t kSub = int64_t{1} << kSubBits;
constexpr float kMaxCoord = float(1 << 20);  // Larger projections are skipped.

// 16 bytes: the triangle loop's random reads of the vertices stay in cache.
// |x|, |y| < kMaxCoord * kSub = 2^24 fit 32 bits; edge products use 64.
struct ScreenVertex {
  int32_t x;  // Fixed point.
  int32_t y;
  float inv_z;
  int32_t valid;
};

// Edge a->b of a triangle with positive signed area (clockwise on screen, y
// down): top edge (horizontal, going right) or left edge (going up).
inline bool IsTopLeft(const ScreenVertex& a, const ScreenVertex& b) {
  const int64_t dx = int64_t{b.x} - a.x, dy = int64_t{b.y} - a.y;
  return (dy == 0 && dx > 0) || dy < 0;
}

// Renders into `depth` (always) and, when kFull, `tri_buf`, `bary` and
// `mask` (all cleared by the caller, width x height, continuous).
template <bool kFull>
void RenderTriangles(const Positions& camera_vertices, std::span<const face3d::Triangle> triangles,
                     const face3d::Camera& camera, const RasterizerOptions& options, float* depth,
                     int32_t* tri_buf, float* bary, uint8_t* mask) {
  const int width = camera.width, height = camera.height;

  // Project every vertex once.
  const int n = static_cast<int>(camera_vertices.rows());
  // Per-thread scratch: no allocation per frame once it has grown.
  thread_local std::vector<ScreenVertex> screen;
  screen.resize(n);
  const float f = static_cast<float>(camera.focal);
  const float cx = static_cast<float>(camera.cx), cy = static_cast<float>(camera.cy);
  for (int i = 0; i < n; ++i) {
    const float z = camera_vertices(i, 2);
    ScreenVertex& s = screen[i];
    s.valid = z >= options.near_cm;
    if (!s.valid) continue;
    const float inv_z = 1.f / z;
    const float sx = f * camera_vertices(i, 0) * inv_z + cx;
    const float sy = f * camera_vertices(i, 1) * inv_z + cy;
    if (!(std::abs(sx) < kMaxCoord && std::abs(sy) < kMaxCoord)) {
      s.valid = false;
      continue;
    }
    // Round to the nearest 1/16 pixel (half away from zero).
    const float fx = sx * kSub, fy = sy * kSub;
    s.x = static_cast<int32_t>(fx + (fx >= 0.f ? 0.5f : -0.5f));
    s.y = static_cast<int32_t>(fy + (fy >= 0.f ? 0.5f : -0.5f));
    s.inv_z = inv_z;
  }

  const bool cull = options.cull_back_faces;

  for (int t = 0; t < static_cast<int>(triangles.size()); ++t) {
    const face3d::Triangle& tri = triangles[t];
    const ScreenVertex& a = screen[tri[0]];
    const ScreenVertex& b = screen[tri[1]];
    const ScreenVertex& c = screen[tri[2]];
    if (!a.valid || !b.valid || !c.valid) continue;
    // Pixel centres p * kSub inside the bounding box; most triangles of a
    // dense mesh contain none, so this test comes first.
    const int64_t min_x = std::min({a.x, b.x, c.x});
    const int64_t max_x = std::max({a.x, b.x, c.x});
    const int64_t min_y = std::min({a.y, b.y, c.y});
    const int64_t max_y = std::max({a.y, b.y, c.y});
    const int x0 = static_cast<int>(std::max<int64_t>(0, (min_x + kSub - 1) >> kSubBits));
    const int x1 = static_cast<int>(std::min<int64_t>(width - 1, max_x >> kSubBits));
    const int y0 = static_cast<int>(std::max<int64_t>(0, (min_y + kSub - 1) >> kSubBits));
    const int y1 = static_cast<int>(std::min<int64_t>(height - 1, max_y >> kSubBits));
    if (x0 > x1 || y0 > y1) continue;
    int64_t area = (int64_t{b.x} - a.x) * (int64_t{c.y} - a.y) - (int64_t{b.y} - a.y) * (int64_t{c.x} - a.x);
    if (area == 0) continue;
    // Front faces have negative area; reorder to positive area and remember
    // which screen corner is which original corner.
    ScreenVertex v[3] = {a, b, c};
    bool swapped = false;
    if (area < 0) {
      std::swap(v[1], v[2]);
      area = -area;
      swapped = true;
    } else if (cull) {
      continue;
    }

    // Edge functions E_ab(p) = (b-a) x (p-a); e0 is opposite corner 0, etc.
    struct Edge {
      int64_t step_x, step_y, row;
    } edges[3];
    const int corners[3][2] = {{1, 2}, {2, 0}, {0, 1}};
    const int64_t px0 = int64_t{x0} << kSubBits, py0 = int64_t{y0} << kSubBits;
    for (int e = 0; e < 3; ++e) {
      const ScreenVertex& from = v[corners[e][0]];
      const ScreenVertex& to = v[corners[e][1]];
      const int64_t dx = int64_t{to.x} - from.x, dy = int64_t{to.y} - from.y;
      const int64_t bias = IsTopLeft(from, to) ? 0 : -1;
      edges[e].step_x = -dy * kSub;
      edges[e].step_y = dx * kSub;
      edges[e].row = dx * (py0 - from.y) - dy * (px0 - from.x) + bias;
    }
    // The bias (-1 in 1/256 pixel² units) only decides ties; it is far below
    // the weights' float resolution.
    const float inv_area = 1.f / static_cast<float>(area);
    const float iz0 = v[0].inv_z, iz1 = v[1].inv_z, iz2 = v[2].inv_z;
    for (int y = y0; y <= y1; ++y) {
      int64_t e0 = edges[0].row, e1 = edges[1].row, e2 = edges[2].row;
      const size_t row = static_cast<size_t>(y) * width;
      for (int x = x0; x <= x1; ++x) {
        if ((e0 | e1 | e2) >= 0) {
          const float l0 = static_cast<float>(e0) * inv_area;
          const float l1 = static_cast<float>(e1) * inv_area;
          const float l2 = 1.f - l0 - l1;
          const float inv_z = l0 * iz0 + l1 * iz1 + l2 * iz2;
          const float z = 1.f / inv_z;
          const size_t i = row + x;
          if (z < depth[i]) {
            depth[i] = z;
            if constexpr (kFull) {
              tri_buf[i] = t;
              mask[i] = 255;
              // Perspective-correct weights of the screen corners.
              const float w1 = l1 * iz1 * z;
              const float w2 = l2 * iz2 * z;
              // Original corner 1 is screen corner 2 when swapped.
              bary[2 * i] = swapped ? w2 : w1;
              bary[2 * i + 1] = swapped ? w1 : w2;
            }
          }
        }
        e0 += edges[0].step_x;
        e1 += edges[1].step_x;
        e2 += edges[2].step_x;
      }
      edges[0].row += edges[0].step_y;
      edges[1].row += edges[1].step_y;
      edges[2].row += edges[2].step_y;
    }
  }
}

}  // namespace

Rasterizer Rasterizer::Create(const RasterizerOptions& options) {
  if (!(options.near_cm > 0.f)) throw std::invalid_argument("RasterizerOptions: near_cm must be > 0");
  return Rasterizer(options);
}

void Rasterizer::Render(const Positions& camera_vertices,
                        std::span<const face3d::Triangle> triangles,
                        const face3d::Camera& camera, RasterBuffers* out) const {
  if (camera.width <= 0 || camera.height <= 0) {
    throw std::invalid_argument("Rasterizer: camera has no image size");
  }
  const int width = camera.width, height = camera.height;
  out->depth.create(height, width, CV_32F);
  out->triangle.create(height, width, CV_32S);
  out->barycentric.create(height, width, CV_32FC2);
  out->mask.create(height, width, CV_8U);
  out->depth.setTo(std::numeric_limits<float>::infinity());
  out->triangle.setTo(-1);
  out->barycentric.setTo(0);
  out->mask.setTo(0);
  RenderTriangles<true>(camera_vertices, triangles, camera, options_, out->depth.ptr<float>(),
                        out->triangle.ptr<int32_t>(), out->barycentric.ptr<float>(),
                        out->mask.ptr<uint8_t>());
}

void Rasterizer::RenderDepth(const Positions& camera_vertices,
                             std::span<const face3d::Triangle> triangles,
                             const face3d::Camera& camera, cv::Mat* depth) const {
  if (camera.width <= 0 || camera.height <= 0) {
    throw std::invalid_argument("Rasterizer: camera has no image size");
  }
  depth->create(camera.height, camera.width, CV_32F);
  depth->setTo(std::numeric_limits<float>::infinity());
  RenderTriangles<false>(camera_vertices, triangles, camera, options_, depth->ptr<float>(), nullptr,
                         nullptr, nullptr);
}

Positions Rasterizer::Render(const PartMesh& mesh, const face3d::FaceParams& params,
                             const face3d::Camera& camera, RasterBuffers* out) const {
  Positions cam = PartMesh::ToCamera(mesh.Evaluate(params), params.pose);
  Render(cam, mesh.triangles(), camera, out);
  return cam;
}

cv::Mat InterpolateAttribute(const RasterBuffers& buffers,
                             std::span<const face3d::Triangle> triangles,
                             const float* attributes, int channels) {
  if (channels < 1 || channels > 4) throw std::invalid_argument("InterpolateAttribute: 1..4 channels");
  cv::Mat out(buffers.triangle.size(), CV_32FC(channels), cv::Scalar::all(0));
  for (int y = 0; y < out.rows; ++y) {
    const int32_t* tri = buffers.triangle.ptr<int32_t>(y);
    const float* bary = buffers.barycentric.ptr<float>(y);
    float* dst = out.ptr<float>(y);
    for (int x = 0; x < out.cols; ++x) {
      if (tri[x] < 0) continue;
      const face3d::Triangle& t = triangles[tri[x]];
      const float w1 = bary[2 * x], w2 = bary[2 * x + 1], w0 = 1.f - w1 - w2;
      for (int c = 0; c < channels; ++c) {
        dst[channels * x + c] = w0 * attributes[t[0] * channels + c] +
                                w1 * attributes[t[1] * channels + c] +
                                w2 * attributes[t[2] * channels + c];
      }
    }
  }
  return out;
}

cv::Mat InterpolateUv(const RasterBuffers& buffers, const PartMesh& mesh,
                      const face3d::MorphableModel& model) {
  cv::Mat out(buffers.triangle.size(), CV_32FC2, cv::Scalar::all(0));
  for (int y = 0; y < out.rows; ++y) {
    const int32_t* tri = buffers.triangle.ptr<int32_t>(y);
    const float* bary = buffers.barycentric.ptr<float>(y);
    float* dst = out.ptr<float>(y);
    for (int x = 0; x < out.cols; ++x) {
      if (tri[x] < 0) continue;
      const face3d::Triangle& corners = model.triangle_uvs()[mesh.model_triangle_ids()[tri[x]]];
      const float w[3] = {1.f - bary[2 * x] - bary[2 * x + 1], bary[2 * x], bary[2 * x + 1]};
      for (int k = 0; k < 3; ++k) {
        const Eigen::Vector2f& uv = model.uv()[corners[k]];
        dst[2 * x] += w[k] * uv.x();
        dst[2 * x + 1] += w[k] * uv.y();
      }
    }
  }
  return out;
}

}  // namespace faceanime::render
