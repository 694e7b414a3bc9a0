// Face analysis for the pipeline: detection, 68 landmarks, and the 3DMM fit,
// for a still portrait (single-image fit with identity) or a video stream
// (tracking: landmarks followed across frames, identity estimated over the
// first frames then held, temporal smoothing). Used by `faceanime fit`, the
// retargeter and the GStreamer `facefit` element.
#ifndef FACEANIME_PIPELINE_FACE_ANALYZER_H_
#define FACEANIME_PIPELINE_FACE_ANALYZER_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>

#include "face3d/face_detector.h"
#include "face3d/face_fitter.h"
#include "face3d/face_tracker.h"
#include "face3d/image.h"
#include "face3d/landmarker.h"
#include "face3d/morphable_model.h"
#include "face3d/video_fitter.h"
#include "pipeline/fit_record.h"
#include "pipeline/stage_times.h"

namespace faceanime::pipeline {

// The landmark filter of the analysis pipeline: the face3d tracker's One-Euro
// defaults with a 100x larger speed coefficient (beta 3 per pixel instead of
// 0.03): still landmarks are smoothed as before (0.5 Hz), moving ones pass
// nearly unfiltered. Stand-alone, the tracker's filter is the only jitter
// removal; here the tracking fit's temporal term (VideoFitOptions) removes
// what is left, and slower settings lag the lips. Beta 0.03 lagged lip motion
// by ~2 frames; beta 0.3 still closed the mouth about a frame late (GRID
// `eval self --heldout --per-frame`: on the frames where the lips close, the
// output's inner-lip gap was 2-5 px above the ground truth's, and those frames
// lost 0.1-0.26 mouth SSIM to the similarity baseline). Measured with
// `faceanime eval self --heldout` (20 GRID clips): mouth SSIM 0.8345 -> 0.8469,
// 17 -> 19 of 20 clips above both baselines, AKD 0.42 -> 0.37 px, output
// landmark jitter 0.63 px/frame^2 (the driver videos' own: 0.70; no filter
// at all: mouth SSIM 0.8493, jitter 0.77). Earlier: beta 0.03 -> 0.3 took 9 clips'
// mouth SSIM 0.826 -> 0.848 (docs/benchmarks.md). FaceTracker's own unit tests
// keep its stand-alone default.
inline face3d::FaceTrackerOptions AnalyzerTrackerOptions() {
  face3d::FaceTrackerOptions options;
  options.filter.beta = 3.0;
  return options;
}

struct FaceAnalyzerOptions {
  // Morphable model file. Empty: MorphableModel::DefaultPath().
  std::filesystem::path model_path;
  face3d::FaceDetectorOptions detector;  // Which detector, thresholds.
  face3d::Landmarker::Options landmarks;  // Full or tiny net, weights folder.
  face3d::FaceTrackerOptions tracker = AnalyzerTrackerOptions();  // Re-detection, landmark filter.
  face3d::FitOptions still_fit;           // Single-image fit.
  face3d::VideoFitOptions video_fit;      // Tracking fit.
  // Worker threads for the networks (OpenCV DNN and LibTorch), >= 1.
  // Default 1: on a 2-core machine shared with decoding, encoding or another
  // process, LibTorch's OpenMP threads at 2 made the landmark net take ~0.7 s
  // instead of ~5-9 ms per face (measured with faceanime bench); raise it
  // only on an otherwise idle machine with spare cores.
  int num_threads = 1;
  // Fits below this confidence count as "no face" (never emit garbage). [0, 1].
  double min_fit_confidence = 0.2;
};

class FaceAnalyzer {
 public:
  // Loads every model once. Throws std::runtime_error subclasses naming the
  // missing or corrupt file and the fix (tools/setup); std::invalid_argument
  // for invalid options.
  static std::unique_ptr<FaceAnalyzer> Create(const FaceAnalyzerOptions& options = {});
  ~FaceAnalyzer();

  // A still image: the largest face, fitted with identity. std::nullopt when
  // no face is found or the fit is not credible. `times` (optional): filled
  // with the detect, landmarks and fit wall times (see stage_times.h).
  std::optional<FaceObservation> AnalyzeStill(const ImageView& image, StageTimes* times = nullptr) const;

  // One frame of a video stream (timestamps increasing). std::nullopt when
  // the frame has no (credible) face. `times` (optional): as above.
  std::optional<FaceObservation> AnalyzeFrame(const ImageView& image, int64_t timestamp_ns,
                                              StageTimes* times = nullptr);

  // Forgets the tracked face and the identity estimate (new stream/scene).
  void Reset();

  const face3d::MorphableModel& model() const;
  const FaceAnalyzerOptions& options() const;

 private:
  struct Impl;
  explicit FaceAnalyzer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace faceanime::pipeline

#endif  // FACEANIME_PIPELINE_FACE_ANALYZER_H_
