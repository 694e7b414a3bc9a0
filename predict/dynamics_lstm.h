// Internal to predict/: the LibTorch LSTM behind DynamicsPredictor, its
// feature layout, and the weights file format. Included only by predict/*.cc
// (never by a public header: it pulls in torch/torch.h).
//
// State vector x (kStateDim = 59, "state units"): rotation angle-axis (3,
// radians, relative to the sequence's frame 0), translation (3, cm, relative),
// the 53 ICT expression weights ([0, 1]); the layout of Dynamics.
//
// Per-step input (kInputDim):
//   [0, D)        (x_t - state_mean) / state_std
//   [D, 2D)       (x_t - x_{t-1}) / delta_std            (0 at a window's frame 0)
//   2D            target flag (1: target-driven, t < T)
//   [2D+1, 3D+1)  flag * (target - x_t) / state_std
//   3D+1          flag * t / T                            (the timer)
//   3D+2          flag * (T - t) / 25                     (seconds left at 25 fps)
//   3D+3          flag / (1 + T - t)                       (grows to 1 as t -> T)
// Output: a K-component mixture over the next normalised step
// (x_{t+1} - x_t) / delta_std, one shared component choice per frame (so
// correlated events, e.g. both eyes blinking, stay together), each component a
// diagonal Gaussian: logits (K), means (K x D), log sigmas (K x D). The means
// are velocity_gain * (the input's normalised step) + the head's output: the
// network predicts a residual on a constant-velocity step (velocity_gain
// starts at 1, so an untrained head is exactly the constant-velocity
// baseline), the tracked motion's smoothness is the default and sampled noise
// acts on the acceleration, not the position.
//
// Still gate (format version 4): most expression weights sit still from
// frame to frame, a third of them exactly (mostly at the fit's bound 0), where
// constant velocity is exactly right and any expected step is not. A second
// head gives, per expression channel, the logit of P(the next weight is the
// clamped constant-velocity value): a linear read-out of the LSTM features
// plus a learned per-channel gain times "constant velocity lands on a bound"
// (x_t + (x_t - x_{t-1}) <= 0 or >= 1; on the GRID fits 94 % of those steps are
// still, 7 % of the others; both start from the training data's shares),
// trained with binary cross-entropy on
// whether the true next weight is within kStillTolerance of it. The expected
// step (MixtureOut::Expected, the predictor's deterministic path) keeps the
// constant-velocity step on channels with P > 0.5 (there it is the
// conditional median, the minimiser of the expected absolute error) and takes
// the mixture's mean on the others. Sampling draws from the mixture alone.
//
// Sampling temperature and noise correlation (format 5): the mixture's
// sigmas are fitted to one-step errors, but drawing i.i.d. steps from them
// compounds into motion far more spread than the data's (the errors of a
// tracked, smoothed track are correlated, the draws are not), and i.i.d.
// draws on the step make a jerkier signal than the data's. When sampling,
// LstmConfig::temperature scales the sigmas, one factor per state channel,
// and the standard normal draws of a rollout are an AR(1) sequence per
// channel with LstmConfig::noise_correlation. Both are calibrated after
// training (CalibrateSamplingTemperatures in predictor_training.cc) so that
// sampled rollouts from the training clips' first frames have, per channel,
// the training clips' spread and mean absolute second difference. Format 4
// had one temperature for the 6 pose channels, one for the 53 expression
// channels and i.i.d. draws: video prediction's jaw then moved at 0.43x the
// held-out clips' speed and its yaw spread was 1.6x theirs
// (docs/benchmarks.md).
#ifndef FACEANIME_PREDICT_DYNAMICS_LSTM_H_
#define FACEANIME_PREDICT_DYNAMICS_LSTM_H_

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

#include <torch/torch.h>

#include "face3d/morphable_model.h"
#include "predict/dynamics.h"

namespace faceanime::predict::internal {

inline constexpr int kStateDim = 6 + face3d::kNumExpressionShapes;  // 59
inline constexpr int kInputDim = 3 * kStateDim + 4;
// File format version: bump on any change of the features or the layers.
inline constexpr int64_t kWeightsVersion = 5;
// Constant velocity's next expression weight "lands on a bound" (the still
// gate's feature, in training and at inference) when it is within this of
// 0 or 1 (or beyond).
inline constexpr double kBoundTolerance = 1e-6;
inline constexpr const char* kTrainCommand =
    "faceanime train-predictor --grid ../shared/data/grid/s1 --out assets/predictor/dynamics_lstm.pt "
    "(see assets/predictor/README.md)";

struct LstmConfig {
  int64_t hidden = 160;
  int64_t components = 4;
  double fps = 25.0;
  // Sigma scale per state channel when sampling (see above), each in
  // (0, kMaxTemperature].
  std::array<double, kStateDim> temperature = Ones();
  static constexpr double kMaxTemperature = 4.0;
  // Correlation of successive noise draws per state channel when sampling
  // (see above), each in [0, kMaxNoiseCorrelation]; 0: i.i.d. draws.
  std::array<double, kStateDim> noise_correlation{};
  static constexpr double kMaxNoiseCorrelation = 0.95;
  static constexpr std::array<double, kStateDim> Ones() {
    std::array<double, kStateDim> a{};
    for (double& v : a) v = 1.0;
    return a;
  }
};

// A recurrent step's memory.
struct LstmState {
  torch::Tensor h, c;  // [B, hidden]
};

struct MixtureOut {
  torch::Tensor logits;     // [B, K]
  torch::Tensor means;      // [B, K, D], normalised steps
  torch::Tensor log_sigma;  // [B, K, D]
  torch::Tensor velocity;     // [B, D], the input's normalised step (constant velocity).
  torch::Tensor still_logits; // [B, 53], logit of P(expression channel keeps constant velocity).
  // Mixture mean of the normalised step: sum_k softmax(logits)_k * means_k, [B, D].
  torch::Tensor Mean() const;
  // The deterministic (expected) step, [B, D]: Mean() on the pose channels
  // and on the expression channels the still gate calls moving, `velocity`
  // on the others (see "Still gate" above). No gradient through the gate's
  // decision (it is trained by its own loss).
  torch::Tensor Expected() const;
};

struct DynamicsLstmImpl : torch::nn::Module {
  explicit DynamicsLstmImpl(const LstmConfig& config);

  // One step for a batch: input [B, kInputDim] -> mixture; `state` updated.
  // `with_gate` false skips the still gate (out.still_logits stays undefined
  // and Expected() may not be called): drawn steps do not use it.
  MixtureOut Step(const torch::Tensor& input, LstmState& state, bool with_gate = true);
  LstmState ZeroState(int64_t batch) const;

  LstmConfig config;
  torch::nn::LSTMCell cell{nullptr};
  torch::nn::Linear hidden_layer{nullptr}, head{nullptr};
  torch::nn::Linear still_head{nullptr};  // hidden -> 53 still-gate logits ...
  torch::Tensor still_bound_gain;         // ... + this [53] where constant velocity lands on a bound.
  torch::Tensor velocity_gain;  // [D], learned, starts at 1 (constant velocity).
  // Normalisation (buffers, saved with the weights), [D] each.
  torch::Tensor state_mean, state_std, delta_std;
};
TORCH_MODULE(DynamicsLstm);

// Packs Dynamics <-> state vectors (double precision on the C++ side).
void ToState(const Dynamics& d, float* x);
Dynamics FromState(const float* x);

// Builds the per-step inputs for a batch. `x`, `prev`: [B, D] states;
// `target` [B, D]; `flag`, `t`, `big_t`: [B] (frame index and T; ignored
// where flag == 0).
torch::Tensor MakeInput(const DynamicsLstm& model, const torch::Tensor& x, const torch::Tensor& prev,
                        const torch::Tensor& target, const torch::Tensor& flag, const torch::Tensor& t,
                        const torch::Tensor& big_t);

// Applies a normalised step to states and clamps expressions into [0, 1].
torch::Tensor ApplyStep(const DynamicsLstm& model, const torch::Tensor& x, const torch::Tensor& step);
// States [B, kStateDim] with the expression weights clamped to [0, 1] (pose
// channels unchanged).
torch::Tensor ClampExpression(const torch::Tensor& x);

// Weights file: a LibTorch archive with "faceanime_version", "config" and the
// module. Load throws PredictorModelError naming the file and kTrainCommand.
void SaveWeights(DynamicsLstm& model, const std::filesystem::path& path);
DynamicsLstm LoadWeights(const std::filesystem::path& path);

}  // namespace faceanime::predict::internal

#endif  // FACEANIME_PREDICT_DYNAMICS_LSTM_H_
