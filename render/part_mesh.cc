#include "render/part_mesh.h"

#include <algorithm>
#include <mutex>
#include <stdexcept>

namespace faceanime::render {

using face3d::MorphableModel;
using face3d::Part;

struct PartMesh::Cache {
  std::mutex mutex;
  bool valid = false;
  std::array<double, face3d::kNumIdentityShapes> identity{};
  Positions base;  // Neutral + identity, mesh vertices.
};

PartMesh::PartMesh(PartMesh&&) noexcept = default;
PartMesh& PartMesh::operator=(PartMesh&&) noexcept = default;
PartMesh::~PartMesh() = default;

PartMesh PartMesh::Create(const MorphableModel& model, std::span<const Part> parts) {
  if (parts.empty()) throw std::invalid_argument("PartMesh: no parts given");
  PartMesh mesh;
  mesh.model_ = &model;
  std::vector<char> used(model.num_vertices(), 0);
  std::vector<Part> sorted(parts.begin(), parts.end());
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  for (Part p : sorted) {
    const face3d::IndexRange r = model.part(p).triangles;
    for (int t = r.begin; t < r.end; ++t) {
      for (int v : model.triangles()[t]) used[v] = 1;
    }
  }
  mesh.model_to_mesh_.assign(model.num_vertices(), -1);
  for (int v = 0; v < model.num_vertices(); ++v) {
    if (!used[v]) continue;
    const int m = static_cast<int>(mesh.vertex_ids_.size());
    mesh.model_to_mesh_[v] = m;
    if (!mesh.runs_.empty() && mesh.runs_.back().model_end == v) {
      ++mesh.runs_.back().model_end;
    } else {
      mesh.runs_.push_back({v, v + 1, m});
    }
    mesh.vertex_ids_.push_back(v);
  }
  for (Part p : sorted) {
    const face3d::IndexRange r = model.part(p).triangles;
    for (int t = r.begin; t < r.end; ++t) {
      const face3d::Triangle& tri = model.triangles()[t];
      mesh.triangles_.push_back(
          {mesh.model_to_mesh_[tri[0]], mesh.model_to_mesh_[tri[1]], mesh.model_to_mesh_[tri[2]]});
      mesh.model_triangle_ids_.push_back(t);
      mesh.triangle_parts_.push_back(p);
    }
  }
  // Expression deltas are local (most touch the face only): clip each run to
  // the span where the delta is non-zero.
  mesh.expression_runs_.resize(face3d::kNumExpressionShapes);
  for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
    const float* d = model.expression_delta(j);
    for (const Run& run : mesh.runs_) {
      int first = -1, last = -1;
      for (int v = run.model_begin; v < run.model_end; ++v) {
        if (d[3 * v] != 0.f || d[3 * v + 1] != 0.f || d[3 * v + 2] != 0.f) {
          if (first < 0) first = v;
          last = v;
        }
      }
      if (first >= 0) {
        mesh.expression_runs_[j].push_back({first, last + 1, run.mesh_begin + (first - run.model_begin)});
      }
    }
  }
  mesh.cache_ = std::make_unique<Cache>();
  return mesh;
}

int PartMesh::MeshVertex(int model_vertex) const {
  if (model_vertex < 0 || model_vertex >= static_cast<int>(model_to_mesh_.size())) return -1;
  return model_to_mesh_[model_vertex];
}

void PartMesh::AddDelta(const float* delta, float weight, const std::vector<Run>& runs,
                        float* out) const {
  for (const Run& run : runs) {
    const float* src = delta + 3 * static_cast<size_t>(run.model_begin);
    float* dst = out + 3 * static_cast<size_t>(run.mesh_begin);
    const int n = 3 * (run.model_end - run.model_begin);
    for (int k = 0; k < n; ++k) dst[k] += weight * src[k];
  }
}

Positions PartMesh::Evaluate(const face3d::FaceParams& params) const {
  Positions out;
  Evaluate(params, &out);
  return out;
}

void PartMesh::Evaluate(const face3d::FaceParams& params, Positions* out) const {
  {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    if (!cache_->valid || cache_->identity != params.identity) {
      Positions base(num_vertices(), 3);
      float* dst = base.data();
      for (const Run& run : runs_) {
        std::copy(model_->neutral() + 3 * static_cast<size_t>(run.model_begin),
                  model_->neutral() + 3 * static_cast<size_t>(run.model_end),
                  dst + 3 * static_cast<size_t>(run.mesh_begin));
      }
      for (int i = 0; i < face3d::kNumIdentityShapes; ++i) {
        if (params.identity[i] != 0.0) {
          AddDelta(model_->identity_delta(i), static_cast<float>(params.identity[i]), runs_, dst);
        }
      }
      cache_->base = std::move(base);
      cache_->identity = params.identity;
      cache_->valid = true;
    }
    *out = cache_->base;  // Reuses out's storage when the size matches.
  }
  for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
    if (params.expression[j] != 0.0) {
      AddDelta(model_->expression_delta(j), static_cast<float>(params.expression[j]),
               expression_runs_[j], out->data());
    }
  }
}

Positions PartMesh::ToCamera(const Positions& model_space, const face3d::Pose& pose) {
  Positions out;
  ToCamera(model_space, pose, &out);
  return out;
}

void PartMesh::ToCamera(const Positions& model_space, const face3d::Pose& pose, Positions* out) {
  const Eigen::Matrix3f r = pose.ModelToCameraRotation().cast<float>();
  const Eigen::RowVector3f t = pose.translation.cast<float>().transpose();
  out->resize(model_space.rows(), 3);
  out->noalias() = model_space * r.transpose();
  out->rowwise() += t;
}

}  // namespace faceanime::render
