// Per-frame 3D facial dynamics: what motion models produce and consume.
#ifndef FACEANIME_PREDICT_DYNAMICS_H_
#define FACEANIME_PREDICT_DYNAMICS_H_

#include <array>
#include <vector>

#include <Eigen/Core>

#include "face3d/face_params.h"
#include "face3d/morphable_model.h"

namespace faceanime::predict {

// Head motion and expression of one frame.
//   rotation:    angle-axis (radians) of the head's rotation relative to the
//                sequence's first frame, in the camera frame (face_params.h):
//                R_t = Rodrigues(rotation) * R_0.
//   translation: camera-frame offset from the first frame's translation, cm.
//   expression:  the 53 ICT expression weights (absolute, [0, 1]).
struct Dynamics {
  Eigen::Vector3d rotation = Eigen::Vector3d::Zero();
  Eigen::Vector3d translation = Eigen::Vector3d::Zero();
  std::array<double, face3d::kNumExpressionShapes> expression{};
};

using DynamicsSequence = std::vector<Dynamics>;

// Applies `d` to a base face state: pose composed with the base pose (see
// Dynamics), expression replaced by d.expression, identity kept.
face3d::FaceParams ApplyDynamics(const face3d::FaceParams& base, const Dynamics& d);

}  // namespace faceanime::predict

#endif  // FACEANIME_PREDICT_DYNAMICS_H_
