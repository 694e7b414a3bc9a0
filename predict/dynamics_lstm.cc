#include "predict/dynamics_lstm.h"

#include <stdexcept>

#include <fstream>
#include <string>

#include "predict/dynamics_predictor.h"

namespace faceanime::predict::internal {

torch::Tensor MixtureOut::Mean() const {
  return (torch::softmax(logits, -1).unsqueeze(-1) * means).sum(1);
}

torch::Tensor MixtureOut::Expected() const {
  if (!still_logits.defined()) throw std::logic_error("MixtureOut::Expected: the step ran without the still gate");
  const torch::Tensor m = Mean();
  const torch::Tensor still = (still_logits > 0).detach();
  return torch::cat({m.slice(1, 0, 6), torch::where(still, velocity.slice(1, 6, kStateDim), m.slice(1, 6, kStateDim))},
                    1);
}

DynamicsLstmImpl::DynamicsLstmImpl(const LstmConfig& c) : config(c) {
  cell = register_module("cell", torch::nn::LSTMCell(kInputDim, c.hidden));
  hidden_layer = register_module("hidden_layer", torch::nn::Linear(c.hidden, c.hidden));
  head = register_module("head", torch::nn::Linear(c.hidden, c.components * (1 + 2 * kStateDim)));
  still_head = register_module("still_head", torch::nn::Linear(c.hidden, face3d::kNumExpressionShapes));
  still_bound_gain = register_parameter("still_bound_gain", torch::zeros({face3d::kNumExpressionShapes}));
  velocity_gain = register_parameter("velocity_gain", torch::full({kStateDim}, 1.0f));
  state_mean = register_buffer("state_mean", torch::zeros({kStateDim}));
  state_std = register_buffer("state_std", torch::ones({kStateDim}));
  delta_std = register_buffer("delta_std", torch::ones({kStateDim}));
  // Start near "no motion": small output weights, so the first steps of
  // training predict small steps.
  {
    torch::NoGradGuard no_grad;
    head->weight.mul_(0.1);
    head->bias.zero_();
    // The gate starts at "moving" (P(still) ~ 0.12): the mixture's mean
    // (training sets the bias from the data).
    still_head->weight.mul_(0.1);
    still_head->bias.fill_(-2.0);
  }
}

LstmState DynamicsLstmImpl::ZeroState(int64_t batch) const {
  return {torch::zeros({batch, config.hidden}), torch::zeros({batch, config.hidden})};
}

MixtureOut DynamicsLstmImpl::Step(const torch::Tensor& input, LstmState& state, bool with_gate) {
  auto [h, c] = cell->forward(input, std::make_tuple(state.h, state.c));
  state.h = h;
  state.c = c;
  const torch::Tensor features = torch::tanh(hidden_layer->forward(h));
  const torch::Tensor y = head->forward(features);
  const int64_t b = input.size(0), k = config.components;
  MixtureOut out;
  out.logits = y.slice(1, 0, k);
  const torch::Tensor velocity = input.slice(1, kStateDim, 2 * kStateDim);
  out.velocity = velocity;
  out.means = y.slice(1, k, k + k * kStateDim).view({b, k, kStateDim}) + (velocity_gain * velocity).unsqueeze(1);
  out.log_sigma = y.slice(1, k + k * kStateDim, k + 2 * k * kStateDim).view({b, k, kStateDim}).clamp(-7.0, 3.0);
  if (!with_gate) return out;
  // 1 where constant velocity's next expression weight (state units) lands
  // on a bound. A mask (no gradient), computed in a plain loop: as tensor
  // operations it was a dozen small kernels per step.
  constexpr int kExpr = face3d::kNumExpressionShapes;
  const torch::Tensor in = input.detach().to(torch::kFloat).contiguous();
  const torch::Tensor mean = state_mean.detach().contiguous(), std = state_std.detach().contiguous(),
                      dstd = delta_std.detach().contiguous();
  torch::Tensor at_bound = torch::empty({b, kExpr});
  {
    const float* pin = in.data_ptr<float>();
    const float *pm = mean.data_ptr<float>(), *ps = std.data_ptr<float>(), *pd = dstd.data_ptr<float>();
    float* pa = at_bound.data_ptr<float>();
    for (int64_t r = 0; r < b; ++r) {
      const float* row = pin + r * in.size(1);
      for (int j = 0; j < kExpr; ++j) {
        const int c = 6 + j;
        const float cv = row[c] * ps[c] + pm[c] + row[kStateDim + c] * pd[c];
        pa[r * kExpr + j] = cv <= kBoundTolerance || cv >= 1.0 - kBoundTolerance ? 1.0f : 0.0f;
      }
    }
  }
  out.still_logits = torch::addcmul(still_head->forward(features), still_bound_gain, at_bound);
  return out;
}

void ToState(const Dynamics& d, float* x) {
  for (int i = 0; i < 3; ++i) {
    x[i] = static_cast<float>(d.rotation[i]);
    x[3 + i] = static_cast<float>(d.translation[i]);
  }
  for (int j = 0; j < face3d::kNumExpressionShapes; ++j) x[6 + j] = static_cast<float>(d.expression[j]);
}

Dynamics FromState(const float* x) {
  Dynamics d;
  for (int i = 0; i < 3; ++i) {
    d.rotation[i] = x[i];
    d.translation[i] = x[3 + i];
  }
  for (int j = 0; j < face3d::kNumExpressionShapes; ++j) d.expression[j] = x[6 + j];
  return d;
}

torch::Tensor MakeInput(const DynamicsLstm& model, const torch::Tensor& x, const torch::Tensor& prev,
                        const torch::Tensor& target, const torch::Tensor& flag, const torch::Tensor& t,
                        const torch::Tensor& big_t) {
  const torch::Tensor f = flag.unsqueeze(1);
  const torch::Tensor left = (big_t - t).clamp_min(0.0);
  const torch::Tensor timer = torch::stack({(t / big_t.clamp_min(1.0)).clamp(0.0, 1.0), left / 25.0,
                                            1.0 / (1.0 + left)},
                                           1);
  return torch::cat({(x - model->state_mean) / model->state_std, (x - prev) / model->delta_std, f,
                     f * (target - x) / model->state_std, f * timer},
                    1);
}

torch::Tensor ApplyStep(const DynamicsLstm& model, const torch::Tensor& x, const torch::Tensor& step) {
  return ClampExpression(x + step * model->delta_std);
}

torch::Tensor ClampExpression(const torch::Tensor& x) {
  return torch::cat({x.slice(1, 0, 6), x.slice(1, 6, kStateDim).clamp(0.0, 1.0)}, 1);
}

void SaveWeights(DynamicsLstm& model, const std::filesystem::path& path) {
  torch::serialize::OutputArchive archive;
  archive.write("faceanime_version", torch::tensor({kWeightsVersion}, torch::kInt64));
  archive.write("config", torch::tensor({static_cast<double>(model->config.hidden),
                                         static_cast<double>(model->config.components), model->config.fps},
                                        torch::kFloat64));
  auto per_channel = [](const std::array<double, kStateDim>& a) {
    return torch::tensor(std::vector<double>(a.begin(), a.end()), torch::kFloat64);
  };
  archive.write("temperature", per_channel(model->config.temperature));
  archive.write("noise_correlation", per_channel(model->config.noise_correlation));
  torch::serialize::OutputArchive module_archive;
  model->save(module_archive);
  archive.write("model", module_archive);
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  archive.save_to(path.string());
}

DynamicsLstm LoadWeights(const std::filesystem::path& path) {
  const std::string fix = std::string(". Restore the committed file (git checkout assets/predictor) or retrain: ") +
                          kTrainCommand;
  if (!std::filesystem::is_regular_file(path)) {
    throw PredictorModelError("predictor weights '" + path.string() + "' not found" + fix);
  }
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path.string());
    torch::Tensor version, config;
    if (!archive.try_read("faceanime_version", version) || !archive.try_read("config", config)) {
      throw PredictorModelError("'" + path.string() + "' is not a faceanime predictor weights file" + fix);
    }
    if (version.numel() != 1 || version.item<int64_t>() != kWeightsVersion) {
      throw PredictorModelError("predictor weights '" + path.string() + "' have format version " +
                                std::to_string(version.numel() == 1 ? version.item<int64_t>() : -1) +
                                ", this build reads version " + std::to_string(kWeightsVersion) + fix);
    }
    if (config.numel() != 3) throw PredictorModelError("'" + path.string() + "': bad config record" + fix);
    const auto c = config.to(torch::kFloat64);
    LstmConfig lc;
    lc.hidden = static_cast<int64_t>(c[0].item<double>());
    lc.components = static_cast<int64_t>(c[1].item<double>());
    lc.fps = c[2].item<double>();
    // Per-channel sampling records (see "Sampling temperature" in the
    // header): true when present, kStateDim long and each value in (lo, hi]
    // (or [lo, hi] when `closed`).
    auto read_channels = [&](const char* name, double lo, double hi, bool closed, std::array<double, kStateDim>& out) {
      torch::Tensor t;
      if (!archive.try_read(name, t) || t.numel() != kStateDim) return false;
      const auto v = t.to(torch::kFloat64).contiguous();
      for (int i = 0; i < kStateDim; ++i) {
        out[i] = v.data_ptr<double>()[i];
        if (!(out[i] <= hi && (out[i] > lo || (closed && out[i] == lo)))) return false;
      }
      return true;
    };
    if (!read_channels("temperature", 0.0, LstmConfig::kMaxTemperature, false, lc.temperature) ||
        !read_channels("noise_correlation", 0.0, LstmConfig::kMaxNoiseCorrelation, true, lc.noise_correlation)) {
      throw PredictorModelError("'" + path.string() + "': missing or implausible sampling record" + fix);
    }
    if (lc.hidden < 1 || lc.hidden > 4096 || lc.components < 1 || lc.components > 64 || !(lc.fps > 0)) {
      throw PredictorModelError("'" + path.string() + "': implausible config record" + fix);
    }
    DynamicsLstm model(lc);
    torch::serialize::InputArchive module_archive;
    if (!archive.try_read("model", module_archive)) {
      throw PredictorModelError("'" + path.string() + "' has no model record" + fix);
    }
    model->load(module_archive);
    model->eval();
    for (const auto& p : model->parameters()) {
      if (!torch::isfinite(p).all().item<bool>()) {
        throw PredictorModelError("'" + path.string() + "' holds non-finite weights" + fix);
      }
    }
    return model;
  } catch (const PredictorModelError&) {
    throw;
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (const auto nl = what.find('\n'); nl != std::string::npos) what.resize(nl);
    throw PredictorModelError("cannot read predictor weights '" + path.string() + "' (corrupt or truncated: " +
                              what + ")" + fix);
  }
}

}  // namespace faceanime::predict::internal
