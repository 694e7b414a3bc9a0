// The per-frame retargeting core (no GStreamer): a source portrait, fitted
// once, re-rendered with the motion of a driver (frames, or already-analysed
// faces), or at any given face state.
//
//   auto r = Retargeter::Create(options);          // fits the source portrait
//   RetargetFrame out = r->Process(driver_view, pts_ns);
//
// Output images are RGB (CV_8UC3) of the source image's size, or a square
// crop around the source face when `output_crop` > 0.
#ifndef FACEANIME_PIPELINE_RETARGETER_H_
#define FACEANIME_PIPELINE_RETARGETER_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>

#include <opencv2/core.hpp>

#include "face3d/face_params.h"
#include "face3d/image.h"
#include "pipeline/face_analyzer.h"
#include "pipeline/fit_record.h"
#include "pipeline/motion_transfer.h"
#include "predict/expression_control.h"
#include "pipeline/stage_times.h"
#include "render/face_warper.h"

namespace faceanime::pipeline {

// The source portrait cannot be used (unreadable, or no face in it).
class SourceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RetargeterOptions {
  // The source portrait: a file path, or pixels (RGB, CV_8UC3) when
  // `source_rgb` is non-empty (then `source_image` only names it in errors).
  std::filesystem::path source_image;
  cv::Mat source_rgb;
  FaceAnalyzerOptions analysis;
  MotionTransferOptions motion;
  render::WarpOptions warp;
  // 0 (default): output the source's full size. > 0: a square crop of this
  // many pixels around the source face (for small outputs, avatars).
  int output_crop = 0;
};

// An expression edit applied on top of the transferred motion (FACS action
// units, e.g. from a preset): kReplace gives the portrait exactly this
// expression, kAdd adds it to the driver's ("always a bit happier").
struct ExpressionEdit {
  predict::ActionUnitSet aus;
  predict::ExpressionBlend mode = predict::ExpressionBlend::kAdd;
};

struct RetargetFrame {
  cv::Mat rgb;                       // The rendered portrait.
  face3d::FaceParams target;         // The state it was rendered at.
  bool driver_face = false;          // The driver frame had a (credible) face.
};

class Retargeter {
 public:
  // Loads the models and fits the source. Throws SourceError (no face,
  // unreadable image) or the analyzer's model errors, naming the file.
  static std::unique_ptr<Retargeter> Create(const RetargeterOptions& options);
  ~Retargeter();

  // One driver frame (any PixelFormat; timestamps increasing): track its
  // face, transfer the motion, render. `times` (optional, for benchmarks):
  // filled with every stage's wall time (see stage_times.h).
  RetargetFrame Process(const ImageView& driver, int64_t timestamp_ns, StageTimes* times = nullptr);

  // A driver face analysed elsewhere (e.g. GstFaceMeta from facefit);
  // std::nullopt when that frame had no face. `times` (optional): motion_ms
  // and render_ms are added.
  RetargetFrame ProcessFace(const std::optional<face3d::FaceParams>& driver, int64_t timestamp_ns,
                            StageTimes* times = nullptr);

  // Renders the source at any face state (animation, prediction, editing).
  cv::Mat Render(const face3d::FaceParams& target) const;

  // The source portrait's fit (its rest state) and pixels (RGB).
  const FaceObservation& source() const;
  const cv::Mat& source_rgb() const;
  cv::Size output_size() const;

  // Options that may change while running (motion switches and gain).
  void set_motion_options(const MotionTransferOptions& options);
  // The expression edit applied to every following frame (std::nullopt:
  // none). Validate `aus` with expression_control() first.
  void set_expression_edit(std::optional<ExpressionEdit> edit);
  const predict::ExpressionControl& expression_control() const;

  // New driver stream: forget its reference frame and tracking state.
  void ResetDriver();

  FaceAnalyzer& analyzer();

 private:
  struct Impl;
  explicit Retargeter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace faceanime::pipeline

#endif  // FACEANIME_PIPELINE_RETARGETER_H_
