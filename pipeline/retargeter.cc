#include "pipeline/retargeter.h"

#include <algorithm>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace faceanime::pipeline {

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
  return std::unique_ptr<Retargeter>(
      new Retargeter(std::make_unique<Impl>(options, std::move(analyzer), std::move(rgb), std::move(*source))));
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
  out.rgb = Render(out.target);
  return out;
}

cv::Mat Retargeter::Render(const face3d::FaceParams& target) const {
  const cv::Mat full = impl_->warper.Warp(ViewOf(impl_->source_rgb, PixelFormat::kRgb), impl_->source.params,
                                          target, impl_->source.camera);
  return impl_->Output(full);
}

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
