// Camera, head pose and 3DMM coefficients: the parameters every stage
// exchanges (fitting writes them; motion, rendering and prediction read them).
//
// Coordinate frames:
//   * Model space: ICT-FaceKit, centimetres, +X subject's left, +Y up, +Z out
//     of the face (see morphable_model.h).
//   * Camera space: OpenCV, centimetres, +X right, +Y down, +Z forward (away
//     from the camera, into the scene).
//   * Image space: OpenCV pixels, +x right, +y down; integer coordinates are
//     pixel centres (the top-left pixel's centre is (0, 0)).
//
// Model to camera: X_cam = R(rotation) * kModelToCamera * X_model + translation,
// where kModelToCamera = diag(1, -1, -1) (a 180° turn about X), so a zero
// rotation means a face looking straight into the camera, upright.
// Projection: x = fx * X_cam / Z_cam + cx, y = fy * Y_cam / Z_cam + cy.
#ifndef FACEANIME_FACE3D_FACE_PARAMS_H_
#define FACEANIME_FACE3D_FACE_PARAMS_H_

#include <array>
#include <optional>
#include <vector>

#include <Eigen/Core>
#include <Eigen/Geometry>

#include "face3d/morphable_model.h"

namespace faceanime::face3d {

// Pinhole camera with square pixels and no distortion. Image space pixels.
struct Camera {
  double focal = 0.0;  // Pixels.
  double cx = 0.0;     // Principal point, pixels.
  double cy = 0.0;
  int width = 0;
  int height = 0;

  // The documented default for an image of unknown lens: focal length =
  // max(width, height) (about 53° across the long side, between a webcam and
  // a portrait lens), principal point at the image centre.
  static Camera ForImage(int width, int height);

  // Pixel position of a camera-space point p (centimetres, in front of the
  // camera: p.z() > 0; the caller checks) in OpenCV image coordinates (x
  // right, y down, pixel centres at integers): focal * (x, y) / z + (cx, cy).
  Eigen::Vector2d Project(const Eigen::Vector3d& p) const {
    return {focal * p.x() / p.z() + cx, focal * p.y() / p.z() + cy};
  }
};

// Rigid head pose: model space -> camera space (see the file comment).
struct Pose {
  // Angle-axis rotation (radians, axis * angle), applied after kModelToCamera.
  Eigen::Vector3d rotation = Eigen::Vector3d::Zero();
  // Camera-space translation of the model origin, centimetres.
  Eigen::Vector3d translation = Eigen::Vector3d(0, 0, 60);

  Eigen::Matrix3d RotationMatrix() const;  // R (without kModelToCamera).
  // Full model->camera rotation: R * kModelToCamera.
  Eigen::Matrix3d ModelToCameraRotation() const;
};

// diag(1, -1, -1): model axes (Y up, Z towards the viewer) to camera axes.
const Eigen::Matrix3d& ModelToCamera();

// Head angles in degrees about the camera axes, R = Rz(roll) * Ry(yaw) * Rx(pitch):
//   yaw > 0:   the nose turns towards image left (-x; the subject's own right);
//   pitch > 0: the nose turns down (+y; looking down);
//   roll > 0:  the head tilts clockwise as seen in the image.
struct EulerAngles {
  double yaw = 0.0;
  double pitch = 0.0;
  double roll = 0.0;
};
EulerAngles ToEuler(const Pose& pose);
Eigen::Vector3d RotationFromEuler(const EulerAngles& angles);  // Angle-axis.

// A full face state: everything needed to place the model in an image.
struct FaceParams {
  Pose pose;
  std::array<double, kNumIdentityShapes> identity{};      // N(0, 1) units.
  std::array<double, kNumExpressionShapes> expression{};  // [0, 1].
};

// 68 image points (x, y), pixels, Multi-PIE order.
using Landmarks68 = std::array<Eigen::Vector2d, kNumLandmarks>;

// Mean of landmarks [begin, end) (e.g. 48-68: the mouth centre), pixels.
Eigen::Vector2d LandmarkMean(const Landmarks68& landmarks, int begin, int end);
// Distance between the two eye centres (means of landmarks 36-41 and
// 42-47), pixels: the scale fits and checks are normalised by.
double InterOcularDistance(const Landmarks68& landmarks);
// Mean inner-lip gap, pixels: the mean of the 61-67, 62-66 and 63-65
// distances (0 for closed lips).
double InnerLipGap(const Landmarks68& landmarks);

// Projects model-space points (rows) to image space with `camera` and `pose`.
// Points behind the camera (Z <= 0) project to NaN.
Eigen::Matrix<double, Eigen::Dynamic, 2> Project(const Vertices& model_points, const Pose& pose,
                                                 const Camera& camera);

}  // namespace faceanime::face3d

#endif  // FACEANIME_FACE3D_FACE_PARAMS_H_
