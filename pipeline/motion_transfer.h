// Maps a driver's face motion onto the source portrait's face.
//
// Relative mode (default): the driver's change from its reference frame (its
// first frame with a face, or a neutral frame set explicitly) is applied to
// the source's own pose and expression, so the source keeps its resting face
// even when the driver's resting face differs:
//   R_out = (R_drv * R_ref^T) * R_src                 (camera frame)
//   t_out = t_src + (t_drv - t_ref) * (z_src / z_ref)  (image-proportional)
//   e_out = clamp(e_src + gain * (e_drv - e_ref), 0, 1)
//   (by default re-projected on the landmark motion, see project_expression)
// Absolute mode: the driver's head rotation and expression are copied
// (e_out = clamp(gain * e_drv, 0, 1)); the source keeps its own position.
//
// Driver identity updates: a tracker may refine the driver's identity while
// it runs (FaceAnalyzer's tracking fit swaps its first-frame identity for a
// multi-frame mean after a few dozen frames). The fitted expression and pose
// then jump to compensate although the face did not move, and a reference
// fitted with the old identity no longer matches. So in relative mode, when
// a driver frame's identity differs from the previous driver frame's, the
// reference is re-expressed in the new identity: the expression weights (in [0, 1]) and
// rigid motion that best reproduce its 3D landmark shape (the 51 inner
// landmarks and the chin, model space, least squares). The change the output
// shows is then always measured within one identity. (An explicit reference
// of another identity, e.g. another photo's fit, is used as given.)
//
// Switches turn head pose, expression and eye gaze (the eyeLook* shapes)
// transfer on or off separately; what is off stays as in the source.
// When the driver shows no face, the last output is held for `hold_s`, then
// eases back to the source's rest state over `ease_s`. Timestamps are inputs.
#ifndef FACEANIME_PIPELINE_MOTION_TRANSFER_H_
#define FACEANIME_PIPELINE_MOTION_TRANSFER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "face3d/face_params.h"
#include "face3d/morphable_model.h"

namespace faceanime::pipeline {

enum class MotionMode { kRelative, kAbsolute };

struct MotionTransferOptions {
  MotionMode mode = MotionMode::kRelative;
  bool transfer_pose = true;
  bool transfer_expression = true;  // All shapes but gaze.
  bool transfer_gaze = true;        // eyeLook{Up,Down,In,Out}_{L,R}.
  double expression_gain = 1.0;     // >= 0; scales the driver's expression change.
  double hold_s = 0.5;              // >= 0; hold the last motion when the face is lost.
  double ease_s = 0.6;              // > 0; then ease back to rest over this long.
  // Relative mode: re-express the reference when the driver's identity
  // changes (see above; default true).
  bool rebase_on_identity_change = true;
  // Relative mode: transfer the expression change the landmarks show, not
  // the fitted weights' change as such (default true). A fit to 68
  // landmarks cannot tell apart the many combinations of the 53 shapes that
  // place them alike, and a tracker drifts between such combinations (on
  // GRID bbbm1s the closed-mouth frames' weights drift by up to 0.55 in
  // mouthStretch, mouthFrown, mouthPucker, mouthPress, nearly cancelling on
  // the landmarks but not on the rest of the lips). The change applied to
  // the source is the smallest one (Tikhonov-damped least squares, weights
  // kept in [0, 1] around the source's own) that moves the 3D landmark
  // vertices (inner landmarks and chin, model space) as the driver's change
  // does. Gaze (eyeLook*) moves no landmark and is transferred as fitted.
  bool project_expression = true;
};

class MotionTransfer {
 public:
  // Throws std::invalid_argument for invalid options.
  static MotionTransfer Create(const face3d::MorphableModel& model, const MotionTransferOptions& options);

  // The source portrait's fitted face (its rest state). Must be called before
  // Update; resets the driver reference and the no-face state.
  void SetSource(const face3d::FaceParams& source);

  // Relative mode's reference: by default the first driver frame with a face;
  // set a neutral driver frame explicitly here.
  void SetDriverReference(const face3d::FaceParams& reference);
  void ResetDriverReference();

  // One driver frame: its fitted face, or std::nullopt when it has none.
  // Returns the face state to render the source with.
  face3d::FaceParams Update(const std::optional<face3d::FaceParams>& driver, int64_t timestamp_ns);

  // Options may change between frames (e.g. GStreamer properties).
  void set_options(const MotionTransferOptions& options);
  const MotionTransferOptions& options() const { return options_; }

 private:
  face3d::FaceParams Transfer(const face3d::FaceParams& driver) const;
  // See MotionTransferOptions::project_expression.
  std::array<double, face3d::kNumExpressionShapes> ProjectExpressionChange(
      const std::array<double, face3d::kNumExpressionShapes>& change) const;
  // Re-expresses the reference in `identity` (see the file comment).
  void RebaseReference(const std::array<double, face3d::kNumIdentityShapes>& identity);

  // The model at the reference landmarks, for RebaseReference.
  struct LandmarkBasis;
  std::shared_ptr<const LandmarkBasis> basis_;

  MotionTransferOptions options_;
  std::vector<bool> is_gaze_;  // Per expression shape.
  std::optional<face3d::FaceParams> source_;
  std::optional<face3d::FaceParams> reference_;
  std::optional<face3d::FaceParams> last_output_;
  // The previous driver frame's identity, to notice the tracker refining it.
  std::optional<std::array<double, face3d::kNumIdentityShapes>> last_identity_;
  std::optional<int64_t> lost_since_ns_;
};

// Smooth interpolation between two face states (slerp for rotation, linear
// for translation and weights), t in [0, 1].
face3d::FaceParams Interpolate(const face3d::FaceParams& a, const face3d::FaceParams& b, double t);

}  // namespace faceanime::pipeline

#endif  // FACEANIME_PIPELINE_MOTION_TRANSFER_H_
