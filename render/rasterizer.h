// Software z-buffered triangle rasteriser with perspective-correct
// barycentrics.
//
// Input vertices are in camera space (OpenCV: centimetres, +X right, +Y down,
// +Z forward) and are projected with a face3d::Camera into image space (OpenCV
// pixels; integer coordinates are pixel centres; a pixel is covered when its
// centre is inside a triangle).
//
// Conventions:
//   * Front faces: triangles counter-clockwise seen from outside the surface
//     (the model's OBJ winding). After the model->camera transform (a proper
//     rotation) a front face has a negative signed area
//     (x1-x0)(y2-y0) - (y1-y0)(x2-x0) in image space (y down), i.e. it appears
//     counter-clockwise on screen.
//   * Fill rule: top-left (Direct3D/OpenGL style) on a 1/16-pixel fixed-point
//     grid, so a pixel centre on an edge shared by two triangles is drawn by
//     exactly one of them.
//   * Triangles with a vertex nearer than `near_cm` are skipped (no clipping;
//     faces are always well in front of the camera).
#ifndef FACEANIME_RENDER_RASTERIZER_H_
#define FACEANIME_RENDER_RASTERIZER_H_

#include <span>

#include <opencv2/core/mat.hpp>

#include "face3d/face_params.h"
#include "face3d/morphable_model.h"
#include "render/part_mesh.h"

namespace faceanime::render {

struct RasterizerOptions {
  // Skip triangles seen from behind (default true). Off renders both sides.
  bool cull_back_faces = true;
  // Near limit, centimetres (camera Z); must be > 0. Default 1 cm.
  float near_cm = 1.0f;
};

// Per-pixel results, all camera.height x camera.width.
struct RasterBuffers {
  cv::Mat depth;        // CV_32F: camera Z (cm) of the nearest surface; +inf where empty.
  cv::Mat triangle;     // CV_32S: index into the rendered triangle list; -1 where empty.
  cv::Mat barycentric;  // CV_32FC2: perspective-correct weights (w1, w2) of the
                        // triangle's corners 1 and 2; corner 0 has 1 - w1 - w2.
  cv::Mat mask;         // CV_8U: 255 where covered, 0 elsewhere.
};

class Rasterizer {
 public:
  // Throws std::invalid_argument when near_cm <= 0.
  static Rasterizer Create(const RasterizerOptions& options);

  // Renders `triangles` (indices into rows of `camera_vertices`, camera space,
  // centimetres) into `out`, which is (re)allocated to the camera's size and
  // cleared. Throws std::invalid_argument for an empty camera.
  void Render(const Positions& camera_vertices, std::span<const face3d::Triangle> triangles,
              const face3d::Camera& camera, RasterBuffers* out) const;

  // Renders only the z-buffer: `depth` gets exactly RasterBuffers::depth of
  // Render() with the same arguments, without the other buffers' cost.
  void RenderDepth(const Positions& camera_vertices, std::span<const face3d::Triangle> triangles,
                   const face3d::Camera& camera, cv::Mat* depth) const;

  // Convenience: evaluates `mesh` at `params` (shape and pose) and renders all
  // its triangles; triangle ids index mesh.triangles(). Returns the camera-space
  // positions used, so attributes can be interpolated.
  Positions Render(const PartMesh& mesh, const face3d::FaceParams& params,
                   const face3d::Camera& camera, RasterBuffers* out) const;

  const RasterizerOptions& options() const { return options_; }

 private:
  explicit Rasterizer(const RasterizerOptions& options) : options_(options) {}
  RasterizerOptions options_;
};

// Interpolates a per-vertex attribute (row v = vertex v's `channels` floats,
// row-major, `channels` in 1..4) at every covered pixel with the
// perspective-correct barycentrics. Returns CV_32FC(channels), zero where empty.
cv::Mat InterpolateAttribute(const RasterBuffers& buffers,
                             std::span<const face3d::Triangle> triangles,
                             const float* attributes, int channels);

// Interpolates the model's texture coordinates (per triangle corner, so seams
// stay sharp) for buffers rendered from `mesh`: CV_32FC2 (u, v) in UDIM tiles
// (OBJ convention, v up; see MorphableModel::uv()), zero where empty.
cv::Mat InterpolateUv(const RasterBuffers& buffers, const PartMesh& mesh,
                      const face3d::MorphableModel& model);

}  // namespace faceanime::render

#endif  // FACEANIME_RENDER_RASTERIZER_H_
