// The learned 3D dynamics predictor (FaceAnime's "3D Dynamic Prediction"): an
// LSTM over per-frame Dynamics (dynamics.h) trained on faces tracked in GRID
// clips plus procedural motion (procedural_motion.h).
//
//   auto p = DynamicsPredictor::Load({});               // committed weights
//   DynamicsSequence seq = p->Rollout({.start_expression = fit.expression,
//                                      .num_frames = 100, .seed = 7});
//
// Modes:
//   * video prediction: Rollout() without a target: T frames of plausible
//     motion from the first frame (optionally after a few observed frames);
//     each step is drawn from the model's output distribution (a mixture of
//     Gaussians, its sigmas scaled by the sampling temperatures calibrated on
//     the GRID training clips' spread) with a random stream from the seed, so
//     seeds give different motion;
//   * target-driven: Rollout() with a target: a natural path that reaches the
//     target dynamics at frame T (a timer input re-weights the target as t -> T);
//     the network's own residual at T is then spread over the free frames with
//     a smoothstep weight, so frame T equals the target; after T the rollout
//     continues as video prediction;
//   * online (OnlinePredictor): live smoothing, look-ahead to hide pipeline
//     latency, and bridging of short face losses.
//
// LibTorch stays in the .cc files (pimpl). Deterministic given the seed.
#ifndef FACEANIME_PREDICT_DYNAMICS_PREDICTOR_H_
#define FACEANIME_PREDICT_DYNAMICS_PREDICTOR_H_

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>

#include "face3d/face_params.h"
#include "face3d/morphable_model.h"
#include "predict/dynamics.h"

namespace faceanime::predict {

// The weights file is missing, corrupt, truncated or of another version; the
// message names the file and how to get a good one.
class PredictorModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The committed weights (assets/predictor/, see its README): first of
// $FACEANIME_PREDICTOR (a file), <data dir>/predictor/dynamics_lstm.pt when it
// exists (an install without the source tree), the source tree's
// assets/predictor/dynamics_lstm.pt (compiled in).
std::filesystem::path DefaultPredictorWeights();

struct PredictorOptions {
  std::filesystem::path weights;  // Empty: DefaultPredictorWeights().
  int num_threads = 1;            // LibTorch intra-op threads, >= 1.
};

// Target-driven prediction: reach `dynamics` at frame `frame`.
struct PredictionTarget {
  Dynamics dynamics;  // Pose relative to frame 0 (see dynamics.h); absolute expression.
  int frame = 50;     // T >= 1, < RolloutRequest::num_frames.
};

struct RolloutRequest {
  // Frame 0's expression: the source portrait's fitted weights. Frame 0's pose
  // is the rest pose (zero rotation/translation) by definition.
  std::array<double, face3d::kNumExpressionShapes> start_expression{};
  // Optional observed frames 0..k-1 (observed[0] is frame 0 and overrides
  // start_expression); the rollout continues after them.
  DynamicsSequence observed;
  int num_frames = 100;  // >= 1; the result has exactly this many frames.
  uint64_t seed = 1;     // Same seed and inputs, same sequence.
  std::optional<PredictionTarget> target;
  // Scales the drawn deviation from the model's mean step, [0, 2]: 1 = the
  // spread of the GRID training clips (the model's sampling temperature is
  // calibrated on them after training, see dynamics_lstm.h); 0 = the expected
  // (mean) path, for which the seed does not matter (used for forecasting and
  // evaluation).
  double randomness = 1.0;
};

class DynamicsPredictor {
 public:
  // Loads the weights once (eval mode). Throws PredictorModelError naming the
  // file; std::invalid_argument for bad options.
  static std::unique_ptr<DynamicsPredictor> Load(const PredictorOptions& options);
  ~DynamicsPredictor();

  // Frame rate the model was trained at (GRID: 25 fps).
  double fps() const;

  // Validates the request (std::invalid_argument naming the field), then rolls
  // out. Result[0] is frame 0 (the start state / observed[0]).
  DynamicsSequence Rollout(const RolloutRequest& request) const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit DynamicsPredictor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct OnlinePredictorOptions {
  int lookahead_frames = 2;  // Frames predicted ahead to hide latency, 0..5.
  int max_gap_frames = 10;   // Face losses up to this long are bridged, >= 0.
};

// One live stream: absolute face states in, smoothed / look-ahead / bridged
// face states out. Timestamps are inputs (nanoseconds, increasing); no clock
// is read.
class OnlinePredictor {
 public:
  // Throws std::invalid_argument naming a bad option.
  static std::unique_ptr<OnlinePredictor> Create(std::shared_ptr<const DynamicsPredictor> predictor,
                                                 const OnlinePredictorOptions& options);
  ~OnlinePredictor();

  // `observed`: this frame's tracked face, std::nullopt when it had none.
  // Returns the face state to render for this frame (smoothed, predicted
  // `lookahead_frames` ahead); during a loss of up to `max_gap_frames` frames,
  // a bridged state; std::nullopt before the first face and once a gap is
  // longer (the caller holds or eases back, as MotionTransfer does).
  std::optional<face3d::FaceParams> Update(int64_t timestamp_ns,
                                           const std::optional<face3d::FaceParams>& observed);

  // A new stream (scene cut, flush): forget all state.
  void Reset();

 private:
  struct Impl;
  explicit OnlinePredictor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace faceanime::predict

#endif  // FACEANIME_PREDICT_DYNAMICS_PREDICTOR_H_
