#include "pipeline/retargeter.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "face3d/data_paths.h"
#include "face3d/face_fitter.h"
#include "gen/generator_crop.h"
#include "gen/neural_generator.h"
#include "render/sparse_prior.h"

namespace faceanime::pipeline {
namespace {

// Width of the feathered edge of the pasted generator crop, as a fraction of
// its side: the network's output fades into the warp over the outer 8%.
constexpr double kFeatherFraction = 0.08;

// Per-pixel paste weight (CV_32F, `side` x `side`): 1 inside, falling
// linearly to 0 at the crop's edge over `ramp` pixels.
cv::Mat FeatherMask(int side, double ramp) {
  cv::Mat ramp_1d(1, side, CV_32F);
  for (int i = 0; i < side; ++i) {
    const double d = std::min(i + 0.5, side - i - 0.5);
    ramp_1d.at<float>(i) = static_cast<float>(std::clamp(d / ramp, 0.0, 1.0));
  }
  cv::Mat mask;
  cv::min(cv::repeat(ramp_1d, side, 1), cv::repeat(ramp_1d.t(), 1, side), mask);
  return mask;
}

// The 68 model landmarks' bounding box (pixels).
Eigen::AlignedBox2d LandmarkBox(const face3d::Landmarks68& lm) {
  Eigen::AlignedBox2d box;
  for (const auto& p : lm) box.extend(p);
  return box;
}

// The "mouth" region's gate (CV_32F, rect.size(), in [0, 1]) in the crop
// `rect` (source pixels): 1 on the hull of the outer lip landmarks (48-59)
// grown by `grow` x the mouth width (landmarks 48 to 54), falling linearly
// to 0 over a further half of that growth (at least 2 px).
cv::Mat MouthGate(const face3d::Landmarks68& lm, const cv::Rect& rect, double grow) {
  std::vector<cv::Point> lips;
  for (int k = 48; k < 60; ++k) {
    lips.emplace_back(static_cast<int>(std::lround(lm[k].x() - rect.x)), static_cast<int>(std::lround(lm[k].y() - rect.y)));
  }
  std::vector<cv::Point> hull;
  cv::convexHull(lips, hull);
  const double grown = grow * (lm[54] - lm[48]).norm();
  const double ramp = std::max(2.0, 0.5 * grown);
  cv::Mat gate(rect.size(), CV_32F, cv::Scalar(0));
  // The gate is 0 beyond grown + ramp of the hull: only that box is computed.
  const int reach = static_cast<int>(std::ceil(grown + ramp)) + 1;
  cv::Rect box = cv::boundingRect(hull);
  box = cv::Rect(box.x - reach, box.y - reach, box.width + 2 * reach, box.height + 2 * reach) &
        cv::Rect(0, 0, rect.width, rect.height);
  if (box.area() == 0) return gate;
  // distanceTransform measures to the nearest zero pixel: the hull is 0.
  cv::Mat outside(box.size(), CV_8U, cv::Scalar(255));
  std::vector<cv::Point> local = hull;
  for (cv::Point& p : local) p -= box.tl();
  cv::fillConvexPoly(outside, local, cv::Scalar(0));
  cv::Mat dist;
  cv::distanceTransform(outside, dist, cv::DIST_L2, cv::DIST_MASK_PRECISE);
  cv::Mat roi = gate(box);
  dist.convertTo(roi, CV_32F, -1.0 / ramp, 1.0 + grown / ramp);  // 1 - (d - grown) / ramp
  cv::min(cv::max(roi, 0.0), 1.0, roi);
  return gate;
}

}  // namespace

std::filesystem::path DefaultNeuralModelPath() {
  return CommittedModelFile("FACEANIME_GENERATOR", "pgfg_128.pt", std::filesystem::path("pgfg") / "pgfg_128.pt");
}

// The neural generator stage: priors, the shared crop, the network, the
// feathered paste. Render state only (no per-frame mutable state).
struct NeuralStage {
  std::unique_ptr<gen::NeuralGenerator> net;
  render::PriorRenderer priors;
  render::SourceSamples source_samples;  // p_s and the sampled colours: the source is fixed.
  face3d::LandmarkModel landmarks;
  double margin;
  Eigen::AlignedBox2d source_landmark_box;
  bool mouth_only;      // RetargeterOptions::neural_region == "mouth".
  double mouth_grow;    // RetargeterOptions::neural_mouth_grow.
  double open_ramp;     // RetargeterOptions::neural_open_ramp.
  double source_lip_gap = 0;  // The source fit's model inner-lip gap, pixels.
  double self_check_error = 0;  // SelfCheckError() on the source (0: not measured).
  double trust_error = 0;     // The threshold in use (Retargeter::neural_trust_error()).
  double trust = 1;           // The network's weight from trust_error, [0, 1].

  // The "mouth" region's weight for `target_landmarks` (model landmarks):
  // RetargeterOptions::neural_open_ramp.
  double OpeningWeight(const face3d::Landmarks68& target_landmarks) const {
    if (open_ramp <= 0) return 1.0;
    const double width = (target_landmarks[54] - target_landmarks[48]).norm();
    const double extra = face3d::InnerLipGap(target_landmarks) - source_lip_gap;
    return std::clamp(extra / std::max(open_ramp * width, 1e-6), 0.0, 1.0);
  }

  // The target face's box in source pixels: the source's detector box moved
  // and scaled as the projected model landmarks move from the source to the
  // target (gen-data uses the target frame's detector box; at run time there
  // is no target frame, and at target == source both are the source box).
  Eigen::AlignedBox2d TargetBox(const FaceObservation& source, const face3d::Landmarks68& target_landmarks) const {
    const Eigen::AlignedBox2d t = LandmarkBox(target_landmarks);
    const double scale = t.sizes().maxCoeff() / std::max(source_landmark_box.sizes().maxCoeff(), 1e-6);
    const Eigen::Vector2d centre = source.box.center() + (t.center() - source_landmark_box.center());
    const Eigen::Vector2d half = 0.5 * scale * source.box.sizes();
    return Eigen::AlignedBox2d(centre - half, centre + half);
  }

  // Runs the network on the crop `rect` (full-image pixels) for `target`:
  // inputs the source, the classical frame `warp` (W) and the priors of the
  // source and of `target`, each resized to the network's size; outputs its
  // colour map C (RGB) and attention A resized to rect's size.
  void RunOnCrop(const cv::Mat& source_rgb, const FaceObservation& source, const face3d::FaceParams& target,
                 const cv::Mat& warp, const cv::Rect& rect, cv::Mat* color, cv::Mat* attention) const {
    const render::SparsePrior prior_t = priors.RenderTarget(source_samples, target, source.camera);
    const int size = net->image_size();
    gen::GeneratorInputs in;
    in.source = gen::CropResize(source_rgb, rect, size);
    in.warp = gen::CropResize(warp, rect, size);
    in.prior_s = gen::CropResize(source_samples.prior.image, rect, size);
    in.mask_s = gen::CropResize(source_samples.prior.mask, rect, size);
    in.prior_t = gen::CropResize(prior_t.image, rect, size);
    in.mask_t = gen::CropResize(prior_t.mask, rect, size);
    const gen::GeneratorResult out = net->Generate(in);
    cv::resize(out.color, *color, rect.size(), 0, 0, cv::INTER_LINEAR);
    cv::resize(out.attention, *attention, rect.size(), 0, 0, cv::INTER_LINEAR);
  }

  // The network's error on the portrait at its own state, where the portrait
  // is the right answer (RetargeterOptions::neural_trust_error): the mean
  // over the "mouth" region's gate of (1 - A) |C - source|, averaged over
  // the channels, in grey levels (the gate's weights: a weighted mean).
  double SelfCheckError(const cv::Mat& source_rgb, const FaceObservation& source) const {
    const face3d::Landmarks68 lm = landmarks.Project(source.params, source.camera);
    const cv::Rect rect = gen::GeneratorCropRect(source.box, TargetBox(source, lm), margin);
    const cv::Rect inside = rect & cv::Rect(0, 0, source_rgb.cols, source_rgb.rows);
    if (inside.area() == 0) return 0;
    cv::Mat color, attention;
    // The warp at the source's own state is the source.
    RunOnCrop(source_rgb, source, source.params, source_rgb, rect, &color, &attention);
    const cv::Rect local = inside - rect.tl();
    const cv::Mat gate = MouthGate(lm, rect, mouth_grow)(local);
    const double total = cv::sum(gate)[0];
    if (total <= 0) return 0;
    cv::Mat s_f, c_f, diff;
    source_rgb(inside).convertTo(s_f, CV_32FC3);
    color(local).convertTo(c_f, CV_32FC3);
    cv::absdiff(c_f, s_f, diff);
    cv::transform(diff, diff, cv::Matx13f(1.f / 3, 1.f / 3, 1.f / 3));
    const cv::Mat weight = gate.mul(1.0 - attention(local));
    return cv::sum(weight.mul(diff))[0] / total;
  }

  // Refines `warp` (the full classical frame, RGB) in place around the faces.
  void Apply(const cv::Mat& source_rgb, const FaceObservation& source, const face3d::FaceParams& target,
             cv::Mat& warp) const {
    const face3d::Landmarks68 target_landmarks = landmarks.Project(target, source.camera);
    const double opening = mouth_only ? trust * OpeningWeight(target_landmarks) : 1.0;
    if (opening <= 0) return;  // The warp alone: neither the prior nor the network is needed.
    const cv::Rect rect = gen::GeneratorCropRect(source.box, TargetBox(source, target_landmarks), margin);
    const cv::Rect inside = rect & cv::Rect(0, 0, warp.cols, warp.rows);
    if (inside.area() == 0) return;
    cv::Mat color, attention;
    RunOnCrop(source_rgb, source, target, warp, rect, &color, &attention);

    // Paste at full resolution: A and C upsampled, W kept sharp.
    // result = W + feather * (1 - A) * (C - W), i.e. A*W + (1-A)*C inside,
    // the warp at the crop's edge and outside it.
    cv::Mat weight = FeatherMask(rect.width, std::max(2.0, kFeatherFraction * rect.width));
    weight = weight.mul(1.0 - attention);
    if (mouth_only) weight = weight.mul(MouthGate(target_landmarks, rect, mouth_grow), opening);
    const cv::Rect local = inside - rect.tl();
    cv::Mat w_roi = warp(inside);
    cv::Mat w_f, c_f;
    w_roi.convertTo(w_f, CV_32FC3);
    color(local).convertTo(c_f, CV_32FC3);
    cv::Mat weight3;
    cv::merge(std::vector<cv::Mat>(3, weight(local)), weight3);
    cv::Mat blended = w_f + weight3.mul(c_f - w_f);
    blended.convertTo(w_roi, CV_8UC3);
  }
};

struct Retargeter::Impl {
  RetargeterOptions options;
  std::unique_ptr<FaceAnalyzer> analyzer;
  cv::Mat source_rgb;
  FaceObservation source;
  MotionTransfer motion;
  render::FaceWarper warper;
  predict::ExpressionControl control;
  std::optional<ExpressionEdit> edit;
  cv::Rect crop;  // Output crop in source pixels (the whole image when no crop).
  std::unique_ptr<NeuralStage> neural;  // Null: the classical warp alone.
  std::string generator = "classical";  // In use.
  std::vector<std::string> warnings;

  Impl(RetargeterOptions o, std::unique_ptr<FaceAnalyzer> a, cv::Mat rgb, FaceObservation s)
      : options(std::move(o)),
        analyzer(std::move(a)),
        source_rgb(std::move(rgb)),
        source(std::move(s)),
        motion(MotionTransfer::Create(analyzer->model(), options.motion)),
        warper(render::FaceWarper::Create(analyzer->model(), options.warp)),
        control(predict::ExpressionControl::Create(analyzer->model())) {
    motion.SetSource(source.params);
    crop = cv::Rect(0, 0, source_rgb.cols, source_rgb.rows);
    if (options.output_crop > 0) {
      // A square 2.2x the face box, centred a little above its centre so the
      // hair fits, clipped to the image (the side shrinks if it must).
      const Eigen::Vector2d c = source.box.center();
      const double side = 2.2 * source.box.sizes().maxCoeff();
      int s = static_cast<int>(std::min({side, static_cast<double>(source_rgb.cols), static_cast<double>(source_rgb.rows)}));
      int x = static_cast<int>(std::lround(c.x() - s / 2.0));
      int y = static_cast<int>(std::lround(c.y() - 0.1 * side - s / 2.0));
      x = std::clamp(x, 0, source_rgb.cols - s);
      y = std::clamp(y, 0, source_rgb.rows - s);
      crop = cv::Rect(x, y, s, s);
    }
  }

  cv::Mat Output(const cv::Mat& full) const {
    if (options.output_crop <= 0) return full;
    cv::Mat out;
    cv::resize(full(crop), out, {options.output_crop, options.output_crop}, 0, 0, cv::INTER_AREA);
    return out;
  }
};

std::unique_ptr<Retargeter> Retargeter::Create(const RetargeterOptions& options) {
  if (options.output_crop < 0 || options.output_crop > 4096) {
    throw std::invalid_argument("RetargeterOptions: output_crop must be in [0, 4096]");
  }
  if (options.generator != "classical" && options.generator != "neural") {
    throw std::invalid_argument("RetargeterOptions: generator '" + options.generator + "': valid values are " +
                                kGeneratorNames);
  }
  if (options.neural_device != "cpu" && options.neural_device != "cuda") {
    throw std::invalid_argument("RetargeterOptions: neural_device '" + options.neural_device +
                                "': valid values are cpu, cuda");
  }
  if (!(options.neural_crop_margin >= 0 && options.neural_crop_margin <= 2)) {
    throw std::invalid_argument("RetargeterOptions: neural_crop_margin must be in [0, 2]");
  }
  if (options.neural_threads < 1) throw std::invalid_argument("RetargeterOptions: neural_threads must be >= 1");
  if (options.neural_region != "mouth" && options.neural_region != "face") {
    throw std::invalid_argument("RetargeterOptions: neural_region '" + options.neural_region +
                                "': valid values are " + kNeuralRegionNames);
  }
  if (!(options.neural_mouth_grow >= 0 && options.neural_mouth_grow <= 2)) {
    throw std::invalid_argument("RetargeterOptions: neural_mouth_grow must be in [0, 2]");
  }
  if (!(options.neural_open_ramp >= 0 && options.neural_open_ramp <= 1)) {
    throw std::invalid_argument("RetargeterOptions: neural_open_ramp must be in [0, 1]");
  }
  if (!((options.neural_trust_error >= 0 && std::isfinite(options.neural_trust_error)) ||
        options.neural_trust_error == kNeuralTrustFromModel)) {
    throw std::invalid_argument(
        "RetargeterOptions: neural_trust_error must be finite and >= 0, or -1 (the model's calibrated threshold)");
  }
  // The generator first: a corrupt model file fails before the slow source fit.
  std::unique_ptr<gen::NeuralGenerator> net;
  std::vector<std::string> warnings;
  if (options.generator == "neural") {
    gen::NeuralGeneratorOptions g;
    g.model_path = options.neural_model.empty() ? DefaultNeuralModelPath() : options.neural_model;
    g.device = options.neural_device;
    g.num_threads = options.neural_threads;
    std::string warning;
    try {
      net = gen::NeuralGenerator::TryCreate(g, &warning);
    } catch (const std::invalid_argument&) {
      throw;
    } catch (const std::exception& e) {
      throw GeneratorModelError(e.what());
    }
    if (!net) {
      warnings.push_back(warning);
      if (options.on_warning) {
        options.on_warning(warning);
      } else {
        std::fprintf(stderr, "faceanime: warning: %s\n", warning.c_str());
      }
    }
  }
  cv::Mat rgb = options.source_rgb;
  const std::string name = options.source_image.string();
  if (rgb.empty()) {
    if (!std::filesystem::exists(options.source_image)) {
      throw SourceError("source image '" + name + "' does not exist");
    }
    const cv::Mat bgr = cv::imread(name, cv::IMREAD_COLOR);
    if (bgr.empty()) throw SourceError("cannot decode source image '" + name + "' (corrupt or unsupported format)");
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  } else if (rgb.type() != CV_8UC3) {
    throw std::invalid_argument("RetargeterOptions: source_rgb must be CV_8UC3 RGB");
  }
  auto analyzer = FaceAnalyzer::Create(options.analysis);
  auto source = analyzer->AnalyzeStill(ViewOf(rgb, PixelFormat::kRgb));
  if (!source) {
    throw SourceError("no face found in the source image '" + name +
                      "': use a portrait with one clearly visible, roughly frontal face");
  }
  auto impl = std::make_unique<Impl>(options, std::move(analyzer), std::move(rgb), std::move(*source));
  if (net) {
    const face3d::MorphableModel& model = impl->analyzer->model();
    auto stage = std::unique_ptr<NeuralStage>(new NeuralStage{
        std::move(net), render::PriorRenderer::Create(model, {}), {}, face3d::LandmarkModel::Create(model),
        options.neural_crop_margin, {}, options.neural_region == "mouth", options.neural_mouth_grow,
        options.neural_open_ramp});
    stage->source_samples = stage->priors.SampleSource(ViewOf(impl->source_rgb, PixelFormat::kRgb),
                                                       impl->source.params, impl->source.camera);
    const face3d::Landmarks68 source_landmarks = stage->landmarks.Project(impl->source.params, impl->source.camera);
    stage->source_landmark_box = LandmarkBox(source_landmarks);
    stage->source_lip_gap = face3d::InnerLipGap(source_landmarks);
    const double trust_error = options.neural_trust_error == kNeuralTrustFromModel
                                   ? stage->net->calibrated_trust_error().value_or(kDefaultNeuralTrustError)
                                   : options.neural_trust_error;
    if (stage->mouth_only && trust_error > 0) {
      stage->trust_error = trust_error;
      stage->self_check_error = stage->SelfCheckError(impl->source_rgb, impl->source);
      stage->trust = std::clamp(2.0 - stage->self_check_error / trust_error, 0.0, 1.0);
      if (stage->trust < 1.0) {
        char verdict[64] = "the classical warp is used";
        if (stage->trust > 0) std::snprintf(verdict, sizeof(verdict), "its weight is lowered to %.2f", stage->trust);
        char text[512];
        std::snprintf(text, sizeof(text),
                      "neural generator: its self-check error on this portrait is %.2f grey levels (full weight up "
                      "to %.2f, none from %.2f): it does not know this face, so %s (neural_trust_error / "
                      "--neural-trust-error / neural-trust-error=0 turns the check off)",
                      stage->self_check_error, trust_error, 2 * trust_error, verdict);
        const std::string warning = text;
        warnings.push_back(warning);
        if (options.on_warning) {
          options.on_warning(warning);
        } else {
          std::fprintf(stderr, "faceanime: warning: %s\n", warning.c_str());
        }
      }
    }
    impl->neural = std::move(stage);
    impl->generator = "neural";
  }
  impl->warnings = std::move(warnings);
  return std::unique_ptr<Retargeter>(new Retargeter(std::move(impl)));
}

Retargeter::Retargeter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Retargeter::~Retargeter() = default;

RetargetFrame Retargeter::Process(const ImageView& driver, int64_t timestamp_ns, StageTimes* times) {
  const auto face = impl_->analyzer->AnalyzeFrame(driver, timestamp_ns, times);
  return ProcessFace(face ? std::optional<face3d::FaceParams>(face->params) : std::nullopt, timestamp_ns, times);
}

RetargetFrame Retargeter::ProcessFace(const std::optional<face3d::FaceParams>& driver, int64_t timestamp_ns,
                                      StageTimes* times) {
  RetargetFrame out;
  out.driver_face = driver.has_value();
  {
    ScopedStageTimer timer(times ? &times->motion_ms : nullptr);
    out.target = impl_->motion.Update(driver, timestamp_ns);
    if (impl_->edit) out.target = impl_->control.Apply(out.target, impl_->edit->aus, impl_->edit->mode);
  }
  ScopedStageTimer timer(times ? &times->render_ms : nullptr);
  out.rgb = Render(out.target, times, render::TargetLips::kObserved);  // The driver's fit moves the lips.
  return out;
}

cv::Mat Retargeter::Render(const face3d::FaceParams& target, StageTimes* times, render::TargetLips lips) const {
  cv::Mat full = impl_->warper.Warp(ViewOf(impl_->source_rgb, PixelFormat::kRgb), impl_->source.params, target,
                                    impl_->source.camera, nullptr, lips);
  if (impl_->neural) {
    ScopedStageTimer timer(times ? &times->generator_ms : nullptr);
    impl_->neural->Apply(impl_->source_rgb, impl_->source, target, full);
  }
  return impl_->Output(full);
}

const std::string& Retargeter::generator() const { return impl_->generator; }
double Retargeter::neural_self_check_error() const { return impl_->neural ? impl_->neural->self_check_error : 0.0; }
double Retargeter::neural_trust() const { return impl_->neural ? impl_->neural->trust : 1.0; }
double Retargeter::neural_trust_error() const { return impl_->neural ? impl_->neural->trust_error : 0.0; }
const std::vector<std::string>& Retargeter::warnings() const { return impl_->warnings; }

const FaceObservation& Retargeter::source() const { return impl_->source; }
const cv::Mat& Retargeter::source_rgb() const { return impl_->source_rgb; }

cv::Size Retargeter::output_size() const {
  if (impl_->options.output_crop > 0) return {impl_->options.output_crop, impl_->options.output_crop};
  return impl_->source_rgb.size();
}

void Retargeter::set_motion_options(const MotionTransferOptions& options) { impl_->motion.set_options(options); }

void Retargeter::ResetDriver() {
  impl_->analyzer->Reset();
  impl_->motion.ResetDriverReference();
}

void Retargeter::set_expression_edit(std::optional<ExpressionEdit> edit) {
  if (edit) impl_->control.Validate(edit->aus);
  impl_->edit = std::move(edit);
}

const predict::ExpressionControl& Retargeter::expression_control() const { return impl_->control; }

FaceAnalyzer& Retargeter::analyzer() { return *impl_->analyzer; }

}  // namespace faceanime::pipeline
