#include "predict/dynamics_predictor.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <random>
#include <string>

#include <Eigen/Geometry>

#include "face3d/data_paths.h"
#include "predict/dynamics_lstm.h"
#include "predict/procedural_motion.h"

namespace faceanime::predict {

using internal::kStateDim;

namespace {

constexpr const char* kWeightsName = "dynamics_lstm.pt";

void Require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument(what);
}

bool ValidDynamics(const Dynamics& d) {
  if (!d.rotation.allFinite() || !d.translation.allFinite()) return false;
  for (double w : d.expression) {
    if (!std::isfinite(w) || w < -1e-6 || w > 1.0 + 1e-6) return false;
  }
  return true;
}

torch::Tensor StateTensor(const Dynamics& d) {
  torch::Tensor x = torch::empty({1, kStateDim});
  internal::ToState(d, x.data_ptr<float>());
  return x;
}

Dynamics DynamicsOf(const torch::Tensor& x) { return internal::FromState(x.contiguous().data_ptr<float>()); }

double SmoothStep(double s) {
  s = std::clamp(s, 0.0, 1.0);
  return s * s * (3.0 - 2.0 * s);
}

// The drawn noise of one rollout: per channel an AR(1) sequence of N(0, 1)
// draws with the model's noise_correlation rho of the channel (e_t = rho e_{t-1} +
// sqrt(1 - rho^2) n_t, started from the stationary N(0, 1)); see
// dynamics_lstm.h, "Sampling temperature".
struct SamplingNoise {
  std::array<float, kStateDim> e{};
  bool started = false;
};

// One sampled normalised step from a single-row mixture: a component drawn by
// its weight, then its mean plus `randomness` times the model's sampling
// temperature (per channel) times its sigma times the rollout's noise.
torch::Tensor SampleStep(const internal::DynamicsLstm& model, const internal::MixtureOut& out, double randomness,
                         std::mt19937_64& rng, SamplingNoise& noise) {
  if (randomness <= 0.0) return out.Expected();
  const torch::Tensor p = torch::softmax(out.logits, -1).contiguous();
  const float* pp = p.data_ptr<float>();
  const int64_t k = p.size(1);
  double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng), acc = 0.0;
  int64_t chosen = k - 1;
  for (int64_t i = 0; i < k; ++i) {
    acc += pp[i];
    if (u < acc) {
      chosen = i;
      break;
    }
  }
  std::normal_distribution<float> normal(0.0f, 1.0f);
  torch::Tensor eps = torch::empty({1, kStateDim});
  float* e = eps.data_ptr<float>();
  for (int i = 0; i < kStateDim; ++i) {
    const float rho = noise.started ? static_cast<float>(model->config.noise_correlation[i]) : 0.0f;
    noise.e[i] = rho * noise.e[i] + std::sqrt(1.0f - rho * rho) * normal(rng);
    e[i] = noise.e[i] * static_cast<float>(randomness * model->config.temperature[i]);
  }
  noise.started = true;
  return out.means.select(1, chosen) + out.log_sigma.select(1, chosen).exp() * eps;
}

std::mt19937_64 SeededRng(uint64_t seed, uint32_t stream = 0x9d1c7u) {
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), stream};
  return std::mt19937_64(seq);
}

// The blink process of video prediction (see dynamics_predictor.h): overlays
// blinks with onsets after frame `first_free` - 1 on frames [first_free, end)
// of `seq`, at `rate_per_min` at `fps`; its own random stream from `seed`.
void AddBlinks(DynamicsSequence& seq, int first_free, double rate_per_min, double fps, uint64_t seed) {
  const int n = static_cast<int>(seq.size());
  if (rate_per_min <= 0.0 || first_free >= n) return;
  constexpr double kCloseS = 0.1, kOpenS = 0.2, kMaxRefractoryS = 0.8;
  std::mt19937_64 rng = SeededRng(seed, 0xb1u);
  auto uniform = [&](double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); };
  const double mean_interval = 60.0 / rate_per_min;
  const double refractory = std::min(kMaxRefractoryS, 0.5 * mean_interval);
  std::exponential_distribution<double> remainder(1.0 / (mean_interval - refractory));
  // The first onset from the process's stationary forward recurrence time
  // (density P(interval > x) / mean: uniform over the refractory period with
  // probability refractory / mean, else refractory + the exponential
  // remainder), so the rate is the same from the first free frame on.
  const double first = uniform(0.0, 1.0) < refractory / mean_interval ? uniform(0.0, refractory)
                                                                      : refractory + remainder(rng);
  const double start = (first_free - 1) / fps, end = (n - 1) / fps;
  for (double onset = start + first; onset < end; onset += refractory + remainder(rng)) {
    const double depth_l = uniform(0.9, 1.0);
    const double depth_r = depth_l * uniform(0.95, 1.0);
    const int from = std::max(first_free, static_cast<int>(std::ceil(onset * fps)));
    const int to = std::min(n - 1, static_cast<int>(std::floor((onset + kCloseS + kBlinkHoldS + kOpenS) * fps)));
    for (int k = from; k <= to; ++k) {
      const double w = BlinkClosure(k / fps - onset, kCloseS, kOpenS);
      auto& e = seq[k].expression;
      e[kEyeBlinkLeft] = std::max(e[kEyeBlinkLeft], w * depth_l);
      e[kEyeBlinkRight] = std::max(e[kEyeBlinkRight], w * depth_r);
    }
  }
}

}  // namespace

struct DynamicsPredictor::Impl {
  mutable internal::DynamicsLstm model{nullptr};  // Forward passes only (eval, inference mode).
  int num_threads = 1;
  std::filesystem::path weights;

  void SetThreads() const {
    if (at::get_num_threads() != num_threads) at::set_num_threads(num_threads);
  }
  // One step of sequence memory `state`: input from x_t, x_{t-1} and the
  // optional target (frame index t of T).
  internal::MixtureOut Step(const torch::Tensor& x, const torch::Tensor& prev, const torch::Tensor* target, int t,
                            int big_t, internal::LstmState& state, bool with_gate = true) const {
    const bool active = target != nullptr && t < big_t;
    const torch::Tensor flag = torch::full({1}, active ? 1.0f : 0.0f);
    const torch::Tensor input =
        internal::MakeInput(model, x, prev, active ? *target : x, flag, torch::full({1}, static_cast<float>(t)),
                            torch::full({1}, static_cast<float>(active ? big_t : 1)));
    return model->Step(input, state, with_gate);
  }
};

std::filesystem::path DefaultPredictorWeights() {
  const std::filesystem::path relative = std::filesystem::path("predictor") / kWeightsName;
  return CommittedModelFile("FACEANIME_PREDICTOR", relative, relative);
}

DynamicsPredictor::DynamicsPredictor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DynamicsPredictor::~DynamicsPredictor() = default;

std::unique_ptr<DynamicsPredictor> DynamicsPredictor::Load(const PredictorOptions& options) {
  Require(options.num_threads >= 1, "PredictorOptions.num_threads must be >= 1, got " +
                                        std::to_string(options.num_threads));
  auto impl = std::make_unique<Impl>();
  impl->weights = options.weights.empty() ? DefaultPredictorWeights() : options.weights;
  impl->num_threads = options.num_threads;
  impl->SetThreads();
  impl->model = internal::LoadWeights(impl->weights);
  return std::unique_ptr<DynamicsPredictor>(new DynamicsPredictor(std::move(impl)));
}

double DynamicsPredictor::fps() const { return impl_->model->config.fps; }

DynamicsSequence DynamicsPredictor::Rollout(const RolloutRequest& r) const {
  Require(r.num_frames >= 1 && r.num_frames <= 1000000,
          "RolloutRequest.num_frames must be in [1, 1000000], got " + std::to_string(r.num_frames));
  Require(static_cast<int>(r.observed.size()) <= r.num_frames,
          "RolloutRequest.observed has " + std::to_string(r.observed.size()) + " frames, more than num_frames (" +
              std::to_string(r.num_frames) + ")");
  Require(std::isfinite(r.randomness) && r.randomness >= 0.0 && r.randomness <= 2.0,
          "RolloutRequest.randomness must be in [0, 2]");
  Require(std::isfinite(r.blink_rate_per_min) && r.blink_rate_per_min >= 0.0 && r.blink_rate_per_min <= 120.0,
          "RolloutRequest.blink_rate_per_min must be in [0, 120]");
  {
    Dynamics start;
    start.expression = r.start_expression;
    Require(ValidDynamics(start), "RolloutRequest.start_expression: weights must be finite and in [0, 1]");
  }
  for (size_t i = 0; i < r.observed.size(); ++i) {
    Require(ValidDynamics(r.observed[i]), "RolloutRequest.observed[" + std::to_string(i) +
                                              "]: non-finite values or expression weights outside [0, 1]");
  }
  const int num_observed = std::max<int>(1, static_cast<int>(r.observed.size()));
  if (r.target) {
    Require(r.target->frame >= num_observed && r.target->frame < r.num_frames,
            "RolloutRequest.target.frame must be in [" + std::to_string(num_observed) + ", num_frames - 1 = " +
                std::to_string(r.num_frames - 1) + "] (after the observed frames), got " +
                std::to_string(r.target->frame));
    Require(ValidDynamics(r.target->dynamics),
            "RolloutRequest.target.dynamics: non-finite values or expression weights outside [0, 1]");
  }

  c10::InferenceMode guard;
  impl_->SetThreads();
  std::mt19937_64 rng = SeededRng(r.seed);
  SamplingNoise noise;
  std::vector<torch::Tensor> x(r.num_frames);
  if (r.observed.empty()) {
    Dynamics start;
    start.expression = r.start_expression;
    x[0] = StateTensor(start);
  } else {
    x[0] = StateTensor(r.observed[0]);
  }
  torch::Tensor target;
  const int big_t = r.target ? r.target->frame : 0;
  if (r.target) target = StateTensor(r.target->dynamics);

  // Frames [from, to): feed frame t, draw (or copy) frame t + 1.
  internal::LstmState state = impl_->model->ZeroState(1);
  // `hold`: when defined, the drawn frames keep these expression weights
  // (the pose is still drawn).
  auto run = [&](int from, int to, bool use_target, const torch::Tensor& hold) {
    for (int t = from; t < to - 1; ++t) {
      const bool observed_next = t + 1 < static_cast<int>(r.observed.size());
      // Towards a target, the drawn deviation shrinks linearly with the
      // share of free frames left (to 0 at T), so late noise does not have
      // to be undone by the correction below (a sqrt shrink gave a largest
      // overshoot above real motion's, docs/benchmarks.md).
      const double left = use_target ? std::max(0.0, static_cast<double>(big_t - t - 1)) /
                                           std::max(1, big_t - (num_observed - 1))
                                     : 1.0;
      const double randomness = r.randomness * left;
      // The still gate serves only the expected step (randomness 0).
      const auto out = impl_->Step(x[t], t > 0 ? x[t - 1] : x[t], use_target ? &target : nullptr, t, big_t, state,
                                   !observed_next && randomness <= 0.0);
      if (observed_next) {
        x[t + 1] = StateTensor(r.observed[t + 1]);
      } else {
        x[t + 1] = internal::ApplyStep(impl_->model, x[t], SampleStep(impl_->model, out, randomness, rng, noise));
        if (hold.defined()) x[t + 1] = torch::cat({x[t + 1].slice(1, 0, 6), hold.slice(1, 6, kStateDim)}, 1);
      }
    }
  };

  if (!r.target) {
    run(0, r.num_frames, false, torch::Tensor());
  } else {
    // The network's path to frame T ...
    run(0, big_t + 1, true, torch::Tensor());
    // ... then the residual at T spread smoothly over the free frames (zero
    // at the last observed frame, all of it at T), so T is reached exactly.
    const int t0 = num_observed - 1;
    const torch::Tensor residual = target - x[big_t];
    for (int t = t0 + 1; t <= big_t; ++t) {
      const double w = SmoothStep(static_cast<double>(t - t0) / (big_t - t0));
      x[t] = internal::ClampExpression(x[t] + static_cast<float>(w) * residual);
    }
    if (big_t + 1 < r.num_frames) {
      // Re-read the corrected path, then continue as video prediction with
      // the target's expression held: the reached face stays (a free
      // rollout, trained on GRID speech, relaxes it within a second: the
      // surprised preset's shapes drifted half-way back to the start), while
      // the head keeps moving and blinks are overlaid below.
      state = impl_->model->ZeroState(1);
      for (int t = 0; t < big_t; ++t) impl_->Step(x[t], t > 0 ? x[t - 1] : x[t], &target, t, big_t, state, false);
      run(big_t, r.num_frames, false, target);
    }
  }
  DynamicsSequence result(r.num_frames);
  for (int t = 0; t < r.num_frames; ++t) result[t] = DynamicsOf(x[t]);
  // Given frames exactly as given (the network runs in single precision).
  if (r.observed.empty()) {
    result[0] = Dynamics{};
    result[0].expression = r.start_expression;
  }
  for (size_t t = 0; t < r.observed.size(); ++t) result[t] = r.observed[t];
  if (r.target) result[big_t] = r.target->dynamics;
  // Blinks on the freely drawn frames: after the given ones and after T.
  if (r.randomness > 0.0) {
    AddBlinks(result, std::max(num_observed, r.target ? big_t + 1 : 0), r.blink_rate_per_min, fps(), r.seed);
  }
  return result;
}

// ---------------------------------------------------------------------------
// OnlinePredictor

namespace {

constexpr int kBlendFrames = 6;        // Output blends over at least this many frames after a jump in the input,
                                       // and over the gap's length + this after a face loss (the bridged path
                                       // may have drifted far: a fade as long as the gap keeps each step small).
constexpr int kWindowFrames = 20;      // History re-read after re-anchoring.
constexpr int kReanchorFrames = 50;    // Re-anchor this often (training windows are short).
constexpr double kGapDamping = 0.85;   // Per-frame damping of the bridged motion.
// Look-ahead forecasters ("experts"), combined per state channel by their
// recent accuracy (see OnlinePredictor::Impl::Combine).
enum Expert { kHold = 0, kConstantVelocity = 1, kNetwork = 2, kNumExperts = 3 };
constexpr double kScoreWindowFrames = 25.0;  // Time constant of the experts' error average (1 s at 25 fps).
constexpr int kWarmupScores = 10;            // Scored forecasts before the combination fully replaces the network.
constexpr double kCombinationPower = 2.0;    // Weights proportional to mean squared error^-power ...
constexpr double kNetworkPrior = 4.0;        // ... with the network's divided by this: another expert needs a 2x
                                             // lower RMS error to get as much weight (per channel, recent errors
                                             // are noisy: unbiased inverse-error weights, or picking the lowest,
                                             // lost to the network alone on held-out GRID, docs/benchmarks.md).
constexpr double kErrorFloor = 1e-8;         // Added to each squared-error average (state units squared).

}  // namespace

struct OnlinePredictor::Impl {
  std::shared_ptr<const DynamicsPredictor> predictor;
  OnlinePredictorOptions options;

  bool active = false;
  face3d::FaceParams anchor;           // Frame 0 of the current window; identity: latest observed.
  internal::LstmState state;
  torch::Tensor x, next_step;          // Current state, predicted next (normalised) step.
  std::deque<face3d::FaceParams> history;  // Recent states (observed or bridged), absolute.
  int gap = 0;
  int since_anchor = 0;
  bool has_ts = false;
  int64_t last_ts = 0;
  torch::Tensor offset;                // Output blend offset (relative to anchor) ...
  int offset_age = kBlendFrames;       // ... frames since it was set ...
  int blend_frames = kBlendFrames;     // ... and the fade's length.
  torch::Tensor prev_x;                // The state before x (undefined right after a restart).

  // Scoring of the look-ahead experts: each emitted frame's forecasts (absolute
  // faces, so re-anchoring does not move them) wait for the observation of
  // the frame they forecast; per expert and state channel, an exponentially
  // weighted mean of the squared error (sum / weight, so early means are
  // unbiased).
  struct Forecast {
    int64_t frame;
    std::array<face3d::FaceParams, kNumExperts> faces;
  };
  int64_t frame = -1;                  // Index of the current frame (observed or bridged).
  std::deque<Forecast> pending;
  torch::Tensor error_sum = torch::zeros({kNumExperts, kStateDim});
  double error_weight = 0.0;
  int scores = 0;

  const DynamicsPredictor::Impl& net() const { return predictor->impl(); }

  void Feed(const torch::Tensor& state_x) {
    const torch::Tensor p = x.defined() ? x : state_x;
    const auto out = net().Step(state_x, p, nullptr, 0, 0, state);
    prev_x = x;
    x = state_x;
    next_step = out.Expected();
  }

  // Forgets the network's context (LSTM state and velocity) and feeds
  // `state_x` as the first frame of a new one, at zero velocity.
  void Restart(const torch::Tensor& state_x) {
    state = net().model->ZeroState(1);
    x = torch::Tensor();
    Feed(state_x);
  }

  // A new start (first face, or after a gap longer than max_gap_frames):
  // nothing is carried over, the experts' scores included.
  void Start(const face3d::FaceParams& obs) {
    ++frame;
    pending.clear();
    error_sum = torch::zeros({kNumExperts, kStateDim});
    error_weight = 0.0;
    scores = 0;
    anchor = obs;
    Restart(StateTensor(RelativeDynamics(obs, anchor)));
    history.assign(1, obs);
    gap = 0;
    since_anchor = 0;
    offset = torch::zeros({1, kStateDim});
    offset_age = blend_frames = kBlendFrames;
    active = true;
  }

  // The network's forecast of the state `lookahead_frames` ahead (relative
  // to anchor).
  torch::Tensor NetworkLookAhead() const {
    internal::LstmState s = state;
    torch::Tensor p = x, cur = internal::ApplyStep(net().model, x, next_step);
    for (int i = 1; i < options.lookahead_frames; ++i) {
      const auto out = net().Step(cur, p, nullptr, 0, 0, s);
      p = cur;
      cur = internal::ApplyStep(net().model, cur, out.Expected());
    }
    return cur;
  }

  // The three forecasts of the state `lookahead_frames` ahead: no motion,
  // constant velocity (expression weights clamped to [0, 1]) and the network.
  std::array<torch::Tensor, kNumExperts> Experts() const {
    std::array<torch::Tensor, kNumExperts> e;
    e[kHold] = x;
    const torch::Tensor v = prev_x.defined() ? x - prev_x : torch::zeros_like(x);
    e[kConstantVelocity] = internal::ClampExpression(x + static_cast<float>(options.lookahead_frames) * v);
    e[kNetwork] = NetworkLookAhead();
    return e;
  }

  // The look-ahead: per state channel, the experts' forecasts weighted by
  // their recent mean squared error^-2, the network's error counted a quarter
  // (forecast combination with a prior for the trained model: on held-out
  // GRID the network keeps most weight; on motion faster than its training
  // data, which it damps, constant velocity takes over; where neither
  // extrapolation helps, holding does). Until kWarmupScores forecasts are
  // scored, it fades in from the network's forecast.
  // (Plain loops over the 59 channels: as tensor operations this was a dozen
  // small kernels per frame.)
  torch::Tensor Combine(const std::array<torch::Tensor, kNumExperts>& e) const {
    if (scores == 0) return e[kNetwork];
    const double ramp = std::min(1.0, static_cast<double>(scores) / kWarmupScores);
    std::array<torch::Tensor, kNumExperts> c;
    std::array<const float*, kNumExperts> f;
    for (int k = 0; k < kNumExperts; ++k) {
      c[k] = e[k].contiguous();
      f[k] = c[k].data_ptr<float>();
    }
    const float* sum = error_sum.data_ptr<float>();
    torch::Tensor out = torch::empty({1, kStateDim});
    float* o = out.data_ptr<float>();
    for (int ch = 0; ch < kStateDim; ++ch) {
      std::array<double, kNumExperts> w;
      double total = 0.0;
      for (int k = 0; k < kNumExperts; ++k) {
        double mse = sum[k * kStateDim + ch] / error_weight + kErrorFloor;
        if (k == kNetwork) mse /= kNetworkPrior;
        w[k] = std::pow(mse, -kCombinationPower);
        total += w[k];
      }
      double v = 0.0;
      for (int k = 0; k < kNumExperts; ++k) {
        const double wk = ramp * w[k] / total + (k == kNetwork ? 1.0 - ramp : 0.0);
        v += wk * f[k][ch];
      }
      o[ch] = static_cast<float>(v);
    }
    return out;
  }

  // The current state predicted `lookahead_frames` ahead (relative to anchor).
  torch::Tensor LookAhead() const {
    if (options.lookahead_frames == 0) return x;
    return Combine(Experts());
  }

  // Scores the forecasts made for this frame against its observation
  // (relative to the current anchor) and drops those for earlier frames.
  void Score(const face3d::FaceParams& obs) {
    while (!pending.empty() && pending.front().frame < frame) pending.pop_front();
    if (pending.empty() || pending.front().frame != frame) return;
    const auto state_of = [&](const face3d::FaceParams& p) {
      std::array<float, kStateDim> v;
      internal::ToState(RelativeDynamics(p, anchor), v.data());
      return v;
    };
    const auto truth = state_of(obs);
    const double decay = 1.0 - 1.0 / kScoreWindowFrames;
    float* sum = error_sum.data_ptr<float>();
    for (int k = 0; k < kNumExperts; ++k) {
      const auto v = state_of(pending.front().faces[k]);
      for (int ch = 0; ch < kStateDim; ++ch) {
        const double d = v[ch] - truth[ch];
        sum[k * kStateDim + ch] = static_cast<float>(decay * sum[k * kStateDim + ch] + d * d);
      }
    }
    error_weight = decay * error_weight + 1.0;
    ++scores;
    pending.pop_front();
  }

  face3d::FaceParams ToAbsolute(const torch::Tensor& rel) const {
    return ApplyDynamics(anchor, DynamicsOf(rel), ExpressionBlend::kReplace);
  }

  // The output of the current frame; with look-ahead, the experts' forecasts
  // are kept for scoring when their frame is observed.
  face3d::FaceParams Emit() {
    if (options.lookahead_frames > 0) {
      const auto e = Experts();
      Forecast f{frame + options.lookahead_frames, {}};
      for (int k = 0; k < kNumExperts; ++k) f.faces[k] = ToAbsolute(e[k]);
      pending.push_back(std::move(f));
      return ToAbsolute(OutputFrom(Combine(e)));
    }
    return ToAbsolute(Output());
  }

  torch::Tensor Output() const { return OutputFrom(LookAhead()); }

  // `look_ahead` with the fade of the blend offset.
  torch::Tensor OutputFrom(torch::Tensor out) const {
    if (offset_age < blend_frames) {
      out = out + static_cast<float>(1.0 - SmoothStep(static_cast<double>(offset_age) / blend_frames)) * offset;
      out = internal::ClampExpression(out);
    }
    return out;
  }

  // Makes the output continue from `old_output` (relative to the current
  // anchor) and fade into the new path over `frames` frames.
  void BlendFrom(const torch::Tensor& old_output, int frames = kBlendFrames) {
    offset = old_output - LookAhead();
    offset_age = 0;
    blend_frames = frames;
  }

  void Remember(const face3d::FaceParams& p) {
    history.push_back(p);
    while (static_cast<int>(history.size()) > kWindowFrames) history.pop_front();
  }

  // One frame without a face: the model runs on its own (damped) prediction.
  // Returns false once the gap is too long.
  bool BridgeFrame() {
    ++frame;
    ++gap;
    if (gap > options.max_gap_frames) {
      active = false;
      return false;
    }
    const float damping = static_cast<float>(std::pow(kGapDamping, gap));
    const torch::Tensor bridged = internal::ApplyStep(net().model, x, damping * next_step);
    Feed(bridged);
    Remember(ToAbsolute(bridged));
    ++offset_age;
    return true;
  }

  void ObserveFrame(const face3d::FaceParams& obs) {
    ++frame;
    anchor.identity = obs.identity;
    Score(obs);
    const torch::Tensor rel = StateTensor(RelativeDynamics(obs, anchor));
    if (gap > 0) {
      // Back from a gap: continue from the bridged path, fade to the tracked one.
      const torch::Tensor bridged_out = Output();
      // The tracked face may be far from the bridged path: fed as one step,
      // the jump would read as a huge velocity and throw the look-ahead off.
      // Restart the network's context at the observation (zero velocity).
      Restart(rel);
      BlendFrom(bridged_out, kBlendFrames + gap);
      gap = 0;
    } else {
      Feed(rel);
      ++offset_age;
    }
    Remember(obs);
    if (++since_anchor >= kReanchorFrames && static_cast<int>(history.size()) == kWindowFrames) Reanchor();
  }

  // Starts a new window at the oldest remembered frame and re-reads the
  // history, so the network's inputs stay like its training windows.
  void Reanchor() {
    const face3d::FaceParams old_output = ToAbsolute(Output());
    anchor = face3d::FaceParams{history.front().pose, anchor.identity, history.front().expression};
    Restart(StateTensor(RelativeDynamics(history.front(), anchor)));
    for (size_t i = 1; i < history.size(); ++i) Feed(StateTensor(RelativeDynamics(history[i], anchor)));
    BlendFrom(StateTensor(RelativeDynamics(old_output, anchor)));
    since_anchor = 0;
  }
};

OnlinePredictor::OnlinePredictor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OnlinePredictor::~OnlinePredictor() = default;

std::unique_ptr<OnlinePredictor> OnlinePredictor::Create(std::shared_ptr<const DynamicsPredictor> predictor,
                                                         const OnlinePredictorOptions& options) {
  Require(predictor != nullptr, "OnlinePredictor::Create: predictor is null (load one with DynamicsPredictor::Load)");
  Require(options.lookahead_frames >= 0 && options.lookahead_frames <= 5,
          "OnlinePredictorOptions.lookahead_frames must be in [0, 5], got " +
              std::to_string(options.lookahead_frames));
  Require(options.max_gap_frames >= 0, "OnlinePredictorOptions.max_gap_frames must be >= 0, got " +
                                           std::to_string(options.max_gap_frames));
  auto impl = std::make_unique<Impl>();
  impl->predictor = std::move(predictor);
  impl->options = options;
  return std::unique_ptr<OnlinePredictor>(new OnlinePredictor(std::move(impl)));
}

void OnlinePredictor::Reset() {
  impl_->active = false;
  impl_->has_ts = false;
  impl_->gap = 0;
  impl_->history.clear();
}

std::optional<face3d::FaceParams> OnlinePredictor::Update(int64_t timestamp_ns,
                                                          const std::optional<face3d::FaceParams>& observed) {
  Impl& s = *impl_;
  c10::InferenceMode guard;
  s.net().SetThreads();
  // Frames since the previous call, from the timestamps (dropped frames count
  // as frames without a face); at least one.
  int frames = 1;
  if (s.has_ts && timestamp_ns > s.last_ts) {
    const double fps = s.predictor->fps();
    frames = std::max(1, static_cast<int>(std::lround(static_cast<double>(timestamp_ns - s.last_ts) * fps / 1e9)));
  }
  if (!s.has_ts || timestamp_ns > s.last_ts) s.last_ts = timestamp_ns;
  s.has_ts = true;

  if (!s.active) {
    if (!observed) return std::nullopt;
    s.Start(*observed);
    return s.Emit();
  }
  for (int i = 1; i < frames; ++i) {
    if (!s.BridgeFrame()) break;
  }
  if (!s.active) {
    if (!observed) return std::nullopt;
    s.Start(*observed);
    return s.Emit();
  }
  if (observed) {
    s.ObserveFrame(*observed);
  } else if (!s.BridgeFrame()) {
    return std::nullopt;
  }
  return s.Emit();
}

}  // namespace faceanime::predict
