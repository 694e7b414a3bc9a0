#include "face3d/landmark_solver.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include <Eigen/Cholesky>
#include <Eigen/Geometry>

namespace faceanime::face3d::internal {
namespace {

constexpr int kExpressionBegin = kSolverPoseSize;
constexpr double kMinDepth = 1e-3;  // Centimetres; as PointProjectionResidual.
constexpr double kInfinity = std::numeric_limits<double>::infinity();

using ExpressionRowsMap = Eigen::Map<const Eigen::Matrix<double, 3, kNumExpressionShapes, Eigen::RowMajor>>;
using IdentityRowsMap = Eigen::Map<const Eigen::Matrix<double, 3, kNumIdentityShapes, Eigen::RowMajor>>;

Eigen::Matrix3d Skew(const Eigen::Vector3d& v) {
  Eigen::Matrix3d m;
  m << 0, -v.z(), v.y(), v.z(), 0, -v.x(), -v.y(), v.x(), 0;
  return m;
}

Eigen::Matrix3d RotationOf(const Eigen::Vector3d& w) {
  const double theta = w.norm();
  if (theta < 1e-12) return Eigen::Matrix3d::Identity() + Skew(w);
  return Eigen::AngleAxisd(theta, w / theta).toRotationMatrix();
}

// Left Jacobian of SO(3) at angle-axis w: R(w + dw) = exp(J(w) dw) R(w) to
// first order, so d(R(w) y)/dw = -[R(w) y]_x J(w).
Eigen::Matrix3d LeftJacobian(const Eigen::Vector3d& w) {
  const double t2 = w.squaredNorm();
  double a, b;
  if (t2 < 1e-8) {
    a = 0.5 - t2 / 24.0;
    b = 1.0 / 6.0 - t2 / 120.0;
  } else {
    const double t = std::sqrt(t2);
    a = (1.0 - std::cos(t)) / t2;
    b = (t - std::sin(t)) / (t2 * t);
  }
  const Eigen::Matrix3d k = Skew(w);
  return Eigen::Matrix3d::Identity() + a * k + b * k * k;
}

// Ceres' HuberLoss(a) on a squared norm s, and its derivative.
double HuberRho(double s, double a) { return s <= a * a ? s : 2.0 * a * std::sqrt(s) - a * a; }
double HuberWeight(double s, double a) { return s <= a * a ? 1.0 : a / std::sqrt(s); }

// Per-solve constants and the residual/Jacobian evaluation over the packed
// parameter vector x (layout in the header; 59 entries with a held identity).
class Evaluator {
 public:
  Evaluator(const LandmarkFitProblem& problem, const IdentityWeights& identity)
      : p_(problem), estimate_identity_(problem.estimate_identity), held_identity_(identity) {
    for (int k = 0; k < kNumLandmarks; ++k) {
      const double w = problem.weights != nullptr ? (*problem.weights)[k] : 1.0;
      scale_[k] = w > 0.0 ? std::sqrt(w) / problem.landmark_sigma_px : 0.0;
      const Eigen::Vector2d& n = problem.normals[k];
      metric_[k] = Eigen::Matrix2d::Identity();
      if (n.squaredNorm() > 0.0 && problem.contour_tangential_weight != 1.0) {
        const Eigen::Vector2d u = n.normalized();
        metric_[k] << u.x(), u.y(), -problem.contour_tangential_weight * u.y(),
            problem.contour_tangential_weight * u.x();
        has_metric_[k] = true;
      }
    }
    if (problem.silhouette_weight > 0) {
      for (const auto& [k, row] : problem.silhouette_pairs) {
        if (scale_[k] != 0.0 && problem.normals[k].squaredNorm() > 0.0) hinges_.push_back({k, row});
      }
    }
    for (int j = 0; j < kNumExpressionShapes; ++j) {
      l1_[j] = problem.expression_l1 != nullptr ? (*problem.expression_l1)[j] : problem.expression_l1_weight;
    }
    if (!estimate_identity_) {
      const Eigen::Map<const Eigen::Matrix<double, kNumIdentityShapes, 1>> id(identity.data());
      for (int k = 0; k < kNumLandmarks; ++k) {
        const int row = problem.rows[k];
        const IdentityRowsMap id_rows(p_.model->identity_rows().data() + 3 * row * kNumIdentityShapes);
        base_.col(k) = p_.model->basis().mean.segment<3>(3 * row) + id_rows * id;
      }
    }
  }

  // Per-shape L1 weights of the expression prior.
  const std::array<double, kNumExpressionShapes>& l1() const { return l1_; }

  int num_params() const { return estimate_identity_ ? kSolverFullSize : kSolverStateSize; }

  // A model-space point (ICT axes) in camera space for rotation `rot` and
  // translation `t`.
  struct CameraPoint {
    Eigen::Vector3d rotated;  // rot * diag(1, -1, -1) * point.
    Eigen::Vector3d p;        // rotated + t.
    double z;                 // p.z(), or kMinDepth when it is below (clamped).
    bool clamped;
  };
  static CameraPoint ToCamera(const Eigen::Vector3d& point, const Eigen::Matrix3d& rot, const Eigen::Vector3d& t) {
    CameraPoint c;
    c.rotated = rot * Eigen::Vector3d(point.x(), -point.y(), -point.z());
    c.p = c.rotated + t;
    c.clamped = c.p.z() < kMinDepth;
    c.z = c.clamped ? kMinDepth : c.p.z();
    return c;
  }

  // d (s * focal * (x, y) / z) / d camera point, with sf = s * focal / z.
  static Eigen::Matrix<double, 2, 3> PixelJacobian(const CameraPoint& c, double sf) {
    Eigen::Matrix<double, 2, 3> d;
    d << sf, 0.0, c.clamped ? 0.0 : -sf * c.p.x() / c.z, 0.0, sf, c.clamped ? 0.0 : -sf * c.p.y() / c.z;
    return d;
  }

  // Chains `d_cam` (d residuals / d camera point, R x 3) to the parameters
  // (rotation through `left`, translation, expression, identity when it is
  // estimated) into the R rows `j`: the model point goes through rot and
  // diag(1, -1, -1).
  template <int R, typename Rows>
  void ChainToParameters(const Eigen::Matrix<double, R, 3>& d_cam, const CameraPoint& c, const Eigen::Matrix3d& rot,
                         const Eigen::Matrix3d& left, const ExpressionRowsMap& ex_rows,
                         const IdentityRowsMap& id_rows, Rows&& j) const {
    Eigen::Matrix<double, R, 3> d_model = d_cam * rot;
    d_model.col(1) = -d_model.col(1);
    d_model.col(2) = -d_model.col(2);
    j.template leftCols<3>().noalias() = d_cam * (-Skew(c.rotated)) * left;
    j.template middleCols<3>(3) = d_cam;
    j.template middleCols<kNumExpressionShapes>(kExpressionBegin).noalias() = d_model * ex_rows;
    if (estimate_identity_) {
      j.template middleCols<kNumIdentityShapes>(kSolverStateSize).noalias() = d_model * id_rows;
    }
  }

  void Evaluate(const double* x, Eigen::VectorXd* residuals, RowMajorMatrix* jacobian) const {
    const Eigen::Vector3d w(x[0], x[1], x[2]);
    const Eigen::Vector3d t(x[3], x[4], x[5]);
    const Eigen::Matrix3d rot = RotationOf(w);
    const Eigen::Matrix3d left = jacobian != nullptr ? LeftJacobian(w) : Eigen::Matrix3d::Identity();
    const Eigen::Map<const Eigen::Matrix<double, kNumExpressionShapes, 1>> ex(x + kExpressionBegin);
    const Eigen::Map<const Eigen::Matrix<double, kNumIdentityShapes, 1>> id(x + kSolverStateSize);
    const Camera& camera = *p_.camera;
    const LandmarkModel& model = *p_.model;
    residuals->setZero(kNumLandmarkResiduals);
    if (jacobian != nullptr) jacobian->setZero(kNumLandmarkResiduals, num_params());
    for (int k = 0; k < kNumLandmarks; ++k) {
      const double s = scale_[k];
      if (s == 0.0) continue;
      if (p_.soft_contour_px > 0 && IsContourLandmark(k) && p_.normals[k].squaredNorm() > 0.0) {
        EvaluateSoft(k, rot, left, t, ex, estimate_identity_ ? x + kSolverStateSize : held_identity_.data(), residuals,
                     jacobian);
        continue;
      }
      const int row = p_.rows[k];
      const ExpressionRowsMap ex_rows(model.expression_rows().data() + 3 * row * kNumExpressionShapes);
      const IdentityRowsMap id_rows(model.identity_rows().data() + 3 * row * kNumIdentityShapes);
      Eigen::Vector3d point;
      if (estimate_identity_) {
        point = model.basis().mean.segment<3>(3 * row) + id_rows * id + ex_rows * ex;
      } else {
        point = base_.col(k) + ex_rows * ex;
      }
      const CameraPoint c = ToCamera(point, rot, t);
      const Eigen::Vector2d& observed = (*p_.landmarks)[k];
      (*residuals)[2 * k] = s * (camera.focal * c.p.x() / c.z + camera.cx - observed.x());
      (*residuals)[2 * k + 1] = s * (camera.focal * c.p.y() / c.z + camera.cy - observed.y());
      if (has_metric_[k]) residuals->segment<2>(2 * k) = metric_[k] * residuals->segment<2>(2 * k);
      if (jacobian == nullptr) continue;
      auto j = jacobian->middleRows<2>(2 * k);
      ChainToParameters<2>(PixelJacobian(c, s * camera.focal / c.z), c, rot, left, ex_rows, id_rows, j);
      if (has_metric_[k]) j = (metric_[k] * j).eval();
    }
  }

  // Contour landmark k as the smooth maximum of its strip
  // (LandmarkFitProblem::soft_contour_px): residual rows 2k (normal) and
  // 2k + 1 (tangential, times the contour tangential weight).
  template <typename Ex>
  void EvaluateSoft(int k, const Eigen::Matrix3d& rot, const Eigen::Matrix3d& left, const Eigen::Vector3d& t,
                    const Ex& ex, const double* identity, Eigen::VectorXd* residuals, RowMajorMatrix* jacobian) const {
    const Eigen::Map<const Eigen::Matrix<double, kNumIdentityShapes, 1>> id(identity);
    const Camera& camera = *p_.camera;
    const LandmarkModel& model = *p_.model;
    const double s = scale_[k];
    const double tau = p_.soft_contour_px;
    const double c_t = p_.contour_tangential_weight;
    const Eigen::Vector2d u = p_.normals[k].normalized();
    const Eigen::Vector2d tv(-u.y(), u.x());
    const std::span<const int> strip = model.ContourRows(k);
    const int n = static_cast<int>(strip.size());
    SoftScratch& sc = soft_scratch_;
    sc.cams.resize(n);
    sc.q.resize(n);
    sc.w.resize(n);
    std::vector<CameraPoint>& cams = sc.cams;
    std::vector<Eigen::Vector2d>& q = sc.q;
    std::vector<double>& w = sc.w;
    double m = -kInfinity;
    for (int i = 0; i < n; ++i) {
      const int row = strip[i];
      const ExpressionRowsMap ex_rows(model.expression_rows().data() + 3 * row * kNumExpressionShapes);
      const IdentityRowsMap id_rows(model.identity_rows().data() + 3 * row * kNumIdentityShapes);
      cams[i] = ToCamera(model.basis().mean.segment<3>(3 * row) + id_rows * id + ex_rows * ex, rot, t);
      q[i] = Eigen::Vector2d(camera.focal * cams[i].p.x() / cams[i].z + camera.cx,
                             camera.focal * cams[i].p.y() / cams[i].z + camera.cy);
      w[i] = u.dot(q[i]);
      m = std::max(m, w[i]);
    }
    double sum = 0.0;
    for (int i = 0; i < n; ++i) {
      w[i] = std::exp((w[i] - m) / tau);
      sum += w[i];
    }
    Eigen::Vector2d mean = Eigen::Vector2d::Zero();
    for (int i = 0; i < n; ++i) {
      w[i] /= sum;
      mean += w[i] * q[i];
    }
    const Eigen::Vector2d& observed = (*p_.landmarks)[k];
    (*residuals)[2 * k] = s * (m + tau * std::log(sum) - u.dot(observed));
    (*residuals)[2 * k + 1] = s * c_t * tv.dot(mean - observed);
    if (jacobian == nullptr) return;
    // d normal = sum_i w_i n . dq_i; d (t . mean) = sum_i w_i (t + a_i n) . dq_i
    // with a_i = t . (q_i - mean) / tau (the weights' own derivatives).
    auto j = jacobian->middleRows<2>(2 * k);
    Eigen::Matrix<double, 2, Eigen::Dynamic>& one = sc.one;
    one.resize(2, num_params());
    for (int i = 0; i < n; ++i) {
      if (w[i] < 1e-9) continue;
      const int row = strip[i];
      const ExpressionRowsMap ex_rows(model.expression_rows().data() + 3 * row * kNumExpressionShapes);
      const IdentityRowsMap id_rows(model.identity_rows().data() + 3 * row * kNumIdentityShapes);
      one.setZero();
      const Eigen::Vector2d tangent_row = c_t * (tv + (tv.dot(q[i] - mean) / tau) * u);
      Eigen::Matrix<double, 2, 2> metric;
      metric << u.x(), u.y(), tangent_row.x(), tangent_row.y();
      const Eigen::Matrix<double, 2, 3> d_cam = metric * PixelJacobian(cams[i], s * camera.focal / cams[i].z);
      ChainToParameters<2>(d_cam, cams[i], rot, left, ex_rows, id_rows, one);
      j += w[i] * one;
    }
  }

  int num_hinges() const { return static_cast<int>(hinges_.size()); }

  // The silhouette hinge residuals (LandmarkFitProblem::silhouette_weight)
  // and, with `jacobian`, their rows (zero for inactive hinges).
  void EvaluateHinges(const double* x, Eigen::VectorXd* residuals, RowMajorMatrix* jacobian) const {
    const int h = num_hinges();
    residuals->setZero(h);
    if (jacobian != nullptr) jacobian->setZero(h, num_params());
    if (h == 0) return;
    const Eigen::Matrix3d rot = RotationOf(Eigen::Vector3d(x[0], x[1], x[2]));
    const Eigen::Vector3d t(x[3], x[4], x[5]);
    const Eigen::Matrix3d left = jacobian != nullptr ? LeftJacobian(Eigen::Vector3d(x[0], x[1], x[2]))
                                                     : Eigen::Matrix3d::Identity();
    const Eigen::Map<const Eigen::Matrix<double, kNumExpressionShapes, 1>> ex(x + kExpressionBegin);
    const Eigen::Map<const Eigen::Matrix<double, kNumIdentityShapes, 1>> id(
        estimate_identity_ ? x + kSolverStateSize : held_identity_.data());
    const Camera& camera = *p_.camera;
    const LandmarkModel& model = *p_.model;
    // Scaled normal coordinate s * n.project(row) and, with `gradient`, its
    // derivative.
    auto normal_coordinate = [&](int row, const Eigen::Vector2d& n, double s,
                                 Eigen::Matrix<double, 1, Eigen::Dynamic>* gradient) {
      const ExpressionRowsMap ex_rows(model.expression_rows().data() + 3 * row * kNumExpressionShapes);
      const IdentityRowsMap id_rows(model.identity_rows().data() + 3 * row * kNumIdentityShapes);
      const CameraPoint c = ToCamera(model.basis().mean.segment<3>(3 * row) + id_rows * id + ex_rows * ex, rot, t);
      const double sf = s * camera.focal / c.z;
      if (gradient != nullptr) {
        gradient->setZero(num_params());
        const Eigen::Matrix<double, 1, 3> d_cam = n.transpose() * PixelJacobian(c, sf);
        ChainToParameters<1>(d_cam, c, rot, left, ex_rows, id_rows, *gradient);
      }
      return sf * (n.x() * c.p.x() + n.y() * c.p.y());
    };
    Eigen::Matrix<double, 1, Eigen::Dynamic> own_gradient, other_gradient;
    for (int i = 0; i < h; ++i) {
      const auto [k, row] = hinges_[i];
      const Eigen::Vector2d n = p_.normals[k].normalized();
      const double s = p_.silhouette_weight * scale_[k];
      const double excess = normal_coordinate(row, n, s, nullptr) - normal_coordinate(p_.rows[k], n, s, nullptr);
      if (excess <= 0.0) continue;
      (*residuals)[i] = excess;
      if (jacobian == nullptr) continue;
      normal_coordinate(p_.rows[k], n, s, &own_gradient);
      normal_coordinate(row, n, s, &other_gradient);
      jacobian->row(i) = other_gradient - own_gradient;
    }
  }

  // Cost of the priors and the temporal term (everything but the landmarks).
  double PriorCost(const double* x) const {
    double cost = 0.0;
    double l1 = 0.0;
    for (int j = 0; j < kNumExpressionShapes; ++j) l1 += l1_[j] * x[kExpressionBegin + j];
    cost += 0.5 * l1;
    if (estimate_identity_ && p_.identity_prior_weight > 0) {
      double sum = 0.0;
      for (int i = 0; i < kNumIdentityShapes; ++i) sum += x[kSolverStateSize + i] * x[kSolverStateSize + i];
      cost += 0.5 * p_.identity_prior_weight * sum;
    }
    if (p_.temporal != nullptr && p_.temporal->weight > 0) {
      double sum = 0.0;
      for (int i = 0; i < kSolverStateSize; ++i) {
        const double d = (x[i] - p_.temporal->predicted[i]) / p_.temporal->scale[i];
        sum += std::log1p(d * d);
      }
      cost += 0.5 * p_.temporal->weight * sum;
    }
    return cost;
  }

  double Cost(const double* x, Eigen::VectorXd* scratch) const {
    Evaluate(x, scratch, nullptr);
    double cost = 0.0;
    for (int k = 0; k < kNumLandmarks; ++k) {
      cost += 0.5 * HuberRho(scratch->segment<2>(2 * k).squaredNorm(), p_.robust_threshold);
    }
    if (num_hinges() > 0) {
      Eigen::VectorXd hinge;
      EvaluateHinges(x, &hinge, nullptr);
      cost += 0.5 * hinge.squaredNorm();
    }
    return cost + PriorCost(x);
  }

 private:
  const LandmarkFitProblem& p_;
  const bool estimate_identity_;
  std::array<double, kNumLandmarks> scale_{};
  std::array<Eigen::Matrix2d, kNumLandmarks> metric_;  // M_k (header comment).
  std::array<bool, kNumLandmarks> has_metric_{};
  std::array<double, kNumExpressionShapes> l1_{};
  std::vector<std::pair<int, int>> hinges_;  // Active silhouette pairs (landmark, competing row).
  IdentityWeights held_identity_{};
  Eigen::Matrix<double, 3, kNumLandmarks> base_ = Eigen::Matrix<double, 3, kNumLandmarks>::Zero();
  // EvaluateSoft's per-strip buffers, kept across calls so that evaluations
  // do not allocate (an Evaluator serves one solve on one thread).
  struct SoftScratch {
    std::vector<CameraPoint> cams;
    std::vector<Eigen::Vector2d> q;
    std::vector<double> w;
    Eigen::Matrix<double, 2, Eigen::Dynamic> one;
  };
  mutable SoftScratch soft_scratch_;
};

// Solves the damped bounded model min 0.5 d^T a d + g^T d on the packed
// parameters; the identity block (unbounded) is eliminated by its Schur
// complement so the active-set iterations work on the 59 state entries only.
bool SolveStep(const Eigen::MatrixXd& a, const Eigen::VectorXd& g, const Eigen::VectorXd& lower,
               const Eigen::VectorXd& upper, Eigen::VectorXd* d) {
  const int n = static_cast<int>(g.size());
  if (n == kSolverStateSize) return SolveBoxQp(a, g, lower, upper, d);
  constexpr int m = kSolverStateSize;
  constexpr int q = kNumIdentityShapes;
  const Eigen::LLT<Eigen::MatrixXd> llt(a.bottomRightCorner(q, q));
  if (llt.info() != Eigen::Success) return false;
  const Eigen::MatrixXd k = llt.solve(a.bottomLeftCorner(q, m));
  const Eigen::VectorXd c = llt.solve(g.tail(q));
  Eigen::MatrixXd s = a.topLeftCorner(m, m);
  s.noalias() -= a.topRightCorner(m, q) * k;
  const Eigen::VectorXd b = g.head(m) - a.topRightCorner(m, q) * c;
  Eigen::VectorXd ds;
  const bool ok = SolveBoxQp(0.5 * (s + s.transpose()), b, lower.head(m), upper.head(m), &ds);
  d->resize(n);
  d->head(m) = ds;
  d->tail(q) = -(c + k * ds);
  return ok && d->allFinite();
}

}  // namespace

bool SolveBoxQp(const Eigen::MatrixXd& a, const Eigen::VectorXd& b, const Eigen::VectorXd& lower,
                const Eigen::VectorXd& upper, Eigen::VectorXd* d) {
  enum Bound : uint8_t { kFree, kAtLower, kAtUpper };
  const int n = static_cast<int>(b.size());
  d->setZero(n);
  std::vector<Bound> state(n, kFree);
  for (int j = 0; j < n; ++j) {
    if (lower[j] >= 0.0 && b[j] >= 0.0) {
      state[j] = kAtLower;
    } else if (upper[j] <= 0.0 && b[j] <= 0.0) {
      state[j] = kAtUpper;
    }
  }
  const double tolerance = 1e-12 * (1.0 + b.cwiseAbs().maxCoeff());
  std::vector<int> free, fixed;
  Eigen::VectorXd target(n);
  for (int iteration = 0; iteration < 4 * n + 20; ++iteration) {
    free.clear();
    fixed.clear();
    for (int j = 0; j < n; ++j) (state[j] == kFree ? free : fixed).push_back(j);
    // Minimiser over the free entries with the fixed ones at their bounds.
    target = *d;
    if (!free.empty()) {
      Eigen::VectorXd rhs = -b(free);
      if (!fixed.empty()) rhs.noalias() -= a(free, fixed) * (*d)(fixed);
      const Eigen::LLT<Eigen::MatrixXd> llt(a(free, free));
      if (llt.info() != Eigen::Success) return false;
      const Eigen::VectorXd z = llt.solve(rhs);
      if (!z.allFinite()) return false;
      target(free) = z;
    }
    // Walk towards it until the first bound blocks.
    double alpha = 1.0;
    int blocking = -1;
    Bound side = kFree;
    for (int j : free) {
      const double step = target[j] - (*d)[j];
      if (target[j] < lower[j] && step < 0.0) {
        const double aj = (lower[j] - (*d)[j]) / step;
        if (aj < alpha) alpha = aj, blocking = j, side = kAtLower;
      } else if (target[j] > upper[j] && step > 0.0) {
        const double aj = (upper[j] - (*d)[j]) / step;
        if (aj < alpha) alpha = aj, blocking = j, side = kAtUpper;
      }
    }
    if (blocking >= 0) {
      *d += std::max(alpha, 0.0) * (target - *d);
      (*d)[blocking] = side == kAtLower ? lower[blocking] : upper[blocking];
      state[blocking] = side;
      *d = d->cwiseMax(lower).cwiseMin(upper);
      continue;
    }
    *d = target;
    // Release the fixed entry whose multiplier has the wrong sign the most.
    int release = -1;
    double worst = tolerance;
    for (int j : fixed) {
      const double gradient = a.row(j).dot(*d) + b[j];
      const double violation = state[j] == kAtLower ? -gradient : gradient;
      if (violation > worst) worst = violation, release = j;
    }
    if (release < 0) return true;
    state[release] = kFree;
  }
  return true;  // Iteration cap: d is feasible and no worse than d = 0.
}

LandmarkFitProblem FitProblemFor(const FaceFitter& fitter, const Landmarks68& landmarks, const Camera& camera,
                                 const std::optional<std::array<double, kNumLandmarks>>& weights) {
  const FitOptions& options = fitter.options();
  LandmarkFitProblem problem;
  problem.model = &fitter.landmark_model();
  problem.landmarks = &landmarks;
  problem.camera = &camera;
  problem.weights = weights.has_value() ? &*weights : nullptr;
  problem.landmark_sigma_px = options.landmark_sigma_px;
  problem.robust_threshold = options.robust_threshold;
  problem.expression_l1_weight = options.expression_l1_weight;
  problem.expression_l1 = &fitter.expression_l1_weights();
  problem.contour_tangential_weight = options.contour_tangential_weight;
  problem.identity_prior_weight = options.identity_prior_weight;
  return problem;
}

namespace {

// The evaluator's parameter vector: the solver state, then the identity
// weights when the problem estimates them.
Eigen::VectorXd ParameterVector(const LandmarkFitProblem& problem, const Evaluator& evaluator,
                                const SolverState& state, const IdentityWeights& identity) {
  Eigen::VectorXd x(evaluator.num_params());
  x.head<kSolverStateSize>() = Eigen::Map<const Eigen::Matrix<double, kSolverStateSize, 1>>(state.data());
  if (problem.estimate_identity) {
    x.tail<kNumIdentityShapes>() = Eigen::Map<const Eigen::Matrix<double, kNumIdentityShapes, 1>>(identity.data());
  }
  return x;
}

}  // namespace

void LandmarkResiduals(const LandmarkFitProblem& problem, const SolverState& state, const IdentityWeights& identity,
                       Eigen::VectorXd* residuals, RowMajorMatrix* jacobian) {
  const Evaluator evaluator(problem, identity);
  evaluator.Evaluate(ParameterVector(problem, evaluator, state, identity).data(), residuals, jacobian);
}

void SilhouetteResiduals(const LandmarkFitProblem& problem, const SolverState& state, const IdentityWeights& identity,
                         Eigen::VectorXd* residuals, RowMajorMatrix* jacobian) {
  const Evaluator evaluator(problem, identity);
  evaluator.EvaluateHinges(ParameterVector(problem, evaluator, state, identity).data(), residuals, jacobian);
}

double LandmarkFitCost(const LandmarkFitProblem& problem, const SolverState& state, const IdentityWeights& identity) {
  const Evaluator evaluator(problem, identity);
  Eigen::VectorXd x(evaluator.num_params());
  x.head<kSolverStateSize>() = Eigen::Map<const Eigen::Matrix<double, kSolverStateSize, 1>>(state.data());
  if (problem.estimate_identity) {
    x.tail<kNumIdentityShapes>() = Eigen::Map<const Eigen::Matrix<double, kNumIdentityShapes, 1>>(identity.data());
  }
  Eigen::VectorXd scratch;
  return evaluator.Cost(x.data(), &scratch);
}

SolverSummary SolveLandmarkFit(const LandmarkFitProblem& problem, const SolverSettings& settings, SolverState* state,
                               IdentityWeights* identity) {
  const Evaluator evaluator(problem, *identity);
  const int n = evaluator.num_params();
  Eigen::VectorXd x(n), lower = Eigen::VectorXd::Constant(n, -kInfinity),
                        upper = Eigen::VectorXd::Constant(n, kInfinity);
  lower.segment<kNumExpressionShapes>(kExpressionBegin).setZero();
  upper.segment<kNumExpressionShapes>(kExpressionBegin).setOnes();
  x.head<kSolverStateSize>() = Eigen::Map<const Eigen::Matrix<double, kSolverStateSize, 1>>(state->data());
  if (problem.estimate_identity) {
    x.tail<kNumIdentityShapes>() = Eigen::Map<const Eigen::Matrix<double, kNumIdentityShapes, 1>>(identity->data());
  }
  x = x.cwiseMax(lower).cwiseMin(upper);
  if (problem.hold_pose) {
    lower.head<kSolverPoseSize>() = x.head<kSolverPoseSize>();
    upper.head<kSolverPoseSize>() = x.head<kSolverPoseSize>();
  }

  const double huber = problem.robust_threshold;
  Eigen::VectorXd residuals, scratch, x_new(n), step(n), gradient(n), hinge_residuals;
  RowMajorMatrix jacobian, hinge_jacobian;
  Eigen::MatrixXd hessian(n, n), damped(n, n);
  SolverSummary summary;
  double cost = evaluator.Cost(x.data(), &scratch);
  summary.initial_cost = cost;
  double lambda = 1e-4;
  double nu = 2.0;
  bool linearise = true;
  while (summary.iterations < settings.max_iterations && std::isfinite(cost)) {
    if (linearise) {
      // Gauss-Newton model with IRLS weights: exact gradient, Hessian from
      // the losses' first derivatives.
      evaluator.Evaluate(x.data(), &residuals, &jacobian);
      for (int k = 0; k < kNumLandmarks; ++k) {
        const double w = std::sqrt(HuberWeight(residuals.segment<2>(2 * k).squaredNorm(), huber));
        residuals.segment<2>(2 * k) *= w;
        jacobian.middleRows<2>(2 * k) *= w;
      }
      hessian.setZero();
      hessian.selfadjointView<Eigen::Lower>().rankUpdate(jacobian.transpose());
      hessian.triangularView<Eigen::StrictlyUpper>() = hessian.transpose();
      gradient.noalias() = jacobian.transpose() * residuals;
      if (evaluator.num_hinges() > 0) {
        evaluator.EvaluateHinges(x.data(), &hinge_residuals, &hinge_jacobian);
        hessian.noalias() += hinge_jacobian.transpose() * hinge_jacobian;
        gradient.noalias() += hinge_jacobian.transpose() * hinge_residuals;
      }
      for (int j = 0; j < kNumExpressionShapes; ++j) gradient[kExpressionBegin + j] += 0.5 * evaluator.l1()[j];
      if (problem.estimate_identity) {
        hessian.diagonal().tail<kNumIdentityShapes>().array() += problem.identity_prior_weight;
        gradient.tail<kNumIdentityShapes>() += problem.identity_prior_weight * x.tail<kNumIdentityShapes>();
      }
      if (problem.temporal != nullptr && problem.temporal->weight > 0) {
        const TemporalPrior& tp = *problem.temporal;
        for (int i = 0; i < kSolverStateSize; ++i) {
          const double inv = 1.0 / tp.scale[i];
          const double d = (x[i] - tp.predicted[i]) * inv;
          const double w = tp.weight / (1.0 + d * d);
          hessian(i, i) += w * inv * inv;
          gradient[i] += w * d * inv;
        }
      }
      double projected = 0.0;
      for (int i = 0; i < n; ++i) {
        const double gi = gradient[i];
        if ((x[i] <= lower[i] && gi > 0) || (x[i] >= upper[i] && gi < 0)) continue;
        projected = std::max(projected, std::abs(gi));
      }
      if (projected <= settings.gradient_tolerance) break;
      linearise = false;
    }
    ++summary.iterations;
    damped = hessian;
    for (int i = 0; i < n; ++i) damped(i, i) += lambda * std::clamp(hessian(i, i), 1e-6, 1e32);
    bool ok = SolveStep(damped, gradient, lower - x, upper - x, &step);
    double new_cost = kInfinity, predicted = 0.0;
    if (ok) {
      x_new = (x + step).cwiseMax(lower).cwiseMin(upper);
      step = x_new - x;
      new_cost = evaluator.Cost(x_new.data(), &scratch);
      predicted = -(gradient.dot(step) + 0.5 * step.dot(hessian * step));
    }
    const double actual = cost - new_cost;
    if (ok && std::isfinite(new_cost) && predicted > 0 && actual > 1e-3 * predicted) {
      const double rho = actual / predicted;
      const double previous = cost;
      x = x_new;
      cost = new_cost;
      lambda *= std::max(1.0 / 3.0, 1.0 - std::pow(2.0 * rho - 1.0, 3));
      lambda = std::max(lambda, 1e-12);
      nu = 2.0;
      linearise = true;
      if (actual <= settings.function_tolerance * previous) break;
      if (step.norm() <= settings.parameter_tolerance * (x.norm() + settings.parameter_tolerance)) break;
    } else {
      // The bounded model predicts no meaningful decrease: converged.
      if (ok && predicted <= settings.function_tolerance * cost) break;
      lambda *= nu;
      nu *= 2.0;
      if (lambda > 1e16) break;
    }
  }
  std::copy(x.data(), x.data() + kSolverStateSize, state->begin());
  if (problem.estimate_identity) std::copy(x.data() + kSolverStateSize, x.data() + n, identity->begin());
  summary.final_cost = cost;
  return summary;
}

SolverState ToSolverState(const FaceParams& params) {
  SolverState s{};
  for (int i = 0; i < 3; ++i) {
    s[i] = params.pose.rotation[i];
    s[3 + i] = params.pose.translation[i];
  }
  std::copy(params.expression.begin(), params.expression.end(), s.begin() + kSolverPoseSize);
  return s;
}

void FromSolverState(const SolverState& state, FaceParams* params) {
  for (int i = 0; i < 3; ++i) {
    params->pose.rotation[i] = state[i];
    params->pose.translation[i] = state[3 + i];
  }
  std::copy(state.begin() + kSolverPoseSize, state.end(), params->expression.begin());
}

}  // namespace faceanime::face3d::internal
