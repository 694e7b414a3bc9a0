// FaceAnime's sparse texture prior: the source image's colours sampled at a
// sparse, deterministic subset of the source fit's visible face vertices, and
// the same coloured points drawn at the source and at a target pose and
// expression (images p_s and p_t with masks).
#ifndef FACEANIME_RENDER_SPARSE_PRIOR_H_
#define FACEANIME_RENDER_SPARSE_PRIOR_H_

#include <vector>

#include <opencv2/core/mat.hpp>

#include "face3d/face_params.h"
#include "face3d/image.h"
#include "face3d/morphable_model.h"
#include "render/part_mesh.h"
#include "render/rasterizer.h"

namespace faceanime::render {

struct PriorOptions {
  // Fraction of the parts' vertices kept, in (0, 1] (default 0.15). The subset
  // is a fixed hash of the model vertex id: the same vertices every frame.
  double density = 0.15;
  // Seed of that hash (default 0): different seeds pick different subsets.
  uint32_t seed = 0;
  // Parts whose vertices carry colour (default: the face).
  std::vector<face3d::Part> parts = {face3d::Part::kFace};
  // Each point is drawn as a (2r+1)x(2r+1) square, r in [0, 8] (default 1).
  int point_radius = 1;
  // A vertex is visible when it is at most this far (cm) behind the z-buffer
  // (default 0.5 cm); > 0.
  float depth_tolerance_cm = 0.5f;
};

// One prior image. Both Mats have the camera's size.
struct SparsePrior {
  cv::Mat image;  // CV_8UC3, RGB; black where mask is 0.
  cv::Mat mask;   // CV_8U, 255 on drawn points.
};

struct SparsePriors {
  SparsePrior source;  // p_s: points at the source fit.
  SparsePrior target;  // p_t: the same points at the target params.
  int num_points = 0;  // Selected vertices visible in the source.
};

// The source half of the priors: p_s and the colours of the selected
// vertices visible at the source fit (what a target render draws again).
// Depends on the source portrait and fit only, so a caller animating one
// portrait computes it once (PriorRenderer::SampleSource).
struct SourceSamples {
  SparsePrior prior;                 // p_s.
  std::vector<int> vertices;         // Mesh-vertex indices, in selected() order.
  std::vector<cv::Vec3b> colours;    // RGB, one per entry of `vertices`.
  int width = 0, height = 0;         // The camera's size.
};

class PriorRenderer {
 public:
  // Validates `options` (std::invalid_argument). `model` must outlive this.
  static PriorRenderer Create(const face3d::MorphableModel& model, const PriorOptions& options);

  // `source_rgb`: the portrait (any PixelFormat; converted to RGB) that
  // `source` was fitted to with `camera` (whose size must match the image).
  // Target points hidden at the target (z-buffer) are not drawn.
  SparsePriors Render(const ImageView& source_rgb, const face3d::FaceParams& source,
                      const face3d::FaceParams& target, const face3d::Camera& camera) const;
  // Render in two halves (Render = SampleSource, then RenderTarget): the
  // source half once per portrait, the target half per frame. `camera` must
  // be the one SampleSource used (std::invalid_argument when its size differs).
  SourceSamples SampleSource(const ImageView& source_rgb, const face3d::FaceParams& source,
                             const face3d::Camera& camera) const;
  SparsePrior RenderTarget(const SourceSamples& samples, const face3d::FaceParams& target,
                           const face3d::Camera& camera) const;

  // Mesh-vertex indices (into mesh().vertex_ids()) of the selected subset.
  const std::vector<int>& selected() const { return selected_; }
  const PartMesh& mesh() const { return mesh_; }

 private:
  PriorRenderer(PartMesh mesh, const PriorOptions& options)
      : mesh_(std::move(mesh)), options_(options) {}
  PartMesh mesh_;
  PriorOptions options_;
  std::vector<int> selected_;
};

}  // namespace faceanime::render

#endif  // FACEANIME_RENDER_SPARSE_PRIOR_H_
