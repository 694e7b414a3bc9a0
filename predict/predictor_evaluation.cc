#include "predict/predictor_evaluation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <numbers>
#include <stdexcept>

#include <Eigen/Geometry>

namespace faceanime::predict {
namespace {

constexpr double kRadToDeg = 180.0 / std::numbers::pi;

// Vertex subset in camera axes, millimetres.
class VertexEval {
 public:
  explicit VertexEval(const face3d::MorphableModel& model) {
    std::vector<int> ids(model.landmark_vertices().begin(), model.landmark_vertices().end());
    const auto& fit = model.fitting_vertices();
    const size_t stride = std::max<size_t>(1, fit.size() / 200);
    for (size_t i = 0; i < fit.size(); i += stride) ids.push_back(fit[i]);
    basis_ = face3d::SubsetBasis::Create(model, ids);
  }
  Eigen::Matrix3Xd operator()(const Dynamics& d) const {
    Eigen::VectorXd e(face3d::kNumExpressionShapes);
    for (int j = 0; j < face3d::kNumExpressionShapes; ++j) e[j] = d.expression[j];
    const Eigen::VectorXd p = basis_.mean + basis_.expression * e;
    const Eigen::Map<const Eigen::Matrix3Xd> pts(p.data(), 3, basis_.size());
    const double a = d.rotation.norm();
    const Eigen::Matrix3d r =
        a < 1e-12 ? Eigen::Matrix3d::Identity() : Eigen::AngleAxisd(a, d.rotation / a).toRotationMatrix();
    return 10.0 * (((r * face3d::ModelToCamera()) * pts).colwise() + d.translation);
  }

 private:
  face3d::SubsetBasis basis_;
};

// Mean per-vertex distance (mm).
double VertexDist(const Eigen::Matrix3Xd& a, const Eigen::Matrix3Xd& b) { return (a - b).colwise().norm().mean(); }

double ExprMae(const Dynamics& a, const Dynamics& b) {
  double s = 0;
  for (int j = 0; j < face3d::kNumExpressionShapes; ++j) s += std::abs(a.expression[j] - b.expression[j]);
  return s / face3d::kNumExpressionShapes;
}

double RotDeg(const Dynamics& a, const Dynamics& b) {
  auto m = [](const Eigen::Vector3d& r) {
    const double n = r.norm();
    return n < 1e-12 ? Eigen::Matrix3d::Identity() : Eigen::AngleAxisd(n, r / n).toRotationMatrix();
  };
  return Eigen::AngleAxisd(m(a.rotation) * m(b.rotation).transpose()).angle() * kRadToDeg;
}

struct Accum {
  double vertex = 0, expr = 0, rot = 0, trans = 0;
  // expr split by whether the channel's true next weight is the clamped
  // constant-velocity one (within kStillTolerance): the two add up to expr.
  double expr_still = 0, expr_moving = 0;
  bool split = false;
  int n = 0;
  // `cv`: the constant-velocity prediction, to split the expression error.
  void Add(const VertexEval& ve, const Dynamics& pred, const Dynamics& truth, const Dynamics* cv = nullptr) {
    vertex += VertexDist(ve(pred), ve(truth));
    expr += ExprMae(pred, truth);
    rot += RotDeg(pred, truth);
    trans += 10.0 * (pred.translation - truth.translation).norm();
    if (cv != nullptr) {
      split = true;
      for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
        const double e = std::abs(pred.expression[j] - truth.expression[j]) / face3d::kNumExpressionShapes;
        (std::abs(cv->expression[j] - truth.expression[j]) < kStillTolerance ? expr_still : expr_moving) += e;
      }
    }
    ++n;
  }
  EvalRow Row(const std::string& method) const {
    const double k = std::max(1, n);
    EvalRow row{method,
                {{"vertex_mm", vertex / k}, {"expr_mae", expr / k}, {"rot_deg", rot / k}, {"trans_mm", trans / k}}};
    if (split) {
      row.values["expr_mae_still"] = expr_still / k;
      row.values["expr_mae_moving"] = expr_moving / k;
    }
    return row;
  }
};

Dynamics Extrapolate(const Dynamics& cur, const Dynamics& prev, int h) {
  Dynamics d = cur;
  d.rotation = cur.rotation + h * (cur.rotation - prev.rotation);
  d.translation = cur.translation + h * (cur.translation - prev.translation);
  for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
    d.expression[j] = std::clamp(cur.expression[j] + h * (cur.expression[j] - prev.expression[j]), 0.0, 1.0);
  }
  return d;
}

// Sequence re-expressed relative to its frame `start` (frames start..end).
DynamicsSequence Segment(const DynamicsSequence& seq, int start, int end) {
  face3d::FaceParams anchor;
  anchor = ApplyDynamics(anchor, seq[start]);
  DynamicsSequence out;
  for (int t = start; t <= end; ++t) out.push_back(RelativeDynamics(ApplyDynamics(face3d::FaceParams{}, seq[t]), anchor));
  return out;
}

// RMS third difference of the vertex path (mm / frame^3).
double JerkRms(const VertexEval& ve, const DynamicsSequence& seq) {
  if (seq.size() < 4) return 0;
  std::vector<Eigen::Matrix3Xd> v;
  for (const auto& d : seq) v.push_back(ve(d));
  double s = 0;
  int n = 0;
  for (size_t t = 3; t < v.size(); ++t) {
    const Eigen::Matrix3Xd j = v[t] - 3 * v[t - 1] + 3 * v[t - 2] - v[t - 3];
    s += j.colwise().squaredNorm().mean();
    ++n;
  }
  return std::sqrt(s / n);
}

// Overshoot (mm) of a path past its end, along the start -> end direction of
// the stacked vertex vector; 0 when it never passes the end.
double Overshoot(const VertexEval& ve, const DynamicsSequence& path) {
  const Eigen::Matrix3Xd v0 = ve(path.front()), v1 = ve(path.back());
  const Eigen::Matrix3Xd dir = v1 - v0;
  const double len = dir.norm();
  if (len < 1e-9) return 0;
  double best = 0;
  for (const auto& d : path) best = std::max(best, ((ve(d) - v0).cwiseProduct(dir)).sum() / len - len);
  // Per-vertex mean scale: the stacked norm grows with sqrt(#vertices).
  return best / std::sqrt(static_cast<double>(dir.cols()));
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))];
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / v.size();
}

struct MotionStats {
  std::vector<double> blink_per_min, blink_peak, jaw_mean, jaw_std, jaw_speed, jaw_accel, mouth_mean, yaw_std_deg,
      expr_std, jerk;
  void Add(const VertexEval& ve, const DynamicsSequence& seq, int blink_l, int blink_r, int jaw,
           const std::vector<int>& mouth, double fps, double blink_threshold) {
    int blinks = 0;
    double peak = 0;
    double jm = 0, jm2 = 0, js = 0, ja = 0, mm = 0, yaw = 0, yaw2 = 0;
    std::vector<double> e_mean(face3d::kNumExpressionShapes, 0), e_m2(face3d::kNumExpressionShapes, 0);
    const int n = static_cast<int>(seq.size());
    for (int t = 0; t < n; ++t) {
      const auto& e = seq[t].expression;
      if (t > 0) {
        const double b = 0.5 * (e[blink_l] + e[blink_r]);
        const double bp = 0.5 * (seq[t - 1].expression[blink_l] + seq[t - 1].expression[blink_r]);
        if (b >= blink_threshold && bp < blink_threshold) ++blinks;
        peak = std::max(peak, b);
        js += std::abs(e[jaw] - seq[t - 1].expression[jaw]);
      }
      if (t > 1) ja += std::abs(e[jaw] - 2 * seq[t - 1].expression[jaw] + seq[t - 2].expression[jaw]);
      jm += e[jaw];
      jm2 += e[jaw] * e[jaw];
      for (int m : mouth) mm += e[m] / mouth.size();
      const double y = seq[t].rotation.y() * kRadToDeg;
      yaw += y;
      yaw2 += y * y;
      for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
        e_mean[j] += e[j];
        e_m2[j] += e[j] * e[j];
      }
    }
    blink_per_min.push_back(blinks / (n / fps / 60.0));
    blink_peak.push_back(peak);
    jaw_mean.push_back(jm / n);
    jaw_std.push_back(std::sqrt(std::max(0.0, jm2 / n - (jm / n) * (jm / n))));
    jaw_speed.push_back(js / std::max(1, n - 1));
    jaw_accel.push_back(ja / std::max(1, n - 2));
    mouth_mean.push_back(mm / n);
    yaw_std_deg.push_back(std::sqrt(std::max(0.0, yaw2 / n - (yaw / n) * (yaw / n))));
    double es = 0;
    for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
      es += std::sqrt(std::max(0.0, e_m2[j] / n - (e_mean[j] / n) * (e_mean[j] / n)));
    }
    expr_std.push_back(es / face3d::kNumExpressionShapes);
    jerk.push_back(JerkRms(ve, seq));
  }
  // One row: each statistic reduced over the sequences by `reduce` (Mean,
  // or a percentile for the range of the real clips).
  EvalRow Row(const std::string& method,
              const std::function<double(const std::vector<double>&)>& reduce = Mean) const {
    return {method,
            {{"blinks_per_min", reduce(blink_per_min)},
             {"blink_peak_mean", reduce(blink_peak)},
             {"jaw_open_mean", reduce(jaw_mean)},
             {"jaw_open_std", reduce(jaw_std)},
             {"jaw_speed_per_frame", reduce(jaw_speed)},
             {"jaw_accel_per_frame2", reduce(jaw_accel)},
             {"mouth_mean", reduce(mouth_mean)},
             {"yaw_std_deg", reduce(yaw_std_deg)},
             {"expr_std", reduce(expr_std)},
             {"jerk_mm", reduce(jerk)}}};
  }
};

std::string Table(const std::string& title, const std::vector<EvalRow>& rows) {
  if (rows.empty()) return "";
  std::string s = "### " + title + "\n\n| method |";
  for (const auto& [k, v] : rows[0].values) s += " " + k + " |";
  s += "\n|---|";
  for (size_t i = 0; i < rows[0].values.size(); ++i) s += "---:|";
  s += "\n";
  for (const auto& r : rows) {
    s += "| " + r.method + " |";
    for (const auto& [k, v] : r.values) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), " %.4g |", v);
      s += buf;
    }
    s += "\n";
  }
  return s + "\n";
}

std::string JsonRows(const std::vector<EvalRow>& rows) {
  std::string s = "[";
  for (size_t i = 0; i < rows.size(); ++i) {
    s += (i ? ", " : "") + std::string("{\"method\": \"") + rows[i].method + "\"";
    for (const auto& [k, v] : rows[i].values) {
      char buf[96];
      std::snprintf(buf, sizeof(buf), ", \"%s\": %.6g", k.c_str(), v);
      s += buf;
    }
    s += "}";
  }
  return s + "]";
}

}  // namespace

std::string PredictorEvaluation::Markdown() const {
  char head[128];
  std::snprintf(head, sizeof(head), "%d held-out sequences, %d frames.\n\n", sequences, frames);
  return head + Table("Next frame (mean error)", next_frame) + Table("10 frames ahead (mean error)", ahead10) +
         Table("Target-driven (T = 10, 25, 40 frames)", target) + Table("Video prediction statistics", video) +
         Table("Online: simulated latency, error of the displayed state", online) +
         Table("Online: dropout (largest frame-to-frame output step around the gap)", dropout) +
         Table("Blink rate", blinks);
}

std::string PredictorEvaluation::Json() const {
  return "{\"sequences\": " + std::to_string(sequences) + ", \"frames\": " + std::to_string(frames) +
         ", \"next_frame\": " + JsonRows(next_frame) + ", \"ahead10\": " + JsonRows(ahead10) +
         ", \"target\": " + JsonRows(target) + ", \"video\": " + JsonRows(video) +
         ", \"online\": " + JsonRows(online) + ", \"dropout\": " + JsonRows(dropout) +
         ", \"blinks\": " + JsonRows(blinks) + "}\n";
}

PredictorEvaluation EvaluatePredictor(const DynamicsPredictor& predictor, const face3d::MorphableModel& model,
                                      const std::vector<DynamicsSequence>& held_out,
                                      const PredictorEvalOptions& o) {
  if (held_out.empty()) throw std::invalid_argument("EvaluatePredictor: no held-out sequences");
  if (o.seeds < 2) throw std::invalid_argument("PredictorEvalOptions.seeds must be >= 2");
  const VertexEval ve(model);
  PredictorEvaluation r;
  r.sequences = static_cast<int>(held_out.size());
  for (const auto& s : held_out) r.frames += static_cast<int>(s.size());
  const double fps = predictor.fps();

  // 1. Forecasting: from frames 0..t, predict t + 1 and t + 10.
  constexpr int kMinHistory = 3;
  Accum lstm1, zero1, cv1, lstm10, zero10, cv10;
  for (const auto& seq : held_out) {
    const int n = static_cast<int>(seq.size());
    for (int t = kMinHistory - 1; t + 1 < n; ++t) {
      const int h = std::min(10, n - 1 - t);
      RolloutRequest req;
      req.observed.assign(seq.begin(), seq.begin() + t + 1);
      req.num_frames = t + 1 + h;
      req.randomness = 0.0;
      const auto pred = predictor.Rollout(req);
      const Dynamics cv = Extrapolate(seq[t], seq[t - 1], 1);
      lstm1.Add(ve, pred[t + 1], seq[t + 1], &cv);
      zero1.Add(ve, seq[t], seq[t + 1], &cv);
      cv1.Add(ve, cv, seq[t + 1], &cv);
      if (h == 10) {
        lstm10.Add(ve, pred[t + 10], seq[t + 10]);
        zero10.Add(ve, seq[t], seq[t + 10]);
        cv10.Add(ve, Extrapolate(seq[t], seq[t - 1], 10), seq[t + 10]);
      }
    }
  }
  r.next_frame = {lstm1.Row("lstm"), zero1.Row("zero-motion"), cv1.Row("constant-velocity")};
  r.ahead10 = {lstm10.Row("lstm"), zero10.Row("zero-motion"), cv10.Row("constant-velocity")};

  // 2. Target-driven: from frame s (re-anchored) to the real frame s + T.
  std::vector<double> err_t, expr_err_t, over_pred, over_real, jerk_pred, jerk_real;
  int cases = 0;
  for (size_t i = 0; i < held_out.size(); ++i) {
    const auto& seq = held_out[i];
    for (int big_t : {10, 25, 40}) {
      for (int s = 0; s + big_t < static_cast<int>(seq.size()); s += 30) {
        const DynamicsSequence real = Segment(seq, s, s + big_t);
        RolloutRequest req;
        req.observed = {real[0]};
        req.num_frames = big_t + 1;
        req.seed = 100 + cases;
        req.target = PredictionTarget{real.back(), big_t};
        req.randomness = o.randomness;
        const auto pred = predictor.Rollout(req);
        err_t.push_back(VertexDist(ve(pred[big_t]), ve(real.back())));
        double emax = 0;
        for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
          emax = std::max(emax, std::abs(pred[big_t].expression[j] - real.back().expression[j]));
        }
        expr_err_t.push_back(emax);
        over_pred.push_back(Overshoot(ve, pred));
        over_real.push_back(Overshoot(ve, real));
        jerk_pred.push_back(JerkRms(ve, pred));
        jerk_real.push_back(JerkRms(ve, real));
        ++cases;
      }
    }
  }
  r.target = {{"lstm", {{"cases", static_cast<double>(cases)},
                        {"err_at_T_mm_max", Percentile(err_t, 1.0)},
                        {"expr_err_at_T_max", Percentile(expr_err_t, 1.0)},
                        {"overshoot_mm_mean", Mean(over_pred)},
                        {"overshoot_mm_p95", Percentile(over_pred, 0.95)},
                        {"overshoot_mm_max", Percentile(over_pred, 1.0)},
                        {"jerk_mm_mean", Mean(jerk_pred)},
                        {"jerk_mm_p95", Percentile(jerk_pred, 0.95)}}},
              {"real GRID", {{"cases", static_cast<double>(cases)},
                             {"err_at_T_mm_max", 0.0},
                             {"expr_err_at_T_max", 0.0},
                             {"overshoot_mm_mean", Mean(over_real)},
                             {"overshoot_mm_p95", Percentile(over_real, 0.95)},
                             {"overshoot_mm_max", Percentile(over_real, 1.0)},
                             {"jerk_mm_mean", Mean(jerk_real)},
                             {"jerk_mm_p95", Percentile(jerk_real, 0.95)}}}};

  // 3. Video prediction from each held-out sequence's first frame.
  const int blink_l = model.ExpressionIndex("eyeBlink_L"), blink_r = model.ExpressionIndex("eyeBlink_R");
  const int jaw = model.ExpressionIndex("jawOpen");
  std::vector<int> mouth;
  for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
    if (model.expression_names()[j].rfind("mouth", 0) == 0) mouth.push_back(j);
  }
  MotionStats real_stats, pred_stats;
  std::vector<double> diversity;
  for (const auto& seq : held_out) {
    real_stats.Add(ve, seq, blink_l, blink_r, jaw, mouth, fps, o.blink_threshold);
    std::vector<DynamicsSequence> rolls;
    for (int k = 0; k < o.seeds; ++k) {
      RolloutRequest req;
      req.observed = {seq[0]};
      req.num_frames = o.video_frames;
      // Seeds differ between sequences too, so that the start-independent
      // parts of a rollout (the blink process) are not the same few draws.
      req.seed = static_cast<uint64_t>(1000 * (&seq - held_out.data()) + k + 1);
      req.randomness = o.randomness;
      rolls.push_back(predictor.Rollout(req));
      // Statistics over stretches as long as the real clip (spreads grow
      // with the length they are taken over; GRID clips are 3 s).
      const size_t len = std::min(seq.size(), rolls.back().size());
      for (size_t c = 0; c + len <= rolls.back().size(); c += len) {
        const DynamicsSequence chunk(rolls.back().begin() + c, rolls.back().begin() + c + len);
        pred_stats.Add(ve, chunk, blink_l, blink_r, jaw, mouth, fps, o.blink_threshold);
      }
    }
    for (int a = 0; a + 1 < o.seeds; ++a) {
      double d = 0;
      for (int t = 0; t < o.video_frames; ++t) d += VertexDist(ve(rolls[a][t]), ve(rolls[a + 1][t]));
      diversity.push_back(d / o.video_frames);
    }
  }
  EvalRow pred_row = pred_stats.Row("lstm (video prediction)");
  pred_row.values["seed_diversity_mm"] = Mean(diversity);
  pred_row.values["seed_diversity_min_mm"] = Percentile(diversity, 0.0);
  EvalRow real_row = real_stats.Row("real GRID (held out)");
  real_row.values["seed_diversity_mm"] = 0;
  real_row.values["seed_diversity_min_mm"] = 0;
  // The real clips' range, per statistic (the lowest and the highest clip).
  EvalRow real_min = real_stats.Row("real GRID, lowest clip", [](const auto& v) { return Percentile(v, 0.0); });
  EvalRow real_max = real_stats.Row("real GRID, highest clip", [](const auto& v) { return Percentile(v, 1.0); });
  for (EvalRow* row : {&real_min, &real_max}) {
    row->values["seed_diversity_mm"] = 0;
    row->values["seed_diversity_min_mm"] = 0;
  }
  r.video = {pred_row, real_row, real_min, real_max};

  // 4. Online: simulated latency (display at t the output computed from
  // frames <= t - L) and a dropout of `dropout_frames` frames.
  const auto shared = std::shared_ptr<const DynamicsPredictor>(&predictor, [](const DynamicsPredictor*) {});
  const face3d::FaceParams base;
  auto to_dyn = [&](const face3d::FaceParams& p) { return RelativeDynamics(p, base); };
  Accum lag_none, lag_pred;
  std::vector<double> real_step, jump_bridge, jump_hold, gap_err_bridge, gap_err_hold;
  const int lat = o.latency_frames;
  for (const auto& seq : held_out) {
    const int n = static_cast<int>(seq.size());
    for (int t = 1; t < n; ++t) real_step.push_back(VertexDist(ve(seq[t]), ve(seq[t - 1])));
    for (int mode = 0; mode < 2; ++mode) {
      auto online = OnlinePredictor::Create(shared, {.lookahead_frames = mode == 0 ? 0 : lat, .max_gap_frames = 10});
      std::vector<Dynamics> out;
      for (int t = 0; t < n; ++t) {
        out.push_back(to_dyn(*online->Update(t * 40'000'000LL, ApplyDynamics(base, seq[t]))));
      }
      for (int t = lat + 5; t < n; ++t) (mode == 0 ? lag_none : lag_pred).Add(ve, out[t - lat], seq[t]);
    }
    // Dropout in the middle of the sequence.
    const int k0 = n / 2 - o.dropout_frames / 2;
    if (k0 < 5 || k0 + o.dropout_frames + 8 > n) continue;
    auto online = OnlinePredictor::Create(shared, {.lookahead_frames = 0, .max_gap_frames = o.dropout_frames});
    std::vector<Eigen::Matrix3Xd> v;
    for (int t = 0; t < n; ++t) {
      const bool lost = t >= k0 && t < k0 + o.dropout_frames;
      const auto res = online->Update(t * 40'000'000LL, lost ? std::nullopt : std::optional(ApplyDynamics(base, seq[t])));
      if (!res) throw std::runtime_error("EvaluatePredictor: the online predictor did not bridge the dropout");
      v.push_back(ve(to_dyn(*res)));
      if (lost) {
        gap_err_bridge.push_back(VertexDist(v.back(), ve(seq[t])));
        gap_err_hold.push_back(VertexDist(ve(seq[k0 - 1]), ve(seq[t])));
      }
    }
    double jb = 0;
    for (int t = k0; t <= k0 + o.dropout_frames + 6; ++t) jb = std::max(jb, VertexDist(v[t], v[t - 1]));
    jump_bridge.push_back(jb);
    jump_hold.push_back(VertexDist(ve(seq[k0 + o.dropout_frames]), ve(seq[k0 - 1])));
  }
  r.online = {lag_none.Row("no prediction, latency " + std::to_string(lat)),
              lag_pred.Row("look-ahead " + std::to_string(lat) + ", latency " + std::to_string(lat))};
  const double p99 = Percentile(real_step, 0.99), pmax = Percentile(real_step, 1.0);
  auto dropout_row = [&](const std::string& name, const std::vector<double>& jumps,
                         const std::vector<double>& gap_err) {
    return EvalRow{name,
                   {{"cases", static_cast<double>(jumps.size())},
                    {"max_step_mm", Percentile(jumps, 1.0)},
                    {"mean_max_step_mm", Mean(jumps)},
                    {"gap_err_mm", Mean(gap_err)},
                    {"real_step_p99_mm", p99},
                    {"real_step_max_mm", pmax}}};
  };
  r.dropout = {dropout_row("online bridge", jump_bridge, gap_err_bridge),
               dropout_row("hold last face", jump_hold, gap_err_hold)};
  return r;
}

}  // namespace faceanime::predict
