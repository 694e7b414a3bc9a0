#include "pipeline/motion_transfer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

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

MotionTransfer MotionTransfer::Create(const face3d::MorphableModel& model, const MotionTransferOptions& options) {
  Validate(options);
  MotionTransfer m;
  m.options_ = options;
  m.is_gaze_.assign(face3d::kNumExpressionShapes, false);
  for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
    m.is_gaze_[j] = model.expression_names()[j].rfind("eyeLook", 0) == 0;
  }
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
  lost_since_ns_.reset();
}

void MotionTransfer::SetDriverReference(const FaceParams& reference) { reference_ = reference; }

void MotionTransfer::ResetDriverReference() { reference_.reset(); }

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
  for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
    const bool on = is_gaze_[j] ? options_.transfer_gaze : options_.transfer_expression;
    if (!on) continue;
    const double value = relative ? src.expression[j] + options_.expression_gain * (driver.expression[j] - ref.expression[j])
                                  : options_.expression_gain * driver.expression[j];
    out.expression[j] = std::clamp(value, 0.0, 1.0);
  }
  return out;
}

FaceParams MotionTransfer::Update(const std::optional<FaceParams>& driver, int64_t timestamp_ns) {
  if (!source_) throw std::logic_error("MotionTransfer::Update called before SetSource");
  if (driver) {
    if (!reference_) reference_ = *driver;
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
