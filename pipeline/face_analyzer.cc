#include "pipeline/face_analyzer.h"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <vector>

namespace faceanime::pipeline {
namespace {

// Adapts the landmark network to the tracker's LandmarkSource interface.
class LandmarkerSource : public face3d::LandmarkSource {
 public:
  explicit LandmarkerSource(const face3d::Landmarker& landmarker) : landmarker_(landmarker) {}
  face3d::LandmarkResult Detect(const ImageView& image, const Eigen::AlignedBox2d& box) const override {
    ScopedStageTimer timer(landmarks_ms_);
    return landmarker_.Detect(image, box);
  }
  // Where to add the landmark network's time (nullptr: not timed).
  void set_timing_sink(double* landmarks_ms) { landmarks_ms_ = landmarks_ms; }

 private:
  const face3d::Landmarker& landmarker_;
  double* landmarks_ms_ = nullptr;
};

}  // namespace

struct FaceAnalyzer::Impl {
  FaceAnalyzerOptions options;
  face3d::MorphableModel model;
  face3d::FaceDetector detector;
  std::unique_ptr<face3d::Landmarker> landmarker;
  LandmarkerSource source;
  face3d::FaceTracker tracker;
  face3d::FaceFitter still_fitter;
  face3d::VideoFitter video_fitter;
  face3d::EyelidMeter eyelid_meter;
  // Expression indices of eyeBlink_R and eyeBlink_L; -1 when the model
  // lacks them.
  std::array<int, face3d::EyelidMeter::kNumEyes> blink_index;

  Impl(const FaceAnalyzerOptions& o, face3d::MorphableModel m, face3d::FaceDetector d,
       std::unique_ptr<face3d::Landmarker> l)
      : options(o),
        model(std::move(m)),
        detector(std::move(d)),
        landmarker(std::move(l)),
        source(*landmarker),
        tracker(face3d::FaceTracker::Create(o.tracker, detector, source)),
        still_fitter(face3d::FaceFitter::Create(model, o.still_fit)),
        video_fitter(face3d::VideoFitter::Create(model, o.video_fit)),
        eyelid_meter(face3d::EyelidMeter::Create(o.eyelids)),
        blink_index{model.ExpressionIndex("eyeBlink_R"), model.ExpressionIndex("eyeBlink_L")} {}
};

std::unique_ptr<FaceAnalyzer> FaceAnalyzer::Create(const FaceAnalyzerOptions& options) {
  if (options.num_threads < 1) throw std::invalid_argument("FaceAnalyzerOptions: num_threads must be >= 1");
  if (options.min_fit_confidence < 0 || options.min_fit_confidence > 1) {
    throw std::invalid_argument("FaceAnalyzerOptions: min_fit_confidence must be in [0, 1]");
  }
  if (!(options.eyelid_open_closure >= 0 && options.eyelid_open_closure < options.eyelid_shut_closure &&
        options.eyelid_shut_closure <= 1)) {
    throw std::invalid_argument(
        "FaceAnalyzerOptions: need 0 <= eyelid_open_closure < eyelid_shut_closure <= 1");
  }
  FaceAnalyzerOptions o = options;
  if (o.model_path.empty()) o.model_path = face3d::MorphableModel::DefaultPath();
  if (o.detector.num_threads == 0) o.detector.num_threads = o.num_threads;
  o.landmarks.num_threads = o.num_threads;
  auto model = face3d::MorphableModel::Load(o.model_path);
  auto detector = face3d::FaceDetector::Create(o.detector);
  auto landmarker = face3d::Landmarker::Create(o.landmarks);
  return std::unique_ptr<FaceAnalyzer>(
      new FaceAnalyzer(std::make_unique<Impl>(o, std::move(model), std::move(detector), std::move(landmarker))));
}

FaceAnalyzer::FaceAnalyzer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FaceAnalyzer::~FaceAnalyzer() = default;

std::optional<FaceObservation> FaceAnalyzer::AnalyzeStill(const ImageView& image, StageTimes* times) const {
  if (times) times->detected = true;
  std::vector<face3d::FaceDetection> faces;
  {
    ScopedStageTimer timer(times ? &times->detect_ms : nullptr);
    faces = impl_->detector.Detect(image);
  }
  const auto face = face3d::LargestFace(faces);
  if (!face) return std::nullopt;
  face3d::LandmarkResult lm;
  {
    ScopedStageTimer timer(times ? &times->landmarks_ms : nullptr);
    lm = impl_->landmarker->Detect(image, face->box);
  }
  if (lm.confidence < impl_->options.tracker.min_landmark_confidence) return std::nullopt;
  FaceObservation obs;
  obs.box = face->box;
  obs.landmarks = lm.points;
  obs.camera = face3d::Camera::ForImage(image.width, image.height);
  face3d::FitResult fit;
  {
    ScopedStageTimer timer(times ? &times->fit_ms : nullptr);
    fit = impl_->still_fitter.Fit(lm.points, obs.camera);
  }
  if (fit.confidence < impl_->options.min_fit_confidence) return std::nullopt;
  obs.params = fit.params;
  obs.confidence = std::min(fit.confidence, lm.confidence);
  obs.rmse_px = fit.rmse_px;
  return obs;
}

std::optional<FaceObservation> FaceAnalyzer::AnalyzeFrame(const ImageView& image, int64_t timestamp_ns,
                                                         StageTimes* times) {
  std::optional<face3d::TrackedFace> tracked;
  if (times) {
    // The tracker interleaves detection and the landmark network; time the
    // network through the adapter and attribute the rest to detection.
    double landmarks_ms = 0.0, track_ms = 0.0;
    {
      // Detach the sink even when Track throws (it points at this frame).
      struct SinkGuard {
        LandmarkerSource& source;
        ~SinkGuard() { source.set_timing_sink(nullptr); }
      } guard{impl_->source};
      impl_->source.set_timing_sink(&landmarks_ms);
      ScopedStageTimer timer(&track_ms);
      tracked = impl_->tracker.Track(image, timestamp_ns);
    }
    times->landmarks_ms += landmarks_ms;
    times->detect_ms += std::max(0.0, track_ms - landmarks_ms);
    // No face: the detector ran (fresh detection or re-detection failed).
    times->detected = !tracked || tracked->redetected;
  } else {
    tracked = impl_->tracker.Track(image, timestamp_ns);
  }
  if (!tracked) return std::nullopt;
  FaceObservation obs;
  obs.box = tracked->box;
  obs.landmarks = tracked->landmarks;
  obs.camera = face3d::Camera::ForImage(image.width, image.height);
  face3d::FitResult fit;
  {
    ScopedStageTimer timer(times ? &times->fit_ms : nullptr);
    fit = impl_->video_fitter.Track(tracked->landmarks, obs.camera, timestamp_ns);
  }
  if (fit.confidence < impl_->options.min_fit_confidence) return std::nullopt;
  obs.params = fit.params;
  obs.confidence = std::min(fit.confidence, tracked->confidence);
  obs.rmse_px = fit.rmse_px;
  if (impl_->options.eyelids_from_pixels) {
    ScopedStageTimer timer(times ? &times->fit_ms : nullptr);
    const auto readings = impl_->eyelid_meter.Measure(image, tracked->landmarks);
    if (readings[0] && readings[1]) {
      const FaceAnalyzerOptions& o = impl_->options;
      const double closure = std::min(readings[0]->closure, readings[1]->closure);
      const double blink =
          std::clamp((closure - o.eyelid_open_closure) / (o.eyelid_shut_closure - o.eyelid_open_closure), 0.0, 1.0);
      for (int index : impl_->blink_index) {
        if (index >= 0) obs.params.expression[index] = blink;
      }
    }
  }
  return obs;
}

void FaceAnalyzer::Reset() {
  impl_->tracker.Reset();
  impl_->video_fitter.Reset();
  impl_->eyelid_meter.Reset();
}

const face3d::MorphableModel& FaceAnalyzer::model() const { return impl_->model; }
const FaceAnalyzerOptions& FaceAnalyzer::options() const { return impl_->options; }

}  // namespace faceanime::pipeline
