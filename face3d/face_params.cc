#include "face3d/face_params.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace faceanime::face3d {
namespace {

constexpr double kDeg = M_PI / 180.0;

Eigen::Matrix3d AngleAxisMatrix(const Eigen::Vector3d& w) {
  const double angle = w.norm();
  if (angle < 1e-12) return Eigen::Matrix3d::Identity();
  return Eigen::AngleAxisd(angle, w / angle).toRotationMatrix();
}

}  // namespace

Camera Camera::ForImage(int width, int height) {
  Camera c;
  c.width = width;
  c.height = height;
  c.focal = static_cast<double>(std::max(width, height));
  c.cx = (width - 1) * 0.5;
  c.cy = (height - 1) * 0.5;
  return c;
}

const Eigen::Matrix3d& ModelToCamera() {
  static const Eigen::Matrix3d m = Eigen::Vector3d(1, -1, -1).asDiagonal();
  return m;
}

Eigen::Matrix3d Pose::RotationMatrix() const { return AngleAxisMatrix(rotation); }

Eigen::Matrix3d Pose::ModelToCameraRotation() const { return RotationMatrix() * ModelToCamera(); }

EulerAngles ToEuler(const Pose& pose) {
  // R = Rz(roll) Ry(yaw) Rx(pitch): R(2,0) = -sin(yaw).
  const Eigen::Matrix3d r = pose.RotationMatrix();
  EulerAngles e;
  e.yaw = std::asin(std::clamp(-r(2, 0), -1.0, 1.0)) / kDeg;
  e.pitch = std::atan2(r(2, 1), r(2, 2)) / kDeg;
  e.roll = std::atan2(r(1, 0), r(0, 0)) / kDeg;
  return e;
}

Eigen::Vector3d RotationFromEuler(const EulerAngles& angles) {
  const Eigen::Matrix3d r = (Eigen::AngleAxisd(angles.roll * kDeg, Eigen::Vector3d::UnitZ()) *
                             Eigen::AngleAxisd(angles.yaw * kDeg, Eigen::Vector3d::UnitY()) *
                             Eigen::AngleAxisd(angles.pitch * kDeg, Eigen::Vector3d::UnitX()))
                                .toRotationMatrix();
  const Eigen::AngleAxisd aa(r);
  return aa.axis() * aa.angle();
}

Eigen::Matrix<double, Eigen::Dynamic, 2> Project(const Vertices& model_points, const Pose& pose,
                                                 const Camera& camera) {
  const Eigen::Matrix3d r = pose.ModelToCameraRotation();
  Eigen::Matrix<double, Eigen::Dynamic, 2> out(model_points.rows(), 2);
  for (Eigen::Index i = 0; i < model_points.rows(); ++i) {
    const Eigen::Vector3d p = r * model_points.row(i).transpose().cast<double>() + pose.translation;
    if (p.z() <= 0) {
      out.row(i).setConstant(std::numeric_limits<double>::quiet_NaN());
      continue;
    }
    out.row(i) = camera.Project(p).transpose();
  }
  return out;
}

Eigen::Vector2d LandmarkMean(const Landmarks68& landmarks, int begin, int end) {
  Eigen::Vector2d sum = Eigen::Vector2d::Zero();
  for (int i = begin; i < end; ++i) sum += landmarks[i];
  return sum / (end - begin);
}

double InterOcularDistance(const Landmarks68& landmarks) {
  Eigen::Vector2d right = Eigen::Vector2d::Zero(), left = Eigen::Vector2d::Zero();
  for (int k = 36; k < 42; ++k) right += landmarks[k] / 6.0;
  for (int k = 42; k < 48; ++k) left += landmarks[k] / 6.0;
  return (left - right).norm();
}

double InnerLipGap(const Landmarks68& landmarks) {
  return ((landmarks[61] - landmarks[67]).norm() + (landmarks[62] - landmarks[66]).norm() +
          (landmarks[63] - landmarks[65]).norm()) /
         3.0;
}

}  // namespace faceanime::face3d
