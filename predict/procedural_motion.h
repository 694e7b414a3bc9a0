// A procedural generator of natural-looking facial motion: blinks with human
// timing, gaze saccades, expression events (smile, surprise, frown, ...) with
// onset / apex / offset phases, speech-like jaw and lip motion, and slow head
// sway. Used as the README demo's driver and as training data for the motion
// predictor (coverage beyond the GRID clips). Deterministic given the seed;
// reads no clock (time is frame_index / fps).
//
// Timing references used for the defaults:
//   * spontaneous blink rate ~17/min at rest, fewer when talking (Bentivoglio
//     et al. 1997); a blink closes in ~100 ms and reopens in ~200 ms;
//   * fixations of 0.3-2 s between saccades of ~30-60 ms;
//   * expression onsets 0.2-0.6 s, apexes 0.5-2 s, offsets 0.3-0.8 s (Ekman &
//     Friesen's onset/apex/offset description of spontaneous expressions);
//   * syllable rate of speech ~4-5 Hz.
#ifndef FACEANIME_PREDICT_PROCEDURAL_MOTION_H_
#define FACEANIME_PREDICT_PROCEDURAL_MOTION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "face3d/morphable_model.h"
#include "predict/dynamics.h"

namespace faceanime::predict {

// The lid closure of one blink `u` seconds after its onset, in [0, 1]: closes
// over `close_s` (smoothstep), stays shut for kBlinkHoldS, reopens over
// `open_s` (smoothstep); 0 before the onset and once reopened. The shape of
// ProceduralMotion's blinks and of the predictor's video-prediction blinks
// (dynamics_predictor.h).
inline constexpr double kBlinkHoldS = 0.03;
double BlinkClosure(double u, double close_s, double open_s);

// One kind of expression event: ICT shapes and their apex weights.
struct ExpressionEventKind {
  std::string name;                                   // "smile", ...
  std::vector<std::pair<std::string, double>> shapes;  // ICT shape -> apex weight.
};

// The built-in expression events (smile with cheek raise, surprise, frown,
// sad, pucker); each shape name is an ICT expression shape.
std::vector<ExpressionEventKind> DefaultExpressionEvents();

struct ProceduralMotionOptions {
  double fps = 25.0;                     // Frames per second, > 0.
  uint64_t seed = 1;                     // Same seed, same sequence.
  double blink_rate_per_min = 17.0;      // Mean spontaneous blinks per minute, >= 0.
  double blink_close_s = 0.1;            // Closing time, > 0.
  double blink_open_s = 0.2;             // Reopening time, > 0.
  double fixation_min_s = 0.3;           // Gaze holds between saccades, > 0.
  double fixation_max_s = 2.0;           // >= fixation_min_s.
  double gaze_amplitude = 0.35;          // Max eyeLook* weight of a fixation, [0, 1].
  double expression_events_per_min = 6;  // >= 0.
  double expression_strength = 0.8;      // Scales apex weights, [0, 1].
  double speech_fraction = 0.5;          // Share of time spent talking, [0, 1].
  double jaw_amplitude = 0.35;           // Peak jawOpen while talking, [0, 1].
  double head_yaw_deg = 6.0;             // Head sway amplitudes (>= 0) ...
  double head_pitch_deg = 3.0;
  double head_roll_deg = 2.0;
  double head_sway_period_s = 6.0;       // ... and base period, > 0.
  std::vector<ExpressionEventKind> events = DefaultExpressionEvents();
};

class ProceduralMotion {
 public:
  // Resolves shape names against `model` and validates the options; throws
  // std::invalid_argument naming the bad option or unknown shape.
  static ProceduralMotion Create(const face3d::MorphableModel& model, const ProceduralMotionOptions& options);

  // `num_frames` frames starting at t = 0 (frame 0 is the rest state:
  // zero rotation/translation, eyes open, neutral expression).
  DynamicsSequence Generate(int num_frames) const;

  const ProceduralMotionOptions& options() const { return options_; }

 private:
  struct ResolvedEvent {
    std::vector<std::pair<int, double>> shapes;
  };
  ProceduralMotionOptions options_;
  std::vector<ResolvedEvent> events_;
  int blink_l_ = -1, blink_r_ = -1, jaw_open_ = -1, funnel_ = -1, lower_down_l_ = -1, lower_down_r_ = -1;
  int look_up_[2] = {-1, -1}, look_down_[2] = {-1, -1}, look_in_[2] = {-1, -1}, look_out_[2] = {-1, -1};
};

}  // namespace faceanime::predict

#endif  // FACEANIME_PREDICT_PROCEDURAL_MOTION_H_
