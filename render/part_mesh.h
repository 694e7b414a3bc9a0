// The triangles of a chosen set of morphable-model parts, and fast evaluation
// of only the vertices those triangles use.
//
// Frames: model space (ICT-FaceKit: centimetres, +X subject's left, +Y up,
// +Z out of the face) and camera space (OpenCV: centimetres, +X right, +Y down,
// +Z forward), related by face3d::Pose (see face3d/face_params.h).
#ifndef FACEANIME_RENDER_PART_MESH_H_
#define FACEANIME_RENDER_PART_MESH_H_

#include <array>
#include <memory>
#include <span>
#include <vector>

#include <Eigen/Core>

#include "face3d/face_params.h"
#include "face3d/morphable_model.h"

namespace faceanime::render {

// Vertex positions, one row per mesh vertex (x, y, z), float.
using Positions = Eigen::Matrix<float, Eigen::Dynamic, 3, Eigen::RowMajor>;

// A sub-mesh of the model: the triangles of `parts` re-indexed onto the
// compact list of vertices they use. Move-only (it owns an evaluation cache).
class PartMesh {
 public:
  // Throws std::invalid_argument for an empty part list. `model` must outlive
  // the mesh (its arrays are memory-mapped and read on every Evaluate()).
  static PartMesh Create(const face3d::MorphableModel& model, std::span<const face3d::Part> parts);

  PartMesh(PartMesh&&) noexcept;
  PartMesh& operator=(PartMesh&&) noexcept;
  ~PartMesh();

  int num_vertices() const { return static_cast<int>(vertex_ids_.size()); }
  int num_triangles() const { return static_cast<int>(triangles_.size()); }
  // Model vertex index of each mesh vertex (sorted ascending).
  const std::vector<int>& vertex_ids() const { return vertex_ids_; }
  // Triangles as mesh-vertex indices, CCW seen from outside (OBJ winding).
  const std::vector<face3d::Triangle>& triangles() const { return triangles_; }
  // Index into MorphableModel::triangles() of each mesh triangle.
  const std::vector<int>& model_triangle_ids() const { return model_triangle_ids_; }
  // The part each mesh triangle belongs to.
  const std::vector<face3d::Part>& triangle_parts() const { return triangle_parts_; }
  // Mesh-vertex index of a model vertex, or -1 when the mesh does not use it.
  int MeshVertex(int model_vertex) const;

  // Model-space positions (centimetres) of the mesh vertices for `params`
  // (identity and expression; the pose is ignored). Only non-zero
  // coefficients cost time, and the identity part is cached between calls
  // with the same identity (thread-safe).
  Positions Evaluate(const face3d::FaceParams& params) const;
  // The same into `out`, reusing its storage (no allocation when it already
  // has num_vertices() rows).
  void Evaluate(const face3d::FaceParams& params, Positions* out) const;

  // Camera-space positions (centimetres): R * diag(1,-1,-1) * X + t.
  static Positions ToCamera(const Positions& model_space, const face3d::Pose& pose);
  // The same into `out` (reusing its storage; must not be `model_space`).
  static void ToCamera(const Positions& model_space, const face3d::Pose& pose, Positions* out);

 private:
  PartMesh() = default;
  // Contiguous runs [begin, end) of model vertex ids and where each run
  // starts in the mesh's vertex list.
  struct Run {
    int model_begin;
    int model_end;
    int mesh_begin;
  };
  struct Cache;

  void AddDelta(const float* delta, float weight, const std::vector<Run>& runs, float* out) const;

  const face3d::MorphableModel* model_ = nullptr;
  std::vector<int> vertex_ids_;
  std::vector<int> model_to_mesh_;  // Sized num_vertices of the model.
  std::vector<face3d::Triangle> triangles_;
  std::vector<int> model_triangle_ids_;
  std::vector<face3d::Part> triangle_parts_;
  std::vector<Run> runs_;
  // Per expression shape: the runs clipped to where the delta is non-zero.
  std::vector<std::vector<Run>> expression_runs_;
  std::unique_ptr<Cache> cache_;
};

}  // namespace faceanime::render

#endif  // FACEANIME_RENDER_PART_MESH_H_
