#include "pipeline/motion_transfer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include <Eigen/Geometry>

namespace faceanime::pipeline {
namespace {

using face3d::FaceParams;

Eigen::Quaterniond ToQuaternion(const Eigen::Vector3d& angle_axis) {
  const double angle = angle_axis.norm();
  if (angle < 1e-12) return Eigen::Quaterniond::Identity();
  return Eigen::Quaterniond(Eigen::AngleAxisd(angle, angle_axis / angle));
}

Eigen::Vector3d ToAngleAxis(const Eigen::Quaterniond& q) {
  const Eigen::AngleAxisd aa(q.normalized());
  return aa.axis() * aa.angle();
}

void Validate(const MotionTransferOptions& o) {
  if (!(o.expression_gain >= 0)) throw std::invalid_argument("MotionTransferOptions: expression_gain must be >= 0");
  if (!(o.hold_s >= 0)) throw std::invalid_argument("MotionTransferOptions: hold_s must be >= 0");
  if (!(o.ease_s > 0)) throw std::invalid_argument("MotionTransferOptions: ease_s must be > 0");
}

// ProjectExpressionChange: Tikhonov weight relative to the mean squared
// landmark motion of a unit shape of the same face region, and projected
// Gauss-Seidel sweeps. On the first 10 GRID s1 clips (faceanime eval self),
// with the weight relative to all shapes' mean, mouth SSIM was 0.8472 without
// the projection, 0.8403 / 0.8437 / 0.8512 with 1e-3 / 1e-2 / 1e-1; per
// region, the eyelid shapes (small landmark motion) are no longer cut.
constexpr double kProjectionDamping = 1e-1;
constexpr int kProjectionSweeps = 200;

double SmoothStep(double x) {
  x = std::clamp(x, 0.0, 1.0);
  return x * x * (3.0 - 2.0 * x);
}

}  // namespace

FaceParams Interpolate(const FaceParams& a, const FaceParams& b, double t) {
  FaceParams out = a;
  out.pose.rotation = ToAngleAxis(ToQuaternion(a.pose.rotation).slerp(t, ToQuaternion(b.pose.rotation)));
  out.pose.translation = (1 - t) * a.pose.translation + t * b.pose.translation;
  for (size_t i = 0; i < out.identity.size(); ++i) out.identity[i] = (1 - t) * a.identity[i] + t * b.identity[i];
  for (size_t j = 0; j < out.expression.size(); ++j) {
    out.expression[j] = (1 - t) * a.expression[j] + t * b.expression[j];
  }
  return out;
}

// Rows 3k..3k+2: x, y, z of landmark vertex k (model space, cm).
struct MotionTransfer::LandmarkBasis {
  Eigen::VectorXd neutral;
  Eigen::MatrixXd identity;    // 3K x kNumIdentityShapes.
  Eigen::MatrixXd expression;  // 3K x kNumExpressionShapes.
  // expression^T expression, with the gaze shapes' rows and columns zeroed
  // (they move no landmark; transferred as fitted).
  Eigen::MatrixXd normal;
  Eigen::VectorXd damping;  // Per-shape Tikhonov weight of ProjectExpressionChange.
};

MotionTransfer MotionTransfer::Create(const face3d::MorphableModel& model, const MotionTransferOptions& options) {
  Validate(options);
  MotionTransfer m;
  m.options_ = options;
  m.is_gaze_.assign(face3d::kNumExpressionShapes, false);
  for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
    m.is_gaze_[j] = model.expression_names()[j].rfind("eyeLook", 0) == 0;
  }
  // The fixed landmark vertices: inner landmarks 17-67 and the chin (8); the
  // jaw contour slides with the silhouette.
  std::vector<int> vertices = {model.landmark_vertices()[8]};
  for (int l = 17; l < face3d::kNumLandmarks; ++l) vertices.push_back(model.landmark_vertices()[l]);
  auto basis = std::make_shared<LandmarkBasis>();
  const int rows = 3 * static_cast<int>(vertices.size());
  basis->neutral.resize(rows);
  basis->identity.resize(rows, face3d::kNumIdentityShapes);
  basis->expression.resize(rows, face3d::kNumExpressionShapes);
  for (size_t k = 0; k < vertices.size(); ++k) {
    for (int c = 0; c < 3; ++c) {
      const size_t offset = 3 * static_cast<size_t>(vertices[k]) + c;
      const int row = 3 * static_cast<int>(k) + c;
      basis->neutral(row) = model.neutral()[offset];
      for (int i = 0; i < face3d::kNumIdentityShapes; ++i) basis->identity(row, i) = model.identity_delta(i)[offset];
      for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
        basis->expression(row, j) = model.expression_delta(j)[offset];
      }
    }
  }
  basis->normal = basis->expression.transpose() * basis->expression;
  for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
    if (m.is_gaze_[j]) {
      basis->normal.row(j).setZero();
      basis->normal.col(j).setZero();
    }
  }
  // Each shape's damping: kProjectionDamping times the mean squared landmark
  // motion of the shapes of its region (eyelids, brows, the rest: jaw,
  // mouth, cheeks, nose), so a region's well-seen shapes pass nearly whole.
  auto region = [&](int j) {
    const std::string& n = model.expression_names()[j];
    if (n.rfind("eyeBlink", 0) == 0 || n.rfind("eyeSquint", 0) == 0 || n.rfind("eyeWide", 0) == 0) return 0;
    if (n.rfind("brow", 0) == 0) return 1;
    return 2;
  };
  std::array<double, 3> sum{}, count{};
  for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
    if (m.is_gaze_[j]) continue;
    sum[region(j)] += basis->normal(j, j);
    count[region(j)] += 1;
  }
  basis->damping = Eigen::VectorXd::Zero(face3d::kNumExpressionShapes);
  for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
    if (!m.is_gaze_[j]) basis->damping(j) = kProjectionDamping * sum[region(j)] / count[region(j)];
  }
  m.basis_ = std::move(basis);
  return m;
}

void MotionTransfer::set_options(const MotionTransferOptions& options) {
  Validate(options);
  options_ = options;
}

void MotionTransfer::SetSource(const FaceParams& source) {
  source_ = source;
  reference_.reset();
  last_output_.reset();
  last_identity_.reset();
  lost_since_ns_.reset();
}

void MotionTransfer::SetDriverReference(const FaceParams& reference) { reference_ = reference; }

void MotionTransfer::ResetDriverReference() {
  reference_.reset();
  last_identity_.reset();
}

void MotionTransfer::RebaseReference(const std::array<double, face3d::kNumIdentityShapes>& identity) {
  FaceParams& ref = *reference_;
  const LandmarkBasis& lb = *basis_;
  const int rows = static_cast<int>(lb.neutral.size());
  constexpr int kE = face3d::kNumExpressionShapes;
  const Eigen::Map<const Eigen::VectorXd> e_ref(ref.expression.data(), kE);
  const Eigen::Map<const Eigen::VectorXd> a_old(ref.identity.data(), face3d::kNumIdentityShapes);
  const Eigen::Map<const Eigen::VectorXd> a_new(identity.data(), face3d::kNumIdentityShapes);
  // The reference shape in the new identity, linearised: find the expression
  // change d (box-constrained) and a small similarity (w, tau, sigma) with
  //   (1 + sigma) (p0 + w x p0) + tau + E d = old,   p0 = N + I a_new + E e_ref.
  // The scale matters: a tracker that swaps in a larger (smaller) identity
  // moves the head away from (towards) the camera to keep its image size, so
  // a reference re-expressed with a rigid motion alone keeps the old depth,
  // and the output then shrinks (grows) although the driver did not move
  // (GRID srbb6p: +1.5 cm at 54 cm, the output 2.7 % smaller from frame 21).
  const Eigen::VectorXd p0 = lb.neutral + lb.identity * a_new + lb.expression * e_ref;
  const Eigen::VectorXd target = lb.identity * (a_old - a_new);  // old - p0.
  constexpr int kRigid = 7;  // w (3), tau (3), sigma.
  Eigen::MatrixXd a(rows, kE + kRigid);
  a.leftCols(kE) = lb.expression;
  a.rightCols(kRigid).setZero();
  for (int k = 0; 3 * k < rows; ++k) {
    const Eigen::Vector3d p = p0.segment<3>(3 * k);
    // w x p = -[p]x w.
    a.block<3, 3>(3 * k, kE) << 0, p.z(), -p.y(), -p.z(), 0, p.x(), p.y(), -p.x(), 0;
    a.block<3, 3>(3 * k, kE + 3).setIdentity();
    a.block<3, 1>(3 * k, kE + 6) = p;
  }
  Eigen::MatrixXd m = a.transpose() * a;
  // A weak pull towards no change keeps the weights the landmarks do not
  // determine where they were.
  constexpr double kDamping = 1e-3;
  m.diagonal().head(kE).array() += kDamping * m.diagonal().head(kE).mean();
  const Eigen::VectorXd g = a.transpose() * target;
  // Projected Gauss-Seidel: weights stay in [0, 1], the similarity is free.
  Eigen::VectorXd x = Eigen::VectorXd::Zero(kE + kRigid);
  for (int sweep = 0; sweep < 300; ++sweep) {
    for (int i = 0; i < kE + kRigid; ++i) {
      if (m(i, i) <= 0) continue;
      double xi = x(i) + (g(i) - m.row(i).dot(x)) / m(i, i);
      if (i < kE) xi = std::clamp(xi, -e_ref(i), 1.0 - e_ref(i));
      x(i) = xi;
    }
  }
  for (int j = 0; j < kE; ++j) ref.expression[j] = std::clamp(ref.expression[j] + x(j), 0.0, 1.0);
  // old ~ s Q new + tau in model space, so the camera point R F old + t is
  // s (R F Q new + (t + R F tau) / s), which projects as the new shape seen
  // with R' = R F Q F and t' = (t + R F tau) / s (F = ModelToCamera(), its
  // own inverse; a perspective camera does not see a common scale).
  const Eigen::Vector3d w = x.segment<3>(kE);
  const Eigen::Vector3d tau = x.segment<3>(kE + 3);
  const double scale = 1.0 + x(kE + 6);
  const Eigen::Matrix3d q = w.norm() > 1e-12 ? Eigen::AngleAxisd(w.norm(), w.normalized()).toRotationMatrix()
                                             : Eigen::Matrix3d::Identity();
  const Eigen::Matrix3d& f = face3d::ModelToCamera();
  const Eigen::Matrix3d r = ref.pose.RotationMatrix();
  ref.pose.translation = (ref.pose.translation + r * f * tau) / scale;
  ref.pose.rotation = ToAngleAxis(Eigen::Quaterniond(r * f * q * f));
  ref.identity = identity;
}

FaceParams MotionTransfer::Transfer(const FaceParams& driver) const {
  const FaceParams& src = *source_;
  const FaceParams& ref = *reference_;
  FaceParams out = src;
  const bool relative = options_.mode == MotionMode::kRelative;
  if (options_.transfer_pose) {
    if (relative) {
      const Eigen::Quaterniond delta = ToQuaternion(driver.pose.rotation) * ToQuaternion(ref.pose.rotation).conjugate();
      out.pose.rotation = ToAngleAxis(delta * ToQuaternion(src.pose.rotation));
      const double scale = ref.pose.translation.z() > 1e-6 ? src.pose.translation.z() / ref.pose.translation.z() : 1.0;
      out.pose.translation = src.pose.translation + (driver.pose.translation - ref.pose.translation) * scale;
    } else {
      out.pose.rotation = driver.pose.rotation;
    }
  }
  std::array<double, face3d::kNumExpressionShapes> change{};
  if (relative) {
    for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
      change[j] = options_.expression_gain * (driver.expression[j] - ref.expression[j]);
    }
    if (options_.project_expression && options_.transfer_expression) change = ProjectExpressionChange(change);
  }
  for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
    const bool on = is_gaze_[j] ? options_.transfer_gaze : options_.transfer_expression;
    if (!on) continue;
    const double value = relative ? src.expression[j] + change[j] : options_.expression_gain * driver.expression[j];
    out.expression[j] = std::clamp(value, 0.0, 1.0);
  }
  return out;
}

std::array<double, face3d::kNumExpressionShapes> MotionTransfer::ProjectExpressionChange(
    const std::array<double, face3d::kNumExpressionShapes>& change) const {
  constexpr int kE = face3d::kNumExpressionShapes;
  const LandmarkBasis& lb = *basis_;
  const FaceParams& src = *source_;
  Eigen::VectorXd d(kE);
  for (int j = 0; j < kE; ++j) d(j) = is_gaze_[j] ? 0.0 : change[j];
  // Landmark motion of the driver's change, in normal-equation form.
  const Eigen::VectorXd g = lb.normal * d;
  // min |E x - E d|^2 + sum_j damping_j x_j^2 with src + x in [0, 1], from x = 0:
  // the smallest change that moves the source's landmarks as the driver's.
  Eigen::VectorXd x = Eigen::VectorXd::Zero(kE);
  for (int sweep = 0; sweep < kProjectionSweeps; ++sweep) {
    for (int i = 0; i < kE; ++i) {
      const double mii = lb.normal(i, i) + lb.damping(i);
      if (is_gaze_[i] || lb.normal(i, i) <= 0.0) continue;
      const double xi = x(i) + (g(i) - lb.normal.row(i).dot(x) - lb.damping(i) * x(i)) / mii;
      x(i) = std::clamp(xi, -src.expression[i], 1.0 - src.expression[i]);
    }
  }
  std::array<double, kE> out = change;  // Gaze: as fitted.
  for (int j = 0; j < kE; ++j) {
    if (!is_gaze_[j]) out[j] = x(j);
  }
  return out;
}

FaceParams MotionTransfer::Update(const std::optional<FaceParams>& driver, int64_t timestamp_ns) {
  if (!source_) throw std::logic_error("MotionTransfer::Update called before SetSource");
  if (driver) {
    if (!reference_) {
      reference_ = *driver;
    } else if (options_.rebase_on_identity_change && options_.mode == MotionMode::kRelative && last_identity_ &&
               *last_identity_ != driver->identity) {
      RebaseReference(driver->identity);
    }
    last_identity_ = driver->identity;
    lost_since_ns_.reset();
    last_output_ = Transfer(*driver);
    return *last_output_;
  }
  // No face: hold, then ease back to rest.
  if (!last_output_) return *source_;
  if (!lost_since_ns_) lost_since_ns_ = timestamp_ns;
  const double lost_s = static_cast<double>(timestamp_ns - *lost_since_ns_) * 1e-9;
  if (lost_s <= options_.hold_s) return *last_output_;
  const double t = SmoothStep((lost_s - options_.hold_s) / options_.ease_s);
  return Interpolate(*last_output_, *source_, t);
}

}  // namespace faceanime::pipeline
