// Acceptance figures of the dynamics predictor (issue 7) on held-out motion:
// forecasting against zero-motion and constant-velocity baselines,
// target-driven accuracy / overshoot / jerk against real motion, video
// prediction statistics (seed diversity, blink rate, mouth and pose motion),
// and the online mode (look-ahead under latency, dropout bridging).
//
// Units: vertex figures in millimetres on a subset of the morphable model's
// vertices (the 68 landmark vertices + ~200 face fitting vertices, mean
// identity, camera axes: R(rotation) * kModelToCamera * v + translation);
// rotation in degrees (angle of the relative rotation); translation in mm;
// expression errors as mean absolute weight over the 53 shapes; next frame
// also split (expr_mae_still + expr_mae_moving = expr_mae) into the channels
// whose true next weight is constant velocity's (within 1e-4: still, mostly
// at the bound 0) and the others.
#ifndef FACEANIME_PREDICT_PREDICTOR_EVALUATION_H_
#define FACEANIME_PREDICT_PREDICTOR_EVALUATION_H_

#include <map>
#include <string>
#include <vector>

#include "face3d/morphable_model.h"
#include "predict/dynamics.h"
#include "predict/dynamics_predictor.h"

namespace faceanime::predict {

struct PredictorEvalOptions {
  int seeds = 8;               // Video-prediction rollouts per held-out sequence, >= 2.
  int video_frames = 250;      // Length of each video-prediction rollout (10 s at 25 fps); its
                               // statistics are taken over stretches as long as the real sequence.
  int latency_frames = 2;      // Simulated pipeline latency for the online test.
  int dropout_frames = 10;     // Simulated face loss for the online test.
  // mean(eyeBlink_L, eyeBlink_R) crossing up = one blink; blink_peak_mean
  // (the mean over sequences of its largest value) shows whether the data
  // resolve blinks at all.
  double blink_threshold = 0.5;
  // RolloutRequest::randomness of the target-driven and video-prediction
  // rollouts, [0, 2].
  double randomness = 1.0;
};

// One row of a results table: a method and its named figures.
struct EvalRow {
  std::string method;
  std::map<std::string, double> values;
};

struct PredictorEvaluation {
  int sequences = 0, frames = 0;
  std::vector<EvalRow> next_frame;    // lstm, zero-motion, constant-velocity
  std::vector<EvalRow> ahead10;       // same, 10 frames ahead
  std::vector<EvalRow> target;        // lstm (target-driven), real
  std::vector<EvalRow> video;         // lstm (video prediction), real (mean, lowest clip, highest clip)
  std::vector<EvalRow> online;        // no prediction vs look-ahead under latency
  std::vector<EvalRow> dropout;       // online bridge vs holding the last face
  std::vector<EvalRow> blinks;        // Blink rates (filled by the caller, e.g. from the real video's pixels)
  std::string Markdown() const;
  std::string Json() const;
};

// `held_out`: sequences never trained on (pose relative to their frame 0).
PredictorEvaluation EvaluatePredictor(const DynamicsPredictor& predictor, const face3d::MorphableModel& model,
                                      const std::vector<DynamicsSequence>& held_out,
                                      const PredictorEvalOptions& options = {});

}  // namespace faceanime::predict

#endif  // FACEANIME_PREDICT_PREDICTOR_EVALUATION_H_
