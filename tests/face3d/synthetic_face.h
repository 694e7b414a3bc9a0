// Synthetic ground truth for the fitting tests and benchmarks: faces drawn
// from the model itself and their 68 landmarks (with per-pose silhouette
// selection of the jaw contour, LandmarkModel::Project).
#ifndef FACEANIME_TESTS_FACE3D_SYNTHETIC_FACE_H_
#define FACEANIME_TESTS_FACE3D_SYNTHETIC_FACE_H_

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "face3d/face_fitter.h"
#include "face3d/face_params.h"
#include "face3d/morphable_model.h"

namespace faceanime::testing {

// Expression shapes that move the 68 landmarks clearly; the acceptance
// criteria measure expression error over these.
inline std::vector<int> LandmarkMovingExpressions(const face3d::MorphableModel& model) {
  static const char* const kNames[] = {"jawOpen",       "mouthSmile_L",  "mouthSmile_R",   "eyeBlink_L",
                                       "eyeBlink_R",    "browInnerUp_L", "browInnerUp_R",  "mouthFunnel",
                                       "mouthPucker",   "browOuterUp_L", "browOuterUp_R"};
  std::vector<int> out;
  for (const char* name : kNames) out.push_back(model.ExpressionIndex(name));
  return out;
}

// 512x512 image, default focal (512 px).
inline face3d::Camera SyntheticCamera() { return face3d::Camera::ForImage(512, 512); }

// Random identity N(0, 1); `num_active` of the landmark-moving expressions
// active in [0, 0.8]; yaw within +-40 deg, pitch +-20, roll +-15; about 30 cm
// from the camera (face ~256 px wide in 512x512).
inline face3d::FaceParams RandomFace(const face3d::MorphableModel& model, std::mt19937& rng, int num_active = 4) {
  face3d::FaceParams p;
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  auto uniform = [&](double lo, double hi) { return lo + (hi - lo) * unit(rng); };
  for (double& w : p.identity) w = normal(rng);
  std::vector<int> moving = LandmarkMovingExpressions(model);
  std::shuffle(moving.begin(), moving.end(), rng);
  for (int i = 0; i < num_active && i < static_cast<int>(moving.size()); ++i) p.expression[moving[i]] = uniform(0, 0.8);
  p.pose.rotation = face3d::RotationFromEuler({uniform(-40, 40), uniform(-20, 20), uniform(-15, 15)});
  p.pose.translation = Eigen::Vector3d(uniform(-2, 2), uniform(-2, 2), uniform(28, 32));
  return p;
}

// Adds N(0, sigma^2) pixel noise to each coordinate.
inline face3d::Landmarks68 AddNoise(face3d::Landmarks68 landmarks, double sigma, std::mt19937& rng) {
  std::normal_distribution<double> noise(0.0, sigma);
  for (auto& l : landmarks) l += Eigen::Vector2d(noise(rng), noise(rng));
  return landmarks;
}

// Angle (degrees) between two rotations.
inline double RotationErrorDeg(const face3d::Pose& a, const face3d::Pose& b) {
  const Eigen::AngleAxisd d(a.RotationMatrix().transpose() * b.RotationMatrix());
  return std::abs(d.angle()) * 180.0 / M_PI;
}

// Mean absolute error over the given expression shapes.
inline double ExpressionMae(const face3d::FaceParams& a, const face3d::FaceParams& b, const std::vector<int>& shapes) {
  double sum = 0.0;
  for (int j : shapes) sum += std::abs(a.expression[j] - b.expression[j]);
  return sum / static_cast<double>(shapes.size());
}

}  // namespace faceanime::testing

#endif  // FACEANIME_TESTS_FACE3D_SYNTHETIC_FACE_H_
