#include "predict/predictor_training.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <random>
#include <stdexcept>

#include <Eigen/Geometry>

#include "predict/dynamics_lstm.h"
#include "predict/procedural_motion.h"

namespace faceanime::predict {

using internal::kStateDim;

std::vector<DynamicsSequence> TrackToDynamicsRuns(const std::vector<std::optional<face3d::FaceParams>>& track,
                                                  int min_frames) {
  std::vector<DynamicsSequence> runs;
  size_t i = 0;
  while (i < track.size()) {
    if (!track[i]) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < track.size() && track[j]) ++j;
    if (static_cast<int>(j - i) >= min_frames) {
      DynamicsSequence run;
      for (size_t k = i; k < j; ++k) run.push_back(RelativeDynamics(*track[k], *track[i]));
      runs.push_back(std::move(run));
    }
    i = j;
  }
  return runs;
}

bool IsHeldOutClip(int index_in_sorted_order) { return index_in_sorted_order % 10 == 0; }

std::vector<DynamicsSequence> ProceduralTrainingSet(const face3d::MorphableModel& model, int count, int frames,
                                                    uint64_t first_seed) {
  std::vector<DynamicsSequence> out;
  std::mt19937_64 rng(first_seed * 7919 + 17);
  for (int i = 0; i < count; ++i) {
    ProceduralMotionOptions o;
    o.seed = first_seed + static_cast<uint64_t>(i);
    o.speech_fraction = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    o.expression_events_per_min = std::uniform_real_distribution<double>(2.0, 12.0)(rng);
    o.blink_rate_per_min = std::uniform_real_distribution<double>(8.0, 26.0)(rng);
    o.expression_strength = std::uniform_real_distribution<double>(0.4, 1.0)(rng);
    // Head motion from GRID's near-still speaker up to brisk turns, so the
    // online look-ahead sees smooth fast motion too.
    const double head = std::uniform_real_distribution<double>(0.3, 3.0)(rng);
    o.head_yaw_deg *= head;
    o.head_pitch_deg *= head;
    o.head_roll_deg *= head;
    o.head_sway_period_s = std::uniform_real_distribution<double>(2.0, 8.0)(rng);
    out.push_back(ProceduralMotion::Create(model, o).Generate(frames));
  }
  return out;
}

namespace {

// Weight of the teacher-forced expected-step terms (coefficient and vertex
// L2): one-step forecasting has to beat constant velocity on the tracked,
// temporally smoothed GRID fits.
constexpr double kOneStepWeight = 2.0;
// Weight of the still gate's binary cross-entropy (dynamics_lstm.h).
constexpr double kStillWeight = 1.0;

void Require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("PredictorTrainingOptions: " + what);
}

// A window of a sequence, pose re-expressed relative to its first frame,
// written as states into `dst` (window x D floats).
void WriteWindow(const DynamicsSequence& seq, int start, int length, float* dst) {
  const Dynamics& first = seq[start];
  const double a0 = first.rotation.norm();
  const Eigen::Matrix3d r0 =
      a0 < 1e-12 ? Eigen::Matrix3d::Identity() : Eigen::AngleAxisd(a0, first.rotation / a0).toRotationMatrix();
  for (int k = 0; k < length; ++k) {
    Dynamics d = seq[start + k];
    const double a = d.rotation.norm();
    const Eigen::Matrix3d r =
        a < 1e-12 ? Eigen::Matrix3d::Identity() : Eigen::AngleAxisd(a, d.rotation / a).toRotationMatrix();
    const Eigen::AngleAxisd rel(r * r0.transpose());
    d.rotation = rel.axis() * rel.angle();
    d.translation -= first.translation;
    internal::ToState(d, dst + static_cast<size_t>(k) * kStateDim);
  }
}

// Vertex positions of states through the morphable model (mean identity),
// camera axes: X = R(rotation) * kModelToCamera * (mean + E * expression) + t.
struct VertexModel {
  torch::Tensor mean;  // [V, 3], camera axes
  torch::Tensor basis; // [53, V * 3]

  static VertexModel Create(const face3d::MorphableModel& model) {
    std::vector<int> ids(model.landmark_vertices().begin(), model.landmark_vertices().end());
    const auto& fit = model.fitting_vertices();
    const size_t stride = std::max<size_t>(1, fit.size() / 200);
    for (size_t i = 0; i < fit.size(); i += stride) ids.push_back(fit[i]);
    const auto b = face3d::SubsetBasis::Create(model, ids);
    const int64_t v = b.size();
    VertexModel vm;
    vm.mean = torch::empty({v, 3});
    vm.basis = torch::empty({face3d::kNumExpressionShapes, v * 3});
    const float flip[3] = {1.0f, -1.0f, -1.0f};
    for (int64_t i = 0; i < v; ++i) {
      for (int c = 0; c < 3; ++c) {
        vm.mean[i][c] = flip[c] * static_cast<float>(b.mean[3 * i + c]);
        for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
          vm.basis[j][3 * i + c] = flip[c] * static_cast<float>(b.expression(3 * i + c, j));
        }
      }
    }
    return vm;
  }

  // x: [N, D] -> [N, V, 3].
  torch::Tensor operator()(const torch::Tensor& x) const {
    const int64_t n = x.size(0);
    const torch::Tensor r = x.slice(1, 0, 3), t = x.slice(1, 3, 6), e = x.slice(1, 6, kStateDim);
    const torch::Tensor p = mean.unsqueeze(0) + torch::matmul(e, basis).view({n, -1, 3});
    const torch::Tensor theta = (r.pow(2).sum(1, true) + 1e-12).sqrt();  // [N, 1]
    const torch::Tensor k = r / theta;
    const torch::Tensor zero = torch::zeros({n}, x.options());
    const torch::Tensor kx = k.select(1, 0), ky = k.select(1, 1), kz = k.select(1, 2);
    const torch::Tensor skew =
        torch::stack({zero, -kz, ky, kz, zero, -kx, -ky, kx, zero}, 1).view({n, 3, 3});
    const torch::Tensor s = theta.sin().view({n, 1, 1}), c = theta.cos().view({n, 1, 1});
    const torch::Tensor rot = torch::eye(3, x.options()).unsqueeze(0) + s * skew + (1 - c) * torch::bmm(skew, skew);
    return torch::bmm(p, rot.transpose(1, 2)) + t.unsqueeze(1);
  }
};

// Mean squared distance per vertex, [N].
torch::Tensor VertexSq(const VertexModel& vm, const torch::Tensor& a, const torch::Tensor& b) {
  return (vm(a) - vm(b)).pow(2).sum(2).mean(1);
}

// Log-likelihood of normalised steps y [B, D] under the mixture, per channel.
torch::Tensor MixtureNll(const internal::MixtureOut& out, const torch::Tensor& y) {
  const torch::Tensor z = (y.unsqueeze(1) - out.means) * torch::exp(-out.log_sigma);
  const torch::Tensor comp = (-0.5 * z.pow(2) - out.log_sigma - 0.5 * std::log(2 * std::numbers::pi)).sum(2);
  const torch::Tensor ll = torch::logsumexp(torch::log_softmax(out.logits, 1) + comp, 1);
  return -ll.mean() / kStateDim;
}

// Spread statistics of a batch of sequences [B, L, D]: mean over sequences
// of the per-sequence std of the rotation (deg, mean over the 3 axes), the
// translation (mm, mean over the 3 axes) and the expression weights (mean
// over the 53 shapes).
std::array<double, 3> Spread(const torch::Tensor& seqs) {
  const torch::Tensor sd = seqs.std(1, /*unbiased=*/false);  // [B, D]
  return {sd.slice(1, 0, 3).mean().item<double>() * 180.0 / std::numbers::pi,
          sd.slice(1, 3, 6).mean().item<double>() * 10.0, sd.slice(1, 6, kStateDim).mean().item<double>()};
}

// Per-channel spread of a batch of sequences [B, L, D]: mean over sequences
// of each channel's per-sequence std (state units), [D].
torch::Tensor ChannelSpread(const torch::Tensor& seqs) { return seqs.std(1, /*unbiased=*/false).mean(0); }

// Per channel, the mean absolute second difference over a batch of
// sequences [B, L, D] (state units per frame^2): how jerky each channel
// moves, [D].
torch::Tensor ChannelAcceleration(const torch::Tensor& seqs) {
  const torch::Tensor a = seqs.slice(1, 2) - 2 * seqs.slice(1, 1, -1) + seqs.slice(1, 0, -2);
  return a.abs().mean(std::vector<int64_t>{0, 1});
}

// Sampled rollouts (as DynamicsPredictor::Rollout with randomness 1) of
// `frames` frames from the first frames `x0` [B, D], sigmas scaled per
// channel by `temperature` [D], the standard normal draws per channel an
// AR(1) sequence with correlation `rho` [D] (dynamics_lstm.h); [B, frames, D].
torch::Tensor SampledRollouts(internal::DynamicsLstm& net, const torch::Tensor& x0, int frames,
                              const torch::Tensor& temperature, const torch::Tensor& rho) {
  const int64_t b = x0.size(0);
  internal::LstmState state = net->ZeroState(b);
  std::vector<torch::Tensor> xs = {x0};
  const torch::Tensor off = torch::zeros({b});
  torch::Tensor noise = torch::randn({b, kStateDim});
  for (int t = 0; t + 1 < frames; ++t) {
    const torch::Tensor& x = xs.back();
    const torch::Tensor& prev = t > 0 ? xs[xs.size() - 2] : x;
    const auto out = net->Step(internal::MakeInput(net, x, prev, x, off, off, torch::ones({b})), state);
    const torch::Tensor k = torch::multinomial(torch::softmax(out.logits, 1), 1);  // [B, 1]
    const torch::Tensor idx = k.unsqueeze(2).expand({b, 1, kStateDim});
    const torch::Tensor mean = out.means.gather(1, idx).squeeze(1);
    const torch::Tensor sigma = out.log_sigma.gather(1, idx).squeeze(1).exp();
    if (t > 0) noise = rho * noise + (1.0 - rho * rho).sqrt() * torch::randn_like(noise);
    xs.push_back(internal::ApplyStep(net, x, mean + temperature * sigma * noise));
  }
  return torch::stack(xs, 1);
}

// Sets the sampling temperatures and noise correlations (dynamics_lstm.h)
// so that sampled rollouts from the first frames of (up to `max_sequences`
// of) `real` move like `real`, channel by channel:
//   1. one temperature per group (pose, expression), i.i.d. draws, from a
//      scan: the one with the closest group spread (Spread: rotation and
//      translation for pose, expression) in squared log ratio; the start of
//   2. for each candidate correlation in kCorrelations (all channels at it),
//      per-channel temperatures: kRefinements multiplicative updates
//      t_c <- t_c * (wanted_c / got_c)^0.8 of each channel's spread
//      (ChannelSpread; each factor within [1/2, 2], t_c within
//      [kMinTemperature, LstmConfig::kMaxTemperature]; channels that do not
//      move in `real`, spread below kStill, go to the minimum);
//   3. per channel, the candidate whose rollouts have the channel's mean
//      absolute second difference (ChannelAcceleration) closest to `real`'s
//      in log ratio, with its temperature; then kRefinements more spread
//      updates with the chosen correlations (the channels interact a little
//      through the network).
// The jaw of GRID speech, for example, needs correlated draws (i.i.d. ones
// move it 1.5x as jerkily as the tracked clips); channels whose tracked
// motion is mostly fit jitter keep i.i.d. draws.
// Every stage draws from torch's generator: deterministic after its seed.
void CalibrateSamplingTemperatures(internal::DynamicsLstm& net, const std::vector<const DynamicsSequence*>& real,
                                   int max_sequences) {
  torch::NoGradGuard no_grad;
  // The longest sequences (whole GRID clips), all cut to the shortest of them.
  std::vector<const DynamicsSequence*> longest = real;
  std::stable_sort(longest.begin(), longest.end(), [](auto* a, auto* b) { return a->size() > b->size(); });
  const int n = std::min<int>(max_sequences, static_cast<int>(longest.size()));
  if (n == 0) return;
  const int frames = static_cast<int>(longest[n - 1]->size());
  torch::Tensor truth = torch::empty({n, frames, kStateDim});
  for (int i = 0; i < n; ++i) {
    WriteWindow(*longest[i], 0, frames, truth.data_ptr<float>() + static_cast<int64_t>(i) * frames * kStateDim);
  }
  const auto want = Spread(truth);
  // Rollouts 3x as long, their spread taken over stretches as long as the
  // real sequences (as eval-predictor measures it).
  constexpr int kSeeds = 4, kStretches = 3, kRefinements = 6;
  constexpr double kMinTemperature = 0.02, kStill = 1e-5;
  constexpr double kCorrelations[] = {0.0, 0.25, 0.5, 0.7};
  const torch::Tensor x0 = truth.select(1, 0).repeat({kSeeds, 1});
  auto rollouts = [&](const torch::Tensor& temperature, const torch::Tensor& rho) {
    return SampledRollouts(net, x0, kStretches * frames, temperature, rho).reshape({-1, frames, kStateDim});
  };
  auto cost = [](double got, double wanted) {
    return std::pow(std::log(std::max(got, 1e-9) / std::max(wanted, 1e-9)), 2);
  };
  const torch::Tensor iid = torch::zeros({kStateDim});
  double best_pose = 1e300, best_expr = 1e300, pose_t = 1.0, expr_t = 1.0;
  // The groups interact little (one shared component draw); each temperature
  // is scanned with the other group at the same value.
  for (double t : {1.0, 0.8, 0.65, 0.5, 0.4, 0.32, 0.25, 0.2, 0.16, 0.12, 0.09, 0.06}) {
    const auto got = Spread(rollouts(torch::full({kStateDim}, static_cast<float>(t)), iid));
    const double pose = cost(got[0], want[0]) + cost(got[1], want[1]), expr = cost(got[2], want[2]);
    if (pose < best_pose) {
      best_pose = pose;
      pose_t = t;
    }
    if (expr < best_expr) {
      best_expr = expr;
      expr_t = t;
    }
  }
  torch::Tensor start = torch::full({kStateDim}, static_cast<float>(expr_t));
  start.slice(0, 0, 6).fill_(static_cast<float>(pose_t));
  const torch::Tensor wanted = ChannelSpread(truth);
  const torch::Tensor moves = wanted > kStill;
  // Spread updates from `temperature` with correlations `rho`; returns the
  // temperatures and the last rollouts' per-channel acceleration.
  auto refine = [&](torch::Tensor temperature, const torch::Tensor& rho) {
    torch::Tensor got;
    for (int r = 0; r <= kRefinements; ++r) {
      got = rollouts(temperature, rho);
      if (r == kRefinements) break;
      const torch::Tensor ratio = wanted.clamp_min(1e-9) / ChannelSpread(got).clamp_min(1e-9);
      const torch::Tensor factor = ratio.pow(0.8).clamp(0.5, 2.0);
      temperature = torch::where(moves, temperature * factor, torch::full_like(temperature, kMinTemperature))
                        .clamp(kMinTemperature, internal::LstmConfig::kMaxTemperature);
    }
    return std::pair(temperature, ChannelAcceleration(got));
  };
  const torch::Tensor wanted_acceleration = ChannelAcceleration(truth).clamp_min(1e-9);
  torch::Tensor best_cost = torch::full({kStateDim}, 1e30f), temperature = start.clone(), rho = iid.clone();
  for (double candidate : kCorrelations) {
    const auto [t, acceleration] = refine(start, torch::full({kStateDim}, static_cast<float>(candidate)));
    const torch::Tensor c = (acceleration.clamp_min(1e-9) / wanted_acceleration).log().pow(2);
    const torch::Tensor better = c < best_cost;
    best_cost = torch::where(better, c, best_cost);
    temperature = torch::where(better, t, temperature);
    rho = torch::where(better, torch::full_like(rho, candidate), rho);
  }
  temperature = refine(temperature, rho).first;
  for (int i = 0; i < kStateDim; ++i) {
    net->config.temperature[i] = temperature[i].item<double>();
    net->config.noise_correlation[i] = rho[i].item<double>();
  }
}

}  // namespace

SamplingCalibration TrainPredictor(const std::vector<DynamicsSequence>& grid,
                                   const std::vector<DynamicsSequence>& procedural,
                                   const face3d::MorphableModel& model, const PredictorTrainingOptions& o,
                                   const std::function<void(const PredictorTrainingLog&)>& log) {
  Require(!o.out.empty(), "out (the weights file) is required");
  Require(o.steps >= 1, "steps must be >= 1");
  Require(o.batch >= 1, "batch must be >= 1");
  Require(o.window >= 12, "window must be >= 12");
  Require(o.horizon >= 1 && o.horizon < o.window - 1, "horizon must be in [1, window - 2]");
  Require(o.learning_rate > 0, "learning_rate must be > 0");
  Require(o.procedural_share >= 0 && o.procedural_share <= 1, "procedural_share must be in [0, 1]");
  Require(o.target_share >= 0 && o.target_share <= 1, "target_share must be in [0, 1]");
  Require(o.expression_l1_weight >= 0, "expression_l1_weight must be >= 0");
  Require(o.hidden >= 8, "hidden must be >= 8");
  Require(o.components >= 1, "components must be >= 1");
  Require(o.fps > 0, "fps must be > 0");
  Require(o.num_threads >= 1, "num_threads must be >= 1");
  Require(o.log_every >= 1, "log_every must be >= 1");

  std::vector<const DynamicsSequence*> grid_ok, proc_ok;
  for (const auto& s : grid) if (static_cast<int>(s.size()) >= o.window) grid_ok.push_back(&s);
  for (const auto& s : procedural) if (static_cast<int>(s.size()) >= o.window) proc_ok.push_back(&s);
  if (grid_ok.empty() && proc_ok.empty()) {
    throw std::invalid_argument("TrainPredictor: no sequence is at least window = " + std::to_string(o.window) +
                                " frames long");
  }
  const double proc_share = grid_ok.empty() ? 1.0 : proc_ok.empty() ? 0.0 : o.procedural_share;

  at::set_num_threads(o.num_threads);
  torch::manual_seed(o.seed);
  std::mt19937_64 rng(o.seed);
  auto uniform_int = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto uniform = [&]() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); };

  const int64_t b = o.batch, l = o.window, d = kStateDim;
  auto sample_windows = [&](int64_t count) {
    torch::Tensor w = torch::empty({count, l, d});
    for (int64_t i = 0; i < count; ++i) {
      const bool proc = uniform() < proc_share;
      const auto& pool = proc ? proc_ok : grid_ok;
      const DynamicsSequence& seq = *pool[uniform_int(0, static_cast<int>(pool.size()) - 1)];
      WriteWindow(seq, uniform_int(0, static_cast<int>(seq.size()) - o.window), o.window,
                  w.data_ptr<float>() + i * l * d);
    }
    return w;
  };

  internal::LstmConfig config;
  config.hidden = o.hidden;
  config.components = o.components;
  config.fps = o.fps;
  internal::DynamicsLstm net(config);
  const VertexModel vertices = VertexModel::Create(model);

  // Normalisation and the vertex-motion scale from a sample of windows.
  double vertex_scale = 1.0;
  {
    torch::NoGradGuard no_grad;
    const torch::Tensor w = sample_windows(1024);
    const torch::Tensor states = w.reshape({-1, d});
    const torch::Tensor steps = (w.slice(1, 1, l) - w.slice(1, 0, l - 1)).reshape({-1, d});
    torch::Tensor state_floor = torch::full({d}, 0.02f), step_floor = torch::full({d}, 0.004f);
    state_floor.slice(0, 0, 3).fill_(0.01f);
    state_floor.slice(0, 3, 6).fill_(0.1f);
    step_floor.slice(0, 0, 3).fill_(0.001f);
    step_floor.slice(0, 3, 6).fill_(0.01f);
    net->state_mean.copy_(states.mean(0));
    net->state_mean.slice(0, 0, 6).zero_();  // Pose is relative to frame 0.
    net->state_std.copy_(torch::max(states.std(0), state_floor));
    net->delta_std.copy_(torch::max(steps.std(0), step_floor));
    const torch::Tensor a = w.slice(1, 0, l - 1).reshape({-1, d}).slice(0, 0, 4096);
    const torch::Tensor c = w.slice(1, 1, l).reshape({-1, d}).slice(0, 0, 4096);
    vertex_scale = std::max(1e-4, VertexSq(vertices, a, c).mean().item<double>());
    // The still gate starts at each channel's share of still steps where
    // constant velocity lands inside (0, 1) (bias) and on a bound (bias +
    // bound gain), as log-odds of shares clamped to [0.018, 0.982].
    const torch::Tensor e = w.slice(2, 6, kStateDim);
    const torch::Tensor raw = 2 * e.slice(1, 1, l - 1) - e.slice(1, 0, l - 2);
    const torch::Tensor still =
        ((e.slice(1, 2, l) - raw.clamp(0.0, 1.0)).abs() < kStillTolerance).to(torch::kFloat);
    const torch::Tensor bound =
        ((raw <= internal::kBoundTolerance) | (raw >= 1.0 - internal::kBoundTolerance)).to(torch::kFloat);
    auto log_odds = [](const torch::Tensor& hits, const torch::Tensor& cases) {
      const torch::Tensor share = ((hits + 0.5) / (cases + 1.0)).clamp(0.018, 0.982);
      return torch::log(share / (1 - share));
    };
    const int64_t ne = face3d::kNumExpressionShapes;
    const torch::Tensor inside = log_odds(((1 - bound) * still).reshape({-1, ne}).sum(0),
                                          (1 - bound).reshape({-1, ne}).sum(0));
    const torch::Tensor on_bound = log_odds((bound * still).reshape({-1, ne}).sum(0), bound.reshape({-1, ne}).sum(0));
    net->still_head->bias.copy_(inside);
    net->still_bound_gain.copy_(on_bound - inside);
  }

  torch::optim::Adam optimizer(net->parameters(), torch::optim::AdamOptions(o.learning_rate));
  PredictorTrainingLog sum;
  int logged = 0;
  for (int step = 1; step <= o.steps; ++step) {
    const double progress = static_cast<double>(step - 1) / o.steps;
    const double lr = o.learning_rate * (0.1 + 0.9 * 0.5 * (1 + std::cos(std::numbers::pi * progress)));
    for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);

    const torch::Tensor w = sample_windows(b);
    const int p = uniform_int(0, std::min(10, o.window - 7));
    torch::Tensor flag = torch::zeros({b}), big_t = torch::ones({b}), target = torch::zeros({b, d});
    torch::Tensor end = torch::full({b}, static_cast<float>(std::min(p + 1 + o.horizon, o.window - 1)));
    for (int64_t i = 0; i < b; ++i) {
      if (uniform() < o.target_share) {
        const int t = uniform_int(p + 3, o.window - 1);
        flag[i] = 1.0f;
        big_t[i] = static_cast<float>(t);
        end[i] = static_cast<float>(t);
        target[i] = w[i][t];
      }
    }
    const int fr_end = static_cast<int>(end.max().item<float>());

    // Teacher-forced pass.
    internal::LstmState state = net->ZeroState(b), at_p;
    torch::Tensor nll = torch::zeros({}), coef = torch::zeros({}), still = torch::zeros({}), mean_at_p;
    std::vector<torch::Tensor> pred_next, true_next;
    for (int t = 0; t < o.window - 1; ++t) {
      const torch::Tensor x = w.select(1, t), prev = t > 0 ? w.select(1, t - 1) : x;
      const torch::Tensor tt = torch::full({b}, static_cast<float>(t));
      const torch::Tensor f = flag * (tt < big_t).to(torch::kFloat);
      const auto out = net->Step(internal::MakeInput(net, x, prev, target, f, tt, big_t), state);
      const torch::Tensor y = (w.select(1, t + 1) - x) / net->delta_std;
      nll = nll + MixtureNll(out, y);
      // The still gate's label: the true next weight is the clamped
      // constant-velocity one.
      const torch::Tensor cv_next = (2 * x - prev).slice(1, 6, kStateDim).clamp(0.0, 1.0);
      const torch::Tensor is_still =
          ((w.select(1, t + 1).slice(1, 6, kStateDim) - cv_next).abs() < kStillTolerance).to(torch::kFloat);
      still = still + torch::binary_cross_entropy_with_logits(out.still_logits, is_still);
      const torch::Tensor m = out.Expected();
      // L2 on all channels plus L1 on the expression channels (weight
      // expression_l1_weight): the tracked weights' steps are heavy-tailed
      // (smooth stretches that follow their velocity, rare large jumps), so
      // the L2-optimal step damps the velocity while the L1-optimal one, the
      // conditional median, keeps it; the mean absolute error that the
      // forecasts are judged by favours the median.
      coef = coef + (m - y).pow(2).mean() + o.expression_l1_weight * (m - y).slice(1, 6, kStateDim).abs().mean();
      pred_next.push_back(internal::ApplyStep(net, x, m));
      true_next.push_back(w.select(1, t + 1));
      if (t == p) {
        at_p = state;
        mean_at_p = m;
      }
    }
    nll = nll / (o.window - 1);
    coef = coef / (o.window - 1);
    still = still / (o.window - 1);
    const torch::Tensor vertex =
        VertexSq(vertices, torch::cat(pred_next, 0), torch::cat(true_next, 0)).mean() / vertex_scale;

    // Free-running pass from frame p (the expected path).
    std::vector<torch::Tensor> path = {p > 0 ? w.select(1, p - 1) : w.select(1, p), w.select(1, p)};
    path.push_back(internal::ApplyStep(net, w.select(1, p), mean_at_p));
    for (int t = p + 1; t < fr_end; ++t) {
      const torch::Tensor tt = torch::full({b}, static_cast<float>(t));
      const torch::Tensor f = flag * (tt < big_t).to(torch::kFloat);
      const torch::Tensor x = path.back(), prev = path[path.size() - 2];
      const auto out = net->Step(internal::MakeInput(net, x, prev, target, f, tt, big_t), at_p);
      path.push_back(internal::ApplyStep(net, x, out.Expected()));
    }
    // path[j] is frame p + j - 1 (path[0]: frame p - 1, or p when p == 0).
    torch::Tensor free_coef = torch::zeros({}), free_vertex = torch::zeros({}), target_term = torch::zeros({}),
                  smooth = torch::zeros({});
    torch::Tensor count = torch::zeros({});
    for (size_t j = 2; j < path.size(); ++j) {
      const int t = p + static_cast<int>(j) - 1;
      const torch::Tensor valid = (torch::full({b}, static_cast<float>(t)) <= end).to(torch::kFloat);
      const torch::Tensor truth = w.select(1, t);
      free_coef = free_coef + (valid * ((path[j] - truth) / net->state_std).pow(2).mean(1)).sum();
      free_vertex = free_vertex + (valid * VertexSq(vertices, path[j], truth)).sum();
      const torch::Tensor accel = (path[j] - 2 * path[j - 1] + path[j - 2]) / net->delta_std;
      smooth = smooth + (valid * accel.pow(2).mean(1)).sum();
      const torch::Tensor at_target = flag * (big_t == static_cast<float>(t)).to(torch::kFloat);
      target_term = target_term + (at_target * VertexSq(vertices, path[j], target)).sum();
      count = count + valid.sum();
    }
    free_coef = free_coef / count;
    free_vertex = free_vertex / count / vertex_scale;
    smooth = smooth / count;
    target_term = target_term / flag.sum().clamp_min(1.0) / vertex_scale;

    const torch::Tensor loss =
        nll + kOneStepWeight * (coef + vertex) + kStillWeight * still + 0.5 * free_coef + 0.5 * free_vertex +
        0.2 * target_term + 0.05 * smooth;
    optimizer.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(net->parameters(), 1.0);
    optimizer.step();

    sum.loss += loss.item<double>();
    sum.nll += nll.item<double>();
    sum.coef += coef.item<double>();
    sum.vertex += vertex.item<double>() * vertex_scale;
    sum.free += free_coef.item<double>();
    sum.target += target_term.item<double>() * vertex_scale;
    sum.smooth += smooth.item<double>();
    sum.still += still.item<double>();
    ++logged;
    if (step % o.log_every == 0 || step == o.steps) {
      PredictorTrainingLog avg;
      avg.step = step;
      avg.loss = sum.loss / logged;
      avg.nll = sum.nll / logged;
      avg.coef = sum.coef / logged;
      avg.vertex = sum.vertex / logged;
      avg.free = sum.free / logged;
      avg.target = sum.target / logged;
      avg.smooth = sum.smooth / logged;
      avg.still = sum.still / logged;
      if (log) log(avg);
      sum = {};
      logged = 0;
    }
  }
  net->eval();
  // Sampling temperature: spread of sampled rollouts = spread of the (GRID)
  // training sequences (dynamics_lstm.h).
  CalibrateSamplingTemperatures(net, grid_ok.empty() ? proc_ok : grid_ok, 64);
  internal::SaveWeights(net, o.out);
  return {std::vector<double>(net->config.temperature.begin(), net->config.temperature.end()),
          std::vector<double>(net->config.noise_correlation.begin(), net->config.noise_correlation.end())};
}

}  // namespace faceanime::predict
