#include "predict/procedural_motion.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

namespace faceanime::predict {
namespace {

// Smooth 0 -> 1 ramp over [0, 1] with zero slope at both ends.
double SmoothStep(double x) {
  x = std::clamp(x, 0.0, 1.0);
  return x * x * (3.0 - 2.0 * x);
}

// Independent random streams per motion channel, so that changing one
// channel's options does not reshuffle the others.
std::mt19937_64 Stream(uint64_t seed, uint64_t channel) {
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                    static_cast<uint32_t>(channel), 0x5eedu};
  return std::mt19937_64(seq);
}

double Uniform(std::mt19937_64& rng, double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}

double Exponential(std::mt19937_64& rng, double mean) {
  return std::exponential_distribution<double>(1.0 / mean)(rng);
}

// The time before which nothing moves: frame 0 is the rest state and the
// first half second eases in.
constexpr double kQuietStartS = 0.5;

void Require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("ProceduralMotionOptions: " + what);
}

}  // namespace

double BlinkClosure(double u, double close_s, double open_s) {
  if (u >= 0 && u < close_s) return SmoothStep(u / close_s);
  if (u >= close_s && u < close_s + kBlinkHoldS) return 1.0;
  if (u >= close_s + kBlinkHoldS && u < close_s + kBlinkHoldS + open_s) {
    return 1.0 - SmoothStep((u - close_s - kBlinkHoldS) / open_s);
  }
  return 0.0;
}

std::vector<ExpressionEventKind> DefaultExpressionEvents() {
  return {
      {"smile", {{"mouthSmile_L", 0.8}, {"mouthSmile_R", 0.8}, {"cheekSquint_L", 0.5}, {"cheekSquint_R", 0.5}}},
      {"surprise",
       {{"browInnerUp_L", 0.7}, {"browInnerUp_R", 0.7}, {"browOuterUp_L", 0.6}, {"browOuterUp_R", 0.6},
        {"eyeWide_L", 0.5}, {"eyeWide_R", 0.5}, {"jawOpen", 0.25}}},
      {"frown", {{"browDown_L", 0.7}, {"browDown_R", 0.7}, {"mouthPress_L", 0.3}, {"mouthPress_R", 0.3}}},
      {"sad",
       {{"browInnerUp_L", 0.6}, {"browInnerUp_R", 0.6}, {"mouthFrown_L", 0.6}, {"mouthFrown_R", 0.6},
        {"mouthShrugLower", 0.3}}},
      {"pucker", {{"mouthPucker", 0.7}, {"mouthFunnel", 0.2}}},
  };
}

ProceduralMotion ProceduralMotion::Create(const face3d::MorphableModel& model,
                                          const ProceduralMotionOptions& options) {
  const auto& o = options;
  Require(o.fps > 0, "fps must be > 0");
  Require(o.blink_rate_per_min >= 0, "blink_rate_per_min must be >= 0");
  Require(o.blink_close_s > 0 && o.blink_open_s > 0, "blink durations must be > 0");
  Require(o.fixation_min_s > 0 && o.fixation_max_s >= o.fixation_min_s, "fixation range must be 0 < min <= max");
  Require(o.gaze_amplitude >= 0 && o.gaze_amplitude <= 1, "gaze_amplitude must be in [0, 1]");
  Require(o.expression_events_per_min >= 0, "expression_events_per_min must be >= 0");
  Require(o.expression_strength >= 0 && o.expression_strength <= 1, "expression_strength must be in [0, 1]");
  Require(o.speech_fraction >= 0 && o.speech_fraction <= 1, "speech_fraction must be in [0, 1]");
  Require(o.jaw_amplitude >= 0 && o.jaw_amplitude <= 1, "jaw_amplitude must be in [0, 1]");
  Require(o.head_yaw_deg >= 0 && o.head_pitch_deg >= 0 && o.head_roll_deg >= 0, "head amplitudes must be >= 0");
  Require(o.head_sway_period_s > 0, "head_sway_period_s must be > 0");

  ProceduralMotion m;
  m.options_ = options;
  auto index = [&](const std::string& name) {
    const int i = model.ExpressionIndex(name);
    if (i < 0) throw std::invalid_argument("ProceduralMotion: unknown ICT expression shape '" + name + "'");
    return i;
  };
  for (const auto& kind : options.events) {
    ResolvedEvent e;
    for (const auto& [name, weight] : kind.shapes) {
      Require(weight >= 0 && weight <= 1, "event '" + kind.name + "' weight for " + name + " must be in [0, 1]");
      e.shapes.emplace_back(index(name), weight);
    }
    m.events_.push_back(std::move(e));
  }
  m.blink_l_ = index("eyeBlink_L");
  m.blink_r_ = index("eyeBlink_R");
  m.jaw_open_ = index("jawOpen");
  m.funnel_ = index("mouthFunnel");
  m.lower_down_l_ = index("mouthLowerDown_L");
  m.lower_down_r_ = index("mouthLowerDown_R");
  const char* sides[2] = {"_L", "_R"};
  for (int s = 0; s < 2; ++s) {
    m.look_up_[s] = index(std::string("eyeLookUp") + sides[s]);
    m.look_down_[s] = index(std::string("eyeLookDown") + sides[s]);
    m.look_in_[s] = index(std::string("eyeLookIn") + sides[s]);
    m.look_out_[s] = index(std::string("eyeLookOut") + sides[s]);
  }
  return m;
}

DynamicsSequence ProceduralMotion::Generate(int num_frames) const {
  const auto& o = options_;
  DynamicsSequence seq(std::max(0, num_frames));
  if (seq.empty()) return seq;
  const double dt = 1.0 / o.fps;
  const double duration = num_frames * dt;
  auto frame_time = [&](int k) { return k * dt; };

  // --- Blinks: renewal process, refractory 0.8 s + exponential remainder.
  {
    auto rng = Stream(o.seed, 1);
    const double mean_interval = o.blink_rate_per_min > 0 ? 60.0 / o.blink_rate_per_min : 0.0;
    const double refractory = std::min(0.8, 0.5 * mean_interval);
    double t = kQuietStartS + (mean_interval > 0 ? Uniform(rng, 0.0, mean_interval) : duration);
    while (mean_interval > 0 && t < duration) {
      const double depth_l = Uniform(rng, 0.9, 1.0);
      const double depth_r = depth_l * Uniform(rng, 0.95, 1.0);
      for (int k = 0; k < num_frames; ++k) {
        const double w = BlinkClosure(frame_time(k) - t, o.blink_close_s, o.blink_open_s);
        if (w > 0) {
          auto& e = seq[k].expression;
          e[blink_l_] = std::max(e[blink_l_], w * depth_l);
          e[blink_r_] = std::max(e[blink_r_], w * depth_r);
        }
      }
      t += refractory + Exponential(rng, std::max(1e-3, mean_interval - refractory));
    }
  }

  // --- Gaze: fixations joined by ~40 ms saccades; about half return to centre.
  {
    auto rng = Stream(o.seed, 2);
    double gx = 0.0, gy = 0.0;  // Current target; + x = subject's left, + y = up.
    double t = kQuietStartS + Uniform(rng, o.fixation_min_s, o.fixation_max_s);
    struct Fixation {
      double start, x, y;
    };
    std::vector<Fixation> fixations = {{0.0, 0.0, 0.0}};
    while (t < duration) {
      if (Uniform(rng, 0, 1) < 0.5) {
        gx = gy = 0.0;
      } else {
        gx = Uniform(rng, -o.gaze_amplitude, o.gaze_amplitude);
        gy = Uniform(rng, -0.5 * o.gaze_amplitude, 0.5 * o.gaze_amplitude);
      }
      fixations.push_back({t, gx, gy});
      t += Uniform(rng, o.fixation_min_s, o.fixation_max_s);
    }
    constexpr double kSaccadeS = 0.04;
    size_t f = 0;
    for (int k = 0; k < num_frames; ++k) {
      const double tk = frame_time(k);
      while (f + 1 < fixations.size() && fixations[f + 1].start <= tk) ++f;
      double x = fixations[f].x, y = fixations[f].y;
      if (f > 0) {
        const double s = SmoothStep((tk - fixations[f].start) / kSaccadeS);
        x = fixations[f - 1].x + s * (fixations[f].x - fixations[f - 1].x);
        y = fixations[f - 1].y + s * (fixations[f].y - fixations[f - 1].y);
      }
      auto& e = seq[k].expression;
      // Looking to the subject's left: left eye out, right eye in (AU61).
      e[look_out_[0]] = std::max(0.0, x);
      e[look_in_[1]] = std::max(0.0, x);
      e[look_in_[0]] = std::max(0.0, -x);
      e[look_out_[1]] = std::max(0.0, -x);
      e[look_up_[0]] = e[look_up_[1]] = std::max(0.0, y);
      e[look_down_[0]] = e[look_down_[1]] = std::max(0.0, -y);
    }
  }

  // --- Expression events with onset / apex / offset, never overlapping.
  if (!events_.empty() && o.expression_events_per_min > 0) {
    auto rng = Stream(o.seed, 3);
    const double mean_gap = 60.0 / o.expression_events_per_min;
    double t = kQuietStartS + Exponential(rng, mean_gap * 0.5);
    while (t < duration) {
      const auto& event = events_[std::uniform_int_distribution<size_t>(0, events_.size() - 1)(rng)];
      const double onset = Uniform(rng, 0.2, 0.6), apex = Uniform(rng, 0.5, 2.0), offset = Uniform(rng, 0.3, 0.8);
      const double strength = o.expression_strength * Uniform(rng, 0.6, 1.0);
      for (int k = 0; k < num_frames; ++k) {
        const double u = frame_time(k) - t;
        double w = 0.0;
        if (u >= 0 && u < onset) {
          w = SmoothStep(u / onset);
        } else if (u >= onset && u < onset + apex) {
          w = 1.0;
        } else if (u >= onset + apex && u < onset + apex + offset) {
          w = 1.0 - SmoothStep((u - onset - apex) / offset);
        }
        if (w <= 0) continue;
        for (const auto& [shape, apex_weight] : event.shapes) {
          seq[k].expression[shape] = std::min(1.0, seq[k].expression[shape] + w * strength * apex_weight);
        }
      }
      t += onset + apex + offset + Exponential(rng, mean_gap);
    }
  }

  // --- Speech: talking segments of syllable-rate jaw opening.
  std::vector<double> talking(num_frames, 0.0);
  if (o.speech_fraction > 0 && o.jaw_amplitude > 0) {
    auto rng = Stream(o.seed, 4);
    const double talk_mean = 3.0;
    const double silent_mean = o.speech_fraction >= 1 ? 0.0 : talk_mean * (1 - o.speech_fraction) / o.speech_fraction;
    double t = kQuietStartS + (silent_mean > 0 ? Exponential(rng, silent_mean) : 0.0);
    while (t < duration) {
      const double end = t + std::max(0.8, Exponential(rng, talk_mean));
      // Syllables: raised-cosine bumps ~4.5 Hz with jittered spacing.
      double s = t;
      while (s < end) {
        const double length = Uniform(rng, 0.16, 0.28);
        const double amp = o.jaw_amplitude * Uniform(rng, 0.35, 1.0);
        const bool rounded = Uniform(rng, 0, 1) < 0.2;
        for (int k = 0; k < num_frames; ++k) {
          const double u = (frame_time(k) - s) / length;
          if (u < 0 || u >= 1) continue;
          const double w = 0.5 - 0.5 * std::cos(2 * M_PI * u);
          auto& e = seq[k].expression;
          e[jaw_open_] = std::min(1.0, std::max(e[jaw_open_], amp * w));
          e[lower_down_l_] = std::max(e[lower_down_l_], 0.4 * amp * w);
          e[lower_down_r_] = std::max(e[lower_down_r_], 0.4 * amp * w);
          if (rounded) e[funnel_] = std::max(e[funnel_], 0.6 * amp * w / o.jaw_amplitude);
          talking[k] = 1.0;
        }
        s += length + Uniform(rng, 0.0, 0.06);
      }
      t = end + (silent_mean > 0 ? Exponential(rng, silent_mean) : 0.0);
    }
  }

  // --- Head sway: two incommensurate sines per axis, eased in from rest,
  // plus small nods while talking.
  {
    auto rng = Stream(o.seed, 5);
    const double golden = 1.618033988749895;
    double phase[3][2], period[3];
    for (int a = 0; a < 3; ++a) {
      period[a] = o.head_sway_period_s * Uniform(rng, 0.8, 1.25);
      phase[a][0] = Uniform(rng, 0, 2 * M_PI);
      phase[a][1] = Uniform(rng, 0, 2 * M_PI);
    }
    const double amp[3] = {o.head_yaw_deg, o.head_pitch_deg, o.head_roll_deg};
    for (int k = 0; k < num_frames; ++k) {
      const double tk = frame_time(k);
      const double ease = SmoothStep(tk / (2 * kQuietStartS));
      double angle[3];
      for (int a = 0; a < 3; ++a) {
        const double w = 2 * M_PI / period[a];
        const double v = 0.6 * (std::sin(w * tk + phase[a][0]) - std::sin(phase[a][0])) +
                         0.4 * (std::sin(w * golden * tk + phase[a][1]) - std::sin(phase[a][1]));
        angle[a] = ease * amp[a] * 0.5 * v;
      }
      // Nods follow the jaw while talking (pitch down with each syllable).
      angle[1] += 2.0 * talking[k] * seq[k].expression[jaw_open_];
      seq[k].rotation = face3d::RotationFromEuler({angle[0], angle[1], angle[2]});
      // The head rotates about the neck, behind the model origin: a small
      // lateral shift goes with roll and yaw (cm).
      seq[k].translation = Eigen::Vector3d(-0.05 * angle[2] - 0.03 * angle[0], 0.02 * angle[1], 0.0);
    }
  }
  return seq;
}

face3d::FaceParams ApplyDynamics(const face3d::FaceParams& base, const Dynamics& d, ExpressionBlend blend) {
  face3d::FaceParams out = base;
  const double angle = d.rotation.norm();
  const Eigen::Matrix3d delta =
      angle < 1e-12 ? Eigen::Matrix3d::Identity()
                    : Eigen::AngleAxisd(angle, d.rotation / angle).toRotationMatrix();
  const Eigen::AngleAxisd composed(delta * base.pose.RotationMatrix());
  out.pose.rotation = composed.axis() * composed.angle();
  out.pose.translation = base.pose.translation + d.translation;
  for (size_t j = 0; j < out.expression.size(); ++j) {
    out.expression[j] = blend == ExpressionBlend::kReplace
                            ? d.expression[j]
                            : std::clamp(base.expression[j] + d.expression[j], 0.0, 1.0);
  }
  return out;
}

Dynamics RelativeDynamics(const face3d::FaceParams& face, const face3d::FaceParams& anchor) {
  Dynamics d;
  const Eigen::AngleAxisd aa(face.pose.RotationMatrix() * anchor.pose.RotationMatrix().transpose());
  d.rotation = aa.axis() * aa.angle();
  d.translation = face.pose.translation - anchor.pose.translation;
  d.expression = face.expression;
  return d;
}

}  // namespace faceanime::predict
