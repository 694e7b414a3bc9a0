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
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

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

// The neural generator's model file is corrupt or not a generator (what()
// names the file). A missing file is not an error (see RetargeterOptions).
class GeneratorModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// RetargeterOptions::neural_trust_error: the model file's calibrated
// threshold (else kDefaultNeuralTrustError).
inline constexpr double kNeuralTrustFromModel = -1.0;
inline constexpr double kDefaultNeuralTrustError = 1.15;

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

  // The image generator. "classical" (default): the 3D-guided warp alone.
  // "neural": the warp refined by the prior-guided network (gen/README.md)
  // on a square crop around the source and target faces, pasted back with a
  // feathered edge; the rest of the frame stays the warp.
  std::string generator = "classical";
  // The neural generator's file (pgfg::SaveGenerator; pgfg_train writes
  // RUN/checkpoint/generator.pt). Empty (default): DefaultNeuralModelPath().
  // A missing file is not an error: the Retargeter warns (warnings()) and
  // renders with the classical warp. A corrupt file is an error naming it.
  std::filesystem::path neural_model;
  // "cpu" (default) or "cuda" (an error when LibTorch has no CUDA device).
  std::string neural_device = "cpu";
  // The crop's margin: side = (1 + 2 margin) x the larger side of the box
  // around both faces, in [0, 2] (default 0.3). Must match the training
  // cache's `faceanime gen-data --crop-margin`.
  double neural_crop_margin = 0.3;
  // LibTorch threads for the generator, >= 1 (default 1; process-wide).
  int neural_threads = 1;
  // Where the network may change the warp:
  // "mouth" (default): only around the target's lips (their hull grown by
  //   neural_mouth_grow x the mouth width, feathered), where a warp cannot be
  //   right (the mouth interior, teeth, lip shape); elsewhere the output is
  //   the classical warp, so eyes, skin texture and identity are the warp's.
  // "face": the whole crop (the network's attention decides alone).
  std::string neural_region = "mouth";
  // "mouth" region: growth of the lip hull per side, as a fraction of the
  // target's mouth width (corner to corner), in [0, 2] (default 0.35); the
  // edge is feathered over half that again (at least 2 px).
  double neural_mouth_grow = 0.35;
  // "mouth" region: the network's weight follows how far the target's lips
  // part beyond the source's (model inner-lip gap, face3d::InnerLipGap): 0
  // while the target's gap is at most the source's (the warp can close or
  // keep a mouth: nothing it needs is hidden in the source), rising linearly
  // to 1 at neural_open_ramp x the target's mouth width more. In [0, 1]
  // (default 0.1); 0: always 1 (the network's attention decides alone).
  double neural_open_ramp = 0.1;
  // "mouth" region: the network's self-check on the portrait. At Create()
  // the network renders the portrait at its own state, where the portrait
  // itself is the right answer, and its error there is measured: the mean
  // over the mouth region of (1 - A) |C - source| (grey levels, 0-255;
  // neural_self_check_error()). The network's weight is scaled by
  // clamp(2 - error / neural_trust_error, 0, 1): full while the error is at
  // most neural_trust_error, none (the classical warp alone) from twice it.
  // A face the network cannot reproduce unchanged is one it does not know,
  // and there it draws the mouth of the identities it was trained on.
  // The threshold belongs to the model: each network reproduces its own
  // training faces to a different error (the committed 128 model: median
  // 0.92 on frame 0 of its training speaker's GRID s1 clips, 2.3-3.2 on the
  // five unseen GRID speakers, 2.6-7.0 on the held-out London photos; the
  // 256 model about 2.5x those; assets/pgfg/README.md). So by default
  // (kNeuralTrustFromModel, -1) it is the one calibrated for the model and
  // stored in its file by `faceanime calibrate-trust` (the 81st percentile
  // of its errors on its training clips: 2.77 for the 256 model;
  // NeuralGenerator::calibrated_trust_error), and kDefaultNeuralTrustError
  // (1.15) for a file without one: the 128 model's, chosen by the same rule
  // over all its speaker's clips before thresholds were stored (on its
  // training clips alone the rule gives 1.175). >= 0 sets it (0: off, the
  // network's weight is never scaled).
  double neural_trust_error = kNeuralTrustFromModel;
  // Receives each warning of Create() (e.g. the neural model is missing and
  // the classical warp is used). Null (default): written to stderr as
  // "faceanime: warning: ...". Either way Retargeter::warnings() keeps them.
  std::function<void(const std::string&)> on_warning;
};

// The valid RetargeterOptions::generator values, for messages: "classical, neural".
inline constexpr const char* kGeneratorNames = "classical, neural";
// The valid RetargeterOptions::neural_region values, for messages.
inline constexpr const char* kNeuralRegionNames = "mouth, face";
// The CPU neural generator: first of $FACEANIME_GENERATOR (a file),
// <data dir>/pgfg_128.pt when it exists (a user's own model, or an install
// without the source tree), the source tree's assets/pgfg/pgfg_128.pt (the
// committed model, compiled in; see assets/pgfg/README.md).
std::filesystem::path DefaultNeuralModelPath();

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
  // unreadable image) or the analyzer's model errors, naming the file;
  // std::invalid_argument for invalid options (naming the valid values);
  // GeneratorModelError naming a corrupt neural generator file.
  static std::unique_ptr<Retargeter> Create(const RetargeterOptions& options);
  ~Retargeter();

  // One driver frame (any PixelFormat; timestamps increasing): track its
  // face, transfer the motion, render. `times` (optional, for benchmarks):
  // filled with every stage's wall time (see stage_times.h; generator_ms
  // with the neural generator).
  RetargetFrame Process(const ImageView& driver, int64_t timestamp_ns, StageTimes* times = nullptr);

  // A driver face analysed elsewhere (e.g. GstFaceMeta from facefit);
  // std::nullopt when that frame had no face. `times` (optional): motion_ms
  // and render_ms are added.
  RetargetFrame ProcessFace(const std::optional<face3d::FaceParams>& driver, int64_t timestamp_ns,
                            StageTimes* times = nullptr);

  // Renders the source at any face state (animation, prediction, editing).
  // `times` (optional): the neural generator's time is added to generator_ms.
  // `lips`: where the target's lips come from (render::TargetLips): by
  // default the source's fit plus a change (edits, motion predicted from the
  // still); kObserved for a state fitted to another frame (ProcessFace's
  // driven states).
  cv::Mat Render(const face3d::FaceParams& target, StageTimes* times = nullptr,
                 render::TargetLips lips = render::TargetLips::kFromSource) const;

  // The generator in use: "classical" or "neural" (classical after a
  // fallback from a missing neural model).
  const std::string& generator() const;
  // The neural generator's self-check on the portrait
  // (RetargeterOptions::neural_trust_error) and the weight it gives the
  // network, in [0, 1]; 0 and 1 without the neural generator or with the
  // trust gate off.
  double neural_self_check_error() const;
  double neural_trust() const;
  // The trust threshold in use (RetargeterOptions::neural_trust_error, the
  // model's calibrated one when that is kNeuralTrustFromModel); 0 without
  // the neural generator or with the gate off.
  double neural_trust_error() const;
  // Warnings from Create() (e.g. the missing neural model and the fallback),
  // for the caller to show (stderr, GST_ELEMENT_WARNING). Empty when none.
  const std::vector<std::string>& warnings() const;

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
