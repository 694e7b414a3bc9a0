// Optional per-stage timing for the bench command (`faceanime bench`).
//
// FaceAnalyzer and Retargeter fill a StageTimes when the caller passes a
// pointer; with nullptr (the default) they measure nothing. This is the only
// place the pipeline reads a clock: wall time (std::chrono::steady_clock)
// around each stage, for reporting only. Timestamps that drive the pipeline
// (tracking, filters, motion hold/ease) remain inputs.
#ifndef FACEANIME_PIPELINE_STAGE_TIMES_H_
#define FACEANIME_PIPELINE_STAGE_TIMES_H_

#include <chrono>

namespace faceanime::pipeline {

// Milliseconds of wall time spent in each stage for one frame. A stage that
// did not run this frame stays 0.
struct StageTimes {
  // Face detection. For tracked video frames: the tracker's time minus the
  // landmark network's (detector runs on the first frame and on re-detection,
  // plus the box logic and One-Euro filter, well under 0.1 ms).
  double detect_ms = 0.0;
  double landmarks_ms = 0.0;  // The 68-landmark network (every call this frame).
  double fit_ms = 0.0;        // 3DMM fit (single-image or tracking; with the eyelid meter when tracking).
  double motion_ms = 0.0;     // Motion transfer (Retargeter only).
  double render_ms = 0.0;     // 3D-guided warp + paste-back + output crop (Retargeter only; includes generator_ms).
  // The neural generator (Retargeter with generator "neural"): priors, crop,
  // network, feathered paste. Part of render_ms; 0 with the classical one.
  double generator_ms = 0.0;
  bool detected = false;      // The face detector ran this frame.
};

// Adds the wall time from construction to destruction, in ms, to `*sink`
// (nothing when `sink` is null).
class ScopedStageTimer {
 public:
  explicit ScopedStageTimer(double* sink)
      : sink_(sink), start_(sink ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{}) {}
  ~ScopedStageTimer() {
    if (sink_) *sink_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
  }
  ScopedStageTimer(const ScopedStageTimer&) = delete;
  ScopedStageTimer& operator=(const ScopedStageTimer&) = delete;

 private:
  double* sink_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace faceanime::pipeline

#endif  // FACEANIME_PIPELINE_STAGE_TIMES_H_
