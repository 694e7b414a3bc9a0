// Ceres cost functions of the 3DMM fitter (internal to face3d; not a public
// header: include only from face3d/*.cc and tests).
//
// Every fit optimises a per-frame "state" block plus the shared identity:
//   state[kStateSize] = { rotation (3, angle-axis, radians; Pose::rotation),
//                         translation (3, camera space, centimetres),
//                         expression (53, weights in [0, 1]) }
//   identity[100]     = identity weights, standard deviations (prior N(0, 1)).
// Keeping pose and expression in one block lets the multi-frame identity fit
// eliminate each frame's block with Ceres' Schur solvers.
//
// Frames (see face_params.h): model space (cm, +X subject's left, +Y up, +Z
// out of the face) -> camera space X_cam = R(rotation) * diag(1, -1, -1) * X
// + translation (OpenCV axes, cm) -> image pixels x = f X/Z + cx, y = f Y/Z + cy.
#ifndef FACEANIME_FACE3D_FITTING_COSTS_H_
#define FACEANIME_FACE3D_FITTING_COSTS_H_

#include <cmath>
#include <array>
#include <memory>
#include <optional>
#include <vector>

#include <ceres/autodiff_cost_function.h>
#include <ceres/rotation.h>
#include <ceres/sized_cost_function.h>
#include <Eigen/Core>

#include <ceres/problem.h>
#include <ceres/solver.h>

#include "face3d/face_fitter.h"
#include "face3d/face_params.h"
#include "face3d/morphable_model.h"

namespace faceanime::face3d::internal {

inline constexpr int kPoseSize = 6;
inline constexpr int kStateSize = kPoseSize + kNumExpressionShapes;  // 59.
inline constexpr int kExpressionOffset = kPoseSize;

// Projection of one model-space point, differentiated by Ceres autodiff over a
// small fixed-size block (9 variables).
//   Parameter blocks: rotation[3] (angle-axis, radians), translation[3] (cm),
//   point[3] (model space, cm).
//   Residuals[2]: (projected - observed) * scale, pixels * scale (scale =
//   landmark weight / landmark sigma in pixels).
struct PointProjectionResidual {
  PointProjectionResidual(const Eigen::Vector2d& observed, double scale, const Camera& camera)
      : observed_x(observed.x()), observed_y(observed.y()), scale(scale), focal(camera.focal),
        cx(camera.cx), cy(camera.cy) {}

  template <typename T>
  bool operator()(const T* rotation, const T* translation, const T* point, T* residual) const {
    // Model axes to camera axes: diag(1, -1, -1).
    const T flipped[3] = {point[0], -point[1], -point[2]};
    T p[3];
    ceres::AngleAxisRotatePoint(rotation, flipped, p);
    p[0] += translation[0];
    p[1] += translation[1];
    p[2] += translation[2];
    // Keep the division finite for points that wander behind the camera; the
    // residual then stays large instead of NaN.
    const T z = p[2] > T(1e-3) ? p[2] : T(1e-3);
    residual[0] = (T(focal) * p[0] / z + T(cx) - T(observed_x)) * T(scale);
    residual[1] = (T(focal) * p[1] / z + T(cy) - T(observed_y)) * T(scale);
    return true;
  }

  static ceres::AutoDiffCostFunction<PointProjectionResidual, 2, 3, 3, 3>* Create(
      const Eigen::Vector2d& observed, double scale, const Camera& camera) {
    return new ceres::AutoDiffCostFunction<PointProjectionResidual, 2, 3, 3, 3>(
        new PointProjectionResidual(observed, scale, camera));
  }

  double observed_x, observed_y, scale, focal, cx, cy;
};

// Row-major (3 x K) shape basis rows of one vertex, contiguous in memory.
struct VertexBasis {
  const double* mean;        // 3, model space, cm.
  const double* identity;    // 3 x kNumIdentityShapes, row-major, cm per sd.
  const double* expression;  // 3 x kNumExpressionShapes, row-major, cm per unit.
};

// One landmark of the linear model: point = mean + I * identity + E * expr,
// projected with the state's pose. The projection Jacobian comes from
// PointProjectionResidual (autodiff on 9 variables) and is chained through
// the constant shape bases by hand, so a landmark costs a 3x153 mat-vec
// instead of a 153-wide Jet evaluation.
//   Parameter blocks: state[kStateSize], identity[kNumIdentityShapes].
//   Residuals[2]: metric * (pixels * scale), scale as in
//   PointProjectionResidual; metric a constant 2x2 matrix (the contour
//   landmarks' [normal^T; tangential_weight * tangent^T], landmark_solver.h;
//   identity for the others).
class LandmarkCost : public ceres::SizedCostFunction<2, kStateSize, kNumIdentityShapes> {
 public:
  // The basis memory must outlive the cost.
  static ceres::CostFunction* Create(const VertexBasis& basis, const Eigen::Vector2d& observed, double scale,
                                     const Camera& camera,
                                     const Eigen::Matrix2d& metric = Eigen::Matrix2d::Identity()) {
    return new LandmarkCost(basis, observed, scale, camera, metric);
  }

  bool Evaluate(double const* const* parameters, double* residuals, double** jacobians) const override {
    const double* state = parameters[0];
    using IdRows = Eigen::Matrix<double, 3, kNumIdentityShapes, Eigen::RowMajor>;
    using ExRows = Eigen::Matrix<double, 3, kNumExpressionShapes, Eigen::RowMajor>;
    const Eigen::Map<const IdRows> id_rows(basis_.identity);
    const Eigen::Map<const ExRows> ex_rows(basis_.expression);
    const Eigen::Map<const Eigen::Matrix<double, kNumIdentityShapes, 1>> id(parameters[1]);
    const Eigen::Map<const Eigen::Matrix<double, kNumExpressionShapes, 1>> ex(state + kExpressionOffset);
    const Eigen::Vector3d point = Eigen::Map<const Eigen::Vector3d>(basis_.mean) + id_rows * id + ex_rows * ex;
    const double* blocks[3] = {state, state + 3, point.data()};
    Eigen::Map<Eigen::Vector2d> r(residuals);
    if (jacobians == nullptr) {
      if (!projection_.Evaluate(blocks, residuals, nullptr)) return false;
      r = (metric_ * r).eval();
      return true;
    }

    Eigen::Matrix<double, 2, 3, Eigen::RowMajor> j_rot, j_trans, j_point;
    double* inner[3] = {j_rot.data(), j_trans.data(), j_point.data()};
    if (!projection_.Evaluate(blocks, residuals, inner)) return false;
    r = (metric_ * r).eval();
    j_rot = (metric_ * j_rot).eval();
    j_trans = (metric_ * j_trans).eval();
    j_point = (metric_ * j_point).eval();
    if (jacobians[0] != nullptr) {
      Eigen::Map<Eigen::Matrix<double, 2, kStateSize, Eigen::RowMajor>> j(jacobians[0]);
      j.leftCols<3>() = j_rot;
      j.middleCols<3>(3) = j_trans;
      j.rightCols<kNumExpressionShapes>().noalias() = j_point * ex_rows;
    }
    if (jacobians[1] != nullptr) {
      Eigen::Map<Eigen::Matrix<double, 2, kNumIdentityShapes, Eigen::RowMajor>> j(jacobians[1]);
      j.noalias() = j_point * id_rows;
    }
    return true;
  }

 private:
  LandmarkCost(const VertexBasis& basis, const Eigen::Vector2d& observed, double scale, const Camera& camera,
               const Eigen::Matrix2d& metric)
      : basis_(basis), metric_(metric), projection_(new PointProjectionResidual(observed, scale, camera)) {}

  VertexBasis basis_;
  Eigen::Matrix2d metric_;
  ceres::AutoDiffCostFunction<PointProjectionResidual, 2, 3, 3, 3> projection_;
};

// Gaussian identity prior: residual_i = sqrt(weight) * identity_i, i.e. the
// negative log of N(0, 1) per weight (cost = weight/2 * |identity|^2).
//   Parameter blocks: identity[kNumIdentityShapes]. Residuals[100].
struct IdentityPriorResidual {
  explicit IdentityPriorResidual(double weight) : sqrt_weight(std::sqrt(weight)) {}
  template <typename T>
  bool operator()(const T* identity, T* residual) const {
    for (int i = 0; i < kNumIdentityShapes; ++i) residual[i] = T(sqrt_weight) * identity[i];
    return true;
  }
  static ceres::CostFunction* Create(double weight) {
    return new ceres::AutoDiffCostFunction<IdentityPriorResidual, kNumIdentityShapes, kNumIdentityShapes>(
        new IdentityPriorResidual(weight));
  }
  double sqrt_weight;
};

// L1 sparsity prior on the expression weights (kept in [0, 1] by
// SolveWithExpressionBounds), written as a residual that
// is linear in the weight, so Gauss-Newton models it exactly:
//   residual_j = c + weight_j / (2 c) * e_j,
//   residual_j^2 / 2 = c^2 / 2 + (weight_j / 2) * e_j + weight_j^2 / (8 c^2) * e_j^2,
// i.e. an L1 cost of weight/2 per unit of e_j >= 0 plus a constant and a
// quadratic term that is negligible for c >> weight. (The tempting
// sqrt(weight * e_j) form is exact too, but its Gauss-Newton model is poor
// near 0 and Levenberg-Marquardt then rejects about half its steps.)
//   Parameter blocks: state[kStateSize] (reads the expression part).
//   Residuals[53].
// weight_j are the per-shape weights (FaceFitter::expression_l1_weights()).
struct ExpressionSparsityResidual {
  ExpressionSparsityResidual(const std::array<double, kNumExpressionShapes>& weights, double offset) : offset(offset) {
    for (int j = 0; j < kNumExpressionShapes; ++j) slopes[j] = weights[j] / (2.0 * offset);
  }
  template <typename T>
  bool operator()(const T* state, T* residual) const {
    for (int j = 0; j < kNumExpressionShapes; ++j) {
      residual[j] = T(offset) + T(slopes[j]) * state[kExpressionOffset + j];
    }
    return true;
  }
  static ceres::CostFunction* Create(const std::array<double, kNumExpressionShapes>& weights, double offset) {
    return new ceres::AutoDiffCostFunction<ExpressionSparsityResidual, kNumExpressionShapes, kStateSize>(
        new ExpressionSparsityResidual(weights, offset));
  }
  std::array<double, kNumExpressionShapes> slopes;
  double offset;
};

// Helpers of the multi-frame identity fit (FaceFitter::FitFrames, face_fitter.cc;
// single frames use the dense solver of landmark_solver.h).
// The per-vertex basis of LandmarkModel row `row`.
VertexBasis RowBasis(const LandmarkModel& model, int row);
// Adds one frame's landmark costs (Huber) and expression prior to `problem`.
// state[kStateSize] and identity[100] as above; `rows` from SelectRows,
// `normals` from ContourNormals (the contour metric of landmark_solver.h with
// the options' contour_tangential_weight).
void AddFrameResiduals(const FaceFitter& fitter, const Landmarks68& landmarks, const Camera& camera,
                       const std::optional<std::array<double, kNumLandmarks>>& weights,
                       const std::array<int, kNumLandmarks>& rows,
                       const std::array<Eigen::Vector2d, kNumLandmarks>& normals, double* state, double* identity,
                       ceres::Problem* problem);

// Solves `problem` with every state's expression weights bounded to [0, 1]
// (Ceres parameter bounds; starting values are clamped first). `states` are
// the state blocks (kStateSize) in `problem`. Returns the Levenberg-Marquardt
// iterations spent.
int SolveWithExpressionBounds(const ceres::Solver::Options& options, const std::vector<double*>& states,
                              ceres::Problem* problem);

}  // namespace faceanime::face3d::internal

#endif  // FACEANIME_FACE3D_FITTING_COSTS_H_
