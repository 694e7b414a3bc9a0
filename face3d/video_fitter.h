// Tracking the morphable model through a video from per-frame landmarks.
//
// Identity is refined as frames arrive: on `identity_frames` frames,
// `identity_stride` apart, a single-image fit estimates it (~20 ms each, so no
// frame stalls), and their mean is then held (averaging the per-frame
// estimates removes most of their noise; the joint multi-frame fit,
// FaceFitter::FitFrames (Ceres), is better but costs ~1.8 s, so it runs
// offline: `faceanime fit --refine-identity` tracks, fits the identity jointly
// over keyframes, then re-tracks with HoldIdentity()). Each
// frame then fits only pose and expression, warm-started from a
// constant-velocity prediction, with a temporal term that damps jitter but
// lets genuine motion through (a redescending Cauchy loss on the deviation
// from the prediction: small deviations cost quadratically, a step change of
// many jitter scales costs almost nothing and is followed in the same frame).
//
// Units and frames as in face_fitter.h / face_params.h. Timestamps are
// inputs (nanoseconds, any origin, increasing); no clock is read.
#ifndef FACEANIME_FACE3D_VIDEO_FITTER_H_
#define FACEANIME_FACE3D_VIDEO_FITTER_H_

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "face3d/face_fitter.h"
#include "face3d/face_params.h"
#include "face3d/morphable_model.h"

namespace faceanime::face3d {

struct VideoFitOptions {
  // Per-frame fitting (noise model, robust loss, priors). Its max_iterations
  // applies to fresh fits and the identity fit.
  FitOptions fit;
  // Frames whose single-image identity estimates are averaged (>= 1), and the
  // spacing between them in tracked frames (>= 1). Until the mean is locked,
  // identity comes from the first frame's single-image fit.
  int identity_frames = 8;
  int identity_stride = 3;
  // Temporal term: jitter scales of the Cauchy loss per state entry (> 0):
  // deviations from the constant-velocity prediction well below these are
  // smoothed, deviations well above them are treated as real motion.
  // (expression_jitter is below the per-frame expression noise that 1 px
  // landmark noise causes, about 0.07: the fully converged per-frame solve
  // smooths that noise about 3x with 0.03, 2.7x with 0.05.)
  double rotation_jitter_deg = 0.5;
  double translation_jitter_cm = 0.2;
  double expression_jitter = 0.03;
  // Multiplies the whole temporal cost (>= 0; 0 = independent frames but
  // still warm-started).
  double temporal_weight = 1.0;
  // Levenberg-Marquardt iterations per solve round of a tracked frame (>= 1;
  // up to two rounds when the contour vertices change). Default 5: warm-
  // started from the previous frame, 5 give the same tracking quality as 8
  // (jitter ratio 3.9 vs 3.8 in VideoFitterTest, no step lag; GRID `eval self
  // --clips 10` mouth SSIM 0.8504 vs 0.850, AKD 0.41 px, AED 0.0385 vs 0.039)
  // at ~1.4 ms instead of ~2.1 ms per frame (docs/benchmarks.md).
  int track_iterations = 5;
  // A tracked frame with confidence below this is re-fitted from scratch
  // (PnP initialisation, no temporal term) and the motion history dropped
  // (face loss / scene cut / tracking failure). In [0, 1].
  double min_confidence = 0.3;
  // A gap between timestamps longer than this drops the motion history (the
  // face was lost); identity is kept. Nanoseconds, > 0.
  int64_t max_gap_ns = 500'000'000;
};

class VideoFitter {
 public:
  // Throws std::invalid_argument for invalid options.
  static VideoFitter Create(const MorphableModel& model, const VideoFitOptions& options = {});

  // Fits one frame's landmarks (pixels, Multi-PIE order) taken at
  // `timestamp_ns`. `weights` as in FitRequest. A timestamp not after the
  // previous one, or further than max_gap_ns from it, restarts the motion
  // history (identity kept).
  FitResult Track(const Landmarks68& landmarks, const Camera& camera, int64_t timestamp_ns,
                  const std::optional<std::array<double, kNumLandmarks>>& weights = std::nullopt);

  // Forgets everything, identity included (new subject / scene cut).
  void Reset();

  // Holds `identity` from now on (e.g. one refined offline by
  // FaceFitter::FitFrames): identity_locked() becomes true and no frame
  // estimates it any more, until Reset(). The motion history restarts.
  void HoldIdentity(const std::array<double, kNumIdentityShapes>& identity);

  // True once the multi-frame identity estimate is held fixed.
  bool identity_locked() const { return identity_locked_; }
  // The current identity estimate (zeros before the first frame).
  const std::array<double, kNumIdentityShapes>& identity() const { return identity_; }
  // Frames tracked since the last Reset().
  int frames_tracked() const { return frames_tracked_; }
  const FaceFitter& fitter() const { return fitter_; }

 private:
  struct HistoryEntry {
    std::array<double, 6 + kNumExpressionShapes> state;  // Pose (rotation, translation), expression.
    int64_t timestamp_ns;
  };

  VideoFitter(FaceFitter fitter, const VideoFitOptions& options);
  FitResult TrackFrame(const Landmarks68& landmarks, const Camera& camera, int64_t timestamp_ns,
                       const std::optional<std::array<double, kNumLandmarks>>& weights) const;
  FitResult FreshFit(const Landmarks68& landmarks, const Camera& camera,
                     const std::optional<std::array<double, kNumLandmarks>>& weights);
  void Remember(const FaceParams& params, int64_t timestamp_ns);

  FaceFitter fitter_;
  VideoFitOptions options_;
  std::array<double, kNumIdentityShapes> identity_{};
  bool has_identity_ = false;
  bool identity_locked_ = false;
  std::array<double, kNumIdentityShapes> identity_sum_{};  // Of the pooled estimates.
  int identity_count_ = 0;
  std::vector<HistoryEntry> history_;  // Last two tracked frames, oldest first.
  int frames_tracked_ = 0;
};

}  // namespace faceanime::face3d

#endif  // FACEANIME_FACE3D_VIDEO_FITTER_H_
