// Dense bounded Levenberg-Marquardt solver of the 3DMM landmark fit (internal
// to face3d; not a public header: include only from face3d/*.cc and tests).
//
// The whole fit is small (136 landmark residuals, at most 159 parameters), so
// it is evaluated as one dense problem: one pass computes every residual and
// the analytic Jacobian from the LandmarkModel's row-major shape bases, the
// Gauss-Newton normal equations are formed in one product, and each step
// solves the bounded quadratic model exactly (primal active set on the
// expression bounds, identity eliminated by a Schur complement). Robust
// losses are handled by iteratively reweighted least squares (the gradient is
// exact; the Hessian uses the loss' first derivative only).
//
// Parameter layout (as fitting_costs.h's state and identity blocks):
//   x[0..2]     rotation, angle-axis, radians (Pose::rotation)
//   x[3..5]     translation, camera space, centimetres
//   x[6..58]    expression weights, bounded to [0, 1]
//   x[59..158]  identity weights, standard deviations (only when estimated)
// Cost (Ceres' convention, half the sum of squares):
//   0.5 * sum_k huber_a(|r_k|^2),  r_k = sqrt(w_k) / sigma * M_k * (project_k(x) - observed_k)
//   + 0.5 * identity_prior_weight * |identity|^2                (estimated identity)
//   + 0.5 * sum_j l1_j * e_j                                     (L1; e_j >= 0)
// with M_k = [n_k^T; c * t_k^T] for a jaw-contour landmark that has a
// silhouette normal n_k (t_k its perpendicular, c the contour tangential
// weight) and the identity otherwise, and l1_j the per-shape L1 weights.
//   + 0.5 * sum_(k, j) h_kj^2   (silhouette hinges, see silhouette_weight)
// (with soft_contour_px, a jaw-contour landmark's r_k is instead the smooth
// maximum of its strip, see there)
//   + 0.5 * temporal.weight * sum_i cauchy(((x_i - predicted_i) / scale_i)^2)
// with huber_a(s) = s for s <= a^2, 2 a sqrt(s) - a^2 beyond (Ceres' HuberLoss)
// and cauchy(s) = log(1 + s) (Ceres' CauchyLoss(1)).
// Frames and projection as in face_params.h.
#ifndef FACEANIME_FACE3D_LANDMARK_SOLVER_H_
#define FACEANIME_FACE3D_LANDMARK_SOLVER_H_

#include <array>
#include <optional>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "face3d/face_fitter.h"
#include "face3d/face_params.h"
#include "face3d/morphable_model.h"

namespace faceanime::face3d::internal {

inline constexpr int kSolverPoseSize = 6;
inline constexpr int kSolverStateSize = kSolverPoseSize + kNumExpressionShapes;          // 59.
inline constexpr int kSolverFullSize = kSolverStateSize + kNumIdentityShapes;            // 159.
inline constexpr int kNumLandmarkResiduals = 2 * kNumLandmarks;                          // 136.

using SolverState = std::array<double, kSolverStateSize>;

// Face state <-> solver state: [rotation (3), translation (3), expression
// (53)]; the identity is not part of it.
SolverState ToSolverState(const FaceParams& params);
void FromSolverState(const SolverState& state, FaceParams* params);
using IdentityWeights = std::array<double, kNumIdentityShapes>;
using RowMajorMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Temporal term of the tracker: a Cauchy loss on each state entry's deviation
// from a prediction, in units of `scale`.
struct TemporalPrior {
  SolverState predicted{};
  SolverState scale{};  // > 0.
  double weight = 1.0;  // >= 0.
};

inline std::array<Eigen::Vector2d, kNumLandmarks> ZeroNormals() {
  std::array<Eigen::Vector2d, kNumLandmarks> n;
  for (auto& v : n) v.setZero();
  return n;
}

// One frame's landmark fit. Pointers must outlive the solve.
struct LandmarkFitProblem {
  const LandmarkModel* model = nullptr;
  const Landmarks68* landmarks = nullptr;
  const Camera* camera = nullptr;
  const std::array<double, kNumLandmarks>* weights = nullptr;  // nullptr: all 1; <= 0 ignores a landmark.
  std::array<int, kNumLandmarks> rows{};                        // LandmarkModel::SelectRows.
  double landmark_sigma_px = 1.0;
  double robust_threshold = 3.0;  // Huber threshold a, in units of sigma.
  double expression_l1_weight = 0.0;  // Every shape's L1 weight, unless expression_l1 is set.
  const std::array<double, kNumExpressionShapes>* expression_l1 = nullptr;  // Per-shape L1 weights.
  // Image-space unit outward silhouette normals of the contour landmarks
  // (LandmarkModel::ContourNormals; zero: plain 2D residual) and the weight of
  // the offset along the contour, in [0, 1] (1: plain 2D residual).
  std::array<Eigen::Vector2d, kNumLandmarks> normals = ZeroNormals();
  double contour_tangential_weight = 1.0;
  double identity_prior_weight = 1.0;  // Used when estimate_identity.
  bool estimate_identity = false;      // Else identity is held.
  bool hold_pose = false;              // Rotation and translation held at their start values.
  // Silhouette consistency (FitOptions::silhouette_consistency_weight): per
  // pair (contour landmark k, competing basis row j of k's strip), a hinge
  // residual silhouette_weight * sqrt(w_k) / sigma * max(0, n_k . (p_j - p_k))
  // (image projections, n_k = normals[k]): no competitor may project further
  // out than the landmark's row, so the solve cannot push its row inside the
  // outline. Off when silhouette_weight is 0 or a pair's landmark has no
  // normal or weight 0.
  double silhouette_weight = 0.0;
  std::vector<std::pair<int, int>> silhouette_pairs;
  // Soft silhouette (> 0; 0, the default, is off): each jaw-contour landmark
  // with a normal is not its row but the smooth maximum of its strip
  // (LandmarkModel::ContourRows) along the normal, temperature
  // soft_contour_px pixels: normal coordinate soft_contour_px *
  // log(sum_i exp(n . q_i / soft_contour_px)), tangential coordinate that of
  // the softmax-weighted mean of the projections q_i.
  double soft_contour_px = 0.0;
  const TemporalPrior* temporal = nullptr;
};

// The problem for `fitter`'s model and options (rows, normals and
// estimate_identity left for the caller). `weights` as in FitRequest; all referenced objects
// must outlive the problem.
LandmarkFitProblem FitProblemFor(const FaceFitter& fitter, const Landmarks68& landmarks, const Camera& camera,
                                 const std::optional<std::array<double, kNumLandmarks>>& weights);

// RMS reprojection error (pixels) with the given basis rows (face_fitter.cc).
double RmseForRows(const LandmarkModel& model, const FaceParams& params, const Camera& camera,
                   const Landmarks68& landmarks, const std::optional<std::array<double, kNumLandmarks>>& weights,
                   const std::array<int, kNumLandmarks>& rows);

struct SolverSettings {
  int max_iterations = 25;             // Accepted plus rejected steps.
  double function_tolerance = 1e-10;   // Relative cost decrease of an accepted step.
  double parameter_tolerance = 1e-8;   // Step norm relative to |x|.
  double gradient_tolerance = 1e-10;   // Max norm of the projected gradient.
};

struct SolverSummary {
  int iterations = 0;  // Levenberg-Marquardt iterations (steps tried).
  double initial_cost = 0.0;
  double final_cost = 0.0;
};

// Minimises the cost above over `state` (and `identity` when
// problem.estimate_identity), starting from their values; expression weights
// are clamped into [0, 1] first.
SolverSummary SolveLandmarkFit(const LandmarkFitProblem& problem, const SolverSettings& settings, SolverState* state,
                               IdentityWeights* identity);

// The cost above at (state, identity).
double LandmarkFitCost(const LandmarkFitProblem& problem, const SolverState& state, const IdentityWeights& identity);

// The 136 scaled landmark residuals r_k (rows 2k, 2k+1; zero for ignored
// landmarks) before the robust loss and, when `jacobian` is set, their
// derivatives (136 x 59, or 136 x 159 with estimate_identity, columns in the
// layout above).
void LandmarkResiduals(const LandmarkFitProblem& problem, const SolverState& state, const IdentityWeights& identity,
                       Eigen::VectorXd* residuals, RowMajorMatrix* jacobian);

// The silhouette hinge residuals h_kj (one per problem.silhouette_pairs entry
// that applies, in order; zero when the competitor is not further out) and,
// when `jacobian` is set, their derivatives (layout as LandmarkResiduals).
void SilhouetteResiduals(const LandmarkFitProblem& problem, const SolverState& state, const IdentityWeights& identity,
                         Eigen::VectorXd* residuals, RowMajorMatrix* jacobian);

// Minimises 0.5 d^T A d + b^T d subject to lower <= d <= upper (entries may be
// infinite; lower <= 0 <= upper) by a primal active-set method from d = 0.
// A must be symmetric positive definite. Returns false when a factorisation
// fails (d then holds the last feasible iterate).
bool SolveBoxQp(const Eigen::MatrixXd& a, const Eigen::VectorXd& b, const Eigen::VectorXd& lower,
                const Eigen::VectorXd& upper, Eigen::VectorXd* d);

}  // namespace faceanime::face3d::internal

#endif  // FACEANIME_FACE3D_LANDMARK_SOLVER_H_
