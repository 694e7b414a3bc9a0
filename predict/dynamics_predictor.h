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
//     Gaussians, its sigmas scaled per channel by sampling temperatures, its
//     draws correlated over time per channel, both calibrated on the GRID
//     training clips' spread and jerkiness) with a random stream from the seed, so
//     seeds give different motion; blinks are added by an explicit seeded
//     blink process (below);
//   * target-driven: Rollout() with a target: a natural path that reaches the
//     target dynamics at frame T (a timer input re-weights the target as t -> T);
//     the drawn noise shrinks linearly to 0 at T, and the network's own
//     residual at T is then spread over the free frames with a smoothstep
//     weight, so frame T equals the target; after T the expression is held
//     at the target's while the head pose continues as video prediction
//     (blinks are overlaid as in video prediction);
//   * online (OnlinePredictor): live smoothing, look-ahead to hide pipeline
//     latency, and bridging of short face losses.
//
// Blinks in video prediction: the network is trained on tracked GRID fits,
// and the tracker never resolves a GRID blink (eyeBlink <= 0.14 in every
// clip, while the eye pixels show 1-41 lid closures per minute depending on
// the threshold and the fits, see docs/benchmarks.md), so it has no blinks to learn; the 15 % procedural
// training windows alone gave 0.8 blinks/min. Video-prediction rollouts
// therefore overlay a blink process on the network's eyeBlink_L/R:
//   * onsets: a renewal process at `RolloutRequest::blink_rate_per_min`
//     (default 17/min: the spontaneous rate at rest of Bentivoglio et al.
//     1997, inside the 1-41/min measured from the held-out GRID clips' eye
//     pixels); intervals = a 0.8 s refractory period + an exponential
//     remainder (ProceduralMotion's inter-blink distribution), the first onset
//     drawn from the process's stationary forward recurrence time, so the
//     rate holds from the first free frame on;
//   * shape: ProceduralMotion's blink (BlinkClosure: closes in 100 ms, reopens
//     in 200 ms), depth 0.9-1 (right eye 0.95-1 of the left), applied as
//     max(network's weight, closure * depth);
//   * its own random stream from the seed (the network's draws are the same
//     with and without blinks; only eyeBlink_L/R change), so it is
//     deterministic given the seed;
//   * only on frames the network draws freely: never on given (observed)
//     frames, never on frames up to a target's T (the path reaches the target
//     exactly and is untouched), never with randomness 0 (the expected path,
//     used for forecasting), and never in OnlinePredictor (it follows the
//     tracked face). The network's own state is not fed the blinks (it has
//     never seen a closed lid in the tracked data).
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

// The ICT-FaceKit expression shapes the blink process drives (indices in the
// model's fixed shape order; DynamicsPredictorTest checks them against the
// model file).
inline constexpr int kEyeBlinkLeft = 10, kEyeBlinkRight = 11;
// The default blink rate of video prediction (see "Blinks in video
// prediction" above), blinks per minute.
inline constexpr double kDefaultBlinkRatePerMin = 17.0;

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
  // Mean blinks per minute of the blink process on freely drawn frames (see
  // "Blinks in video prediction" above), [0, 120]; 0: no blink process (the
  // network's eyeBlink weights only).
  double blink_rate_per_min = kDefaultBlinkRatePerMin;
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
