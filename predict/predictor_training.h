// Training data and training of the dynamics predictor (dynamics_predictor.h).
// Used by `faceanime train-predictor`; LibTorch stays in the .cc file.
//
// Data: tracked GRID clips (pose relative to each run's first frame) plus
// procedural motion (procedural_motion.h) for coverage. Training draws windows
// of `window` frames (pose re-expressed relative to the window's first frame)
// and minimises, per step:
//   * teacher-forced next-step terms: the mixture's negative log-likelihood
//     of the true step, coefficient L2 of the expected step (normalised per
//     channel) plus L1 on its expression channels, vertex L2 through the
//     morphable model (68 landmark vertices + a subset of face vertices, mean
//     identity, in camera axes); the expected-step terms weigh 2x; the still
//     gate's binary cross-entropy (dynamics_lstm.h);
//   * free-running terms: from a random frame p, the expected path is rolled
//     out `horizon` frames (or to the target frame T): coefficient and vertex
//     L2 against the true frames, a heavier weight on hitting the target at T,
//     and a smoothness term (squared second differences of the path).
// Half the windows (target_share) are target-driven with T drawn inside the
// window and the true frame T as the target.
#ifndef FACEANIME_PREDICT_PREDICTOR_TRAINING_H_
#define FACEANIME_PREDICT_PREDICTOR_TRAINING_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "face3d/face_params.h"
#include "face3d/morphable_model.h"
#include "predict/dynamics.h"

namespace faceanime::predict {

// Splits a tracked clip (one entry per frame, std::nullopt: no face) into runs
// of consecutive faces at least `min_frames` long, each as Dynamics relative
// to the run's first frame.
std::vector<DynamicsSequence> TrackToDynamicsRuns(const std::vector<std::optional<face3d::FaceParams>>& track,
                                                  int min_frames);

// The held-out GRID clips: every 10th clip in sorted file-name order, starting
// with the first (indices 0, 10, 20, ...). Never trained on.
bool IsHeldOutClip(int index_in_sorted_order);

// Procedural training motion: `count` sequences of `frames` frames, seeds
// first_seed, first_seed + 1, ..., with varied talking share and event rates.
std::vector<DynamicsSequence> ProceduralTrainingSet(const face3d::MorphableModel& model, int count, int frames,
                                                    uint64_t first_seed);

struct PredictorTrainingOptions {
  std::filesystem::path out;       // Weights file to write (required).
  int steps = 3000;                // Optimiser steps, >= 1.
  int batch = 32;                  // Windows per step, >= 1.
  int window = 40;                 // Frames per window, >= 12.
  int horizon = 10;                // Free-running frames, >= 1 (< window).
  double learning_rate = 2e-3;     // Adam, decayed (cosine) to 10% at the end. > 0.
  double procedural_share = 0.3;   // Share of windows from procedural motion, [0, 1].
  double target_share = 0.5;       // Share of target-driven windows, [0, 1].
  // Weight of the L1 term on the teacher-forced expected step's expression
  // channels (normalised units), >= 0; larger pulls the expected path from
  // the conditional mean towards the conditional median of the next weights.
  double expression_l1_weight = 8.0;  // The committed weights use 8 (assets/predictor/README.md).
  int hidden = 160;                // LSTM width, >= 8.
  int components = 4;              // Mixture components, >= 1.
  double fps = 25.0;               // Frame rate of the data, > 0.
  uint64_t seed = 1;               // Same seed and data, same weights (single thread).
  int num_threads = 1;             // LibTorch threads, >= 1.
  int log_every = 100;             // Steps between log lines, >= 1.
};

struct PredictorTrainingLog {
  int step = 0;
  double loss = 0;     // Total.
  double nll = 0;      // Teacher-forced mixture NLL per channel.
  double coef = 0;     // Teacher-forced expected-step L2 (normalised).
  double vertex = 0;   // Teacher-forced vertex L2 (cm^2).
  double free = 0;     // Free-running coefficient L2 (normalised).
  double target = 0;   // Target-frame vertex L2 (cm^2).
  double smooth = 0;   // Smoothness term.
  double still = 0;    // Still gate's binary cross-entropy (dynamics_lstm.h).
};

// What TrainPredictor calibrated for sampling (dynamics_lstm.h).
struct SamplingCalibration {
  // Sigma scale per Dynamics channel: rotation (3), translation (3), the 53
  // expression weights.
  std::vector<double> temperature;
  // Correlation of successive noise draws per Dynamics channel, [0, 0.95].
  std::vector<double> noise_correlation;
};

// Trains and writes options.out. `grid` and `procedural`: training sequences
// (each at least options.window frames long are used; shorter ones skipped).
// After training, the sampling temperatures and noise correlation
// (dynamics_lstm.h) are calibrated so that sampled rollouts from the first
// frames of up to 64 GRID training sequences (procedural ones when there is
// no GRID data) have each channel's spread and mean second difference;
// returns them.
// Throws std::invalid_argument for bad options or no usable data.
SamplingCalibration TrainPredictor(const std::vector<DynamicsSequence>& grid,
                                   const std::vector<DynamicsSequence>& procedural,
                                   const face3d::MorphableModel& model, const PredictorTrainingOptions& options,
                                   const std::function<void(const PredictorTrainingLog&)>& log);

}  // namespace faceanime::predict

#endif  // FACEANIME_PREDICT_PREDICTOR_TRAINING_H_
