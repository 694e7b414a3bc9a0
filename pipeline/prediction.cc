#include "pipeline/prediction.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include <Eigen/Geometry>
#include <opencv2/imgcodecs.hpp>

#include "face3d/image.h"
#include "predict/dynamics_predictor.h"
#include "predict/expression_control.h"

namespace faceanime::pipeline {
namespace {

void Validate(const PredictionOptions& o) {
  if (!(o.seconds > 0.0) || !std::isfinite(o.seconds)) {
    throw std::invalid_argument("prediction: seconds must be > 0 (got " + std::to_string(o.seconds) + ")");
  }
  if (!(o.target_time > 0.0 && o.target_time <= 1.0)) {
    throw std::invalid_argument("prediction: target_time must be in (0, 1], a fraction of the duration (got " +
                                std::to_string(o.target_time) + ")");
  }
  const int targets = !o.target.image.empty() + !o.target.expression.empty() + !o.target.au.empty();
  if (targets > 1) {
    throw std::invalid_argument("prediction: give one target: a target image, an expression preset or action "
                                "units, not several");
  }
  if (o.predictor_threads < 1) throw std::invalid_argument("prediction: predictor_threads must be >= 1");
}

// The fitted face of the target photo. Throws TargetError naming the file.
FaceObservation FitTarget(const FaceAnalyzer& analyzer, const std::filesystem::path& path) {
  const cv::Mat bgr = cv::imread(path.string(), cv::IMREAD_COLOR);
  if (bgr.empty()) {
    throw TargetError("cannot read the target image '" + path.string() +
                      "': missing, or not an image OpenCV can decode; give a PNG or JPEG photo");
  }
  auto face = analyzer.AnalyzeStill(ViewOf(bgr, PixelFormat::kBgr));
  if (!face) {
    throw TargetError("no face found in the target image '" + path.string() +
                      "'; give a photo with one clear, roughly frontal face");
  }
  return *face;
}

predict::Dynamics Lerp(const predict::Dynamics& a, const predict::Dynamics& b, double t) {
  predict::Dynamics d;
  d.rotation = (1 - t) * a.rotation + t * b.rotation;  // Neighbouring frames: small angles apart.
  d.translation = (1 - t) * a.translation + t * b.translation;
  for (size_t j = 0; j < d.expression.size(); ++j) d.expression[j] = (1 - t) * a.expression[j] + t * b.expression[j];
  return d;
}

}  // namespace

int64_t FrameTimeNs(int64_t index, int fps_n, int fps_d) {
  if (fps_n <= 0 || fps_d <= 0) throw std::invalid_argument("FrameTimeNs: the frame rate must be > 0");
  // index * 1e9 * d / n without overflow for any realistic index.
  const int64_t per = int64_t{1'000'000'000} * fps_d;
  return index / fps_n * per + (index % fps_n) * per / fps_n;
}

struct Prediction::Impl {
  PredictionOptions options;
  std::unique_ptr<Retargeter> retargeter;
  predict::DynamicsSequence dynamics;
  double model_fps = 25.0;
  std::optional<predict::PredictionTarget> target;
};

std::unique_ptr<Prediction> Prediction::Create(const PredictionOptions& options) {
  Validate(options);
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  // Cheap checks first: the preset name, then the weights, then the fits.
  std::optional<predict::PresetRequest> preset;
  if (!options.target.expression.empty()) preset = predict::ParsePreset(options.target.expression);
  predict::PredictorOptions predictor_options;
  predictor_options.weights = options.weights;
  predictor_options.num_threads = options.predictor_threads;
  const auto predictor = predict::DynamicsPredictor::Load(predictor_options);
  impl->model_fps = predictor->fps();
  impl->retargeter = Retargeter::Create(options.retargeter);
  const face3d::FaceParams& rest = impl->retargeter->source().params;

  // The rollout covers [0, seconds] at the model's rate (one frame past the
  // end so the last output frame interpolates inside it).
  const int num_frames = static_cast<int>(std::ceil(options.seconds * impl->model_fps - 1e-9)) + 1;
  const int target_frame =
      std::clamp(static_cast<int>(std::lround(options.target_time * options.seconds * impl->model_fps)), 1,
                 num_frames - 1);
  std::optional<predict::Dynamics> goal;
  if (preset || !options.target.au.empty()) {
    const auto& control = impl->retargeter->expression_control();
    const predict::ActionUnitSet aus = preset ? predict::PresetActionUnits(preset->preset, preset->strength)
                                              : control.ParseActionUnits(options.target.au);
    const face3d::FaceParams edited = control.Apply(rest, aus, options.mode);
    goal.emplace();
    goal->expression = edited.expression;  // Rest pose: zero rotation and translation.
  } else if (!options.target.image.empty()) {
    const FaceObservation face = FitTarget(impl->retargeter->analyzer(), options.target.image);
    goal.emplace();
    goal->expression = face.params.expression;
    if (options.target_pose) {
      // R_target = R_rel * R_source (predict/dynamics.h).
      const Eigen::AngleAxisd rel(face.params.pose.RotationMatrix() * rest.pose.RotationMatrix().transpose());
      goal->rotation = rel.angle() * rel.axis();
    }
  }
  if (goal) impl->target = predict::PredictionTarget{*goal, target_frame};

  predict::RolloutRequest request;
  request.start_expression = rest.expression;
  request.num_frames = num_frames;
  request.seed = options.seed;
  request.target = impl->target;
  impl->dynamics = predictor->Rollout(request);
  if (static_cast<int>(impl->dynamics.size()) != num_frames) {
    throw std::logic_error("prediction: the predictor returned " + std::to_string(impl->dynamics.size()) +
                           " frames for a request of " + std::to_string(num_frames));
  }
  return std::unique_ptr<Prediction>(new Prediction(std::move(impl)));
}

Prediction::Prediction(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Prediction::~Prediction() = default;

int Prediction::NumFrames(int fps_n, int fps_d) const {
  if (fps_n <= 0 || fps_d <= 0) throw std::invalid_argument("Prediction::NumFrames: the frame rate must be > 0");
  return std::max(1, static_cast<int>(std::lround(impl_->options.seconds * fps_n / fps_d)));
}

face3d::FaceParams Prediction::FaceAt(int64_t time_ns) const {
  const auto& seq = impl_->dynamics;
  const double u = std::max<double>(0.0, static_cast<double>(time_ns) * 1e-9 * impl_->model_fps);
  const int last = static_cast<int>(seq.size()) - 1;
  const int i = std::min(static_cast<int>(std::floor(u)), last);
  const predict::Dynamics d = i >= last ? seq[last] : Lerp(seq[i], seq[i + 1], u - i);
  return predict::ApplyDynamics(impl_->retargeter->source().params, d, predict::ExpressionBlend::kReplace);
}

cv::Mat Prediction::RenderAt(int64_t time_ns) const {
  // An image target's expression is that photo's fit (absolute weights): its
  // lips are observed ones, not the portrait's fit plus a change.
  const render::TargetLips lips =
      impl_->options.target.image.empty() ? render::TargetLips::kFromSource : render::TargetLips::kObserved;
  return impl_->retargeter->Render(FaceAt(time_ns), nullptr, lips);
}

cv::Size Prediction::output_size() const { return impl_->retargeter->output_size(); }
const predict::DynamicsSequence& Prediction::dynamics() const { return impl_->dynamics; }
double Prediction::model_fps() const { return impl_->model_fps; }

std::optional<int> Prediction::target_frame() const {
  if (!impl_->target) return std::nullopt;
  return impl_->target->frame;
}

std::optional<predict::Dynamics> Prediction::target_dynamics() const {
  if (!impl_->target) return std::nullopt;
  return impl_->target->dynamics;
}

const Retargeter& Prediction::retargeter() const { return *impl_->retargeter; }

}  // namespace faceanime::pipeline
