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

#include "face3d/eyelid_meter.h"
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
  // Tracking (AnalyzeFrame): eyeBlink_L and eyeBlink_R from the eye pixels
  // (face3d::EyelidMeter: each eye's lid closure against the stream's own
  // open-eye appearance, by analysis by synthesis) instead of the landmark
  // fit, which never sees a lid close (face-api's eyelid points barely move:
  // GRID srbb6p frame 40, both eyes shut, tracked eyeBlink <= 0.04). Both
  // weights take the smaller of the two eyes' closures, mapped linearly from
  // eyelid_open_closure (and below: 0) to eyelid_shut_closure (and above: 1):
  // a blink closes both eyes, while one eye's reading alone is what a
  // downward glance or a bad reading gives (GRID bbaf2n frames 54-58, looking
  // down: one eye reads 0.94-1.0, the other 0.20-0.29), so winks are not
  // transferred. On real GRID blinks (checked by eye on srbb6p, bbaf2n,
  // pwbk1s, bgin3a, srbu6n) the smaller closure of a shut pair is 0.51-1.0,
  // of open frames (talking, glancing down) at most 0.29-0.31 outside
  // the blinks' opening and closing frames; on renders of our own blinks the
  // meter reads the rendered closure (docs/benchmarks.md, "Blinks from
  // pixels"). A frame without a reading of both eyes (the open-eye reference
  // is still being collected over the stream's first 13 frames with a face,
  // an eye too small, out of the image or occluded) keeps the fitted
  // weights. Default true; adds 0.25-0.29 ms CPU per frame on a 640x480
  // frame (BM_EyelidMeter; the tracking fit: 1.5 ms, BM_FitTrackFrame). Still
  // images (AnalyzeStill) are not affected.
  bool eyelids_from_pixels = true;
  face3d::EyelidMeterOptions eyelids;
  // 0 <= eyelid_open_closure < eyelid_shut_closure <= 1 (defaults 0.3, 0.6).
  double eyelid_open_closure = 0.3;
  double eyelid_shut_closure = 0.6;
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
