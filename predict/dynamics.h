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

// An expression weight is "still" from one frame to the next when the next
// weight is within this of constant velocity's (clamped to [0, 1]): the
// label of the predictor's still gate (dynamics_lstm.h) and the split of the
// next-frame expression error in predictor_evaluation.h.
inline constexpr double kStillTolerance = 1e-4;

// How ApplyDynamics combines expressions.
enum class ExpressionBlend {
  kReplace,  // The result's expression is d.expression.
  kAdd,      // clamp(base + d.expression, 0, 1): motion on top of the base's
             // own resting face (a smiling portrait keeps smiling).
};

// Applies `d` to a base face state: pose composed with the base pose (see
// Dynamics), expression per `blend`, identity kept.
face3d::FaceParams ApplyDynamics(const face3d::FaceParams& base, const Dynamics& d,
                                 ExpressionBlend blend = ExpressionBlend::kReplace);

// The inverse of ApplyDynamics(anchor, d, kReplace) for rotation, translation
// and expression: `face` relative to `anchor` (R_face = Rodrigues(rotation) *
// R_anchor, translation = t_face - t_anchor, expression = face's).
Dynamics RelativeDynamics(const face3d::FaceParams& face, const face3d::FaceParams& anchor);

}  // namespace faceanime::predict

#endif  // FACEANIME_PREDICT_DYNAMICS_H_
