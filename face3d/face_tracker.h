// Per-frame face tracking: detect a face, then follow it with the landmark
// network alone (the crop box comes from the previous frame's landmarks),
// falling back to detection when needed, and smooth the 68 landmarks with a
// One-Euro filter.
//
// Coordinates: image space of the frames, OpenCV pixels (integer coordinates
// are pixel centres). Time: timestamps are inputs (nanoseconds, monotonic);
// the tracker never reads a clock.
#ifndef FACEANIME_FACE3D_FACE_TRACKER_H_
#define FACEANIME_FACE3D_FACE_TRACKER_H_

#include <cstdint>
#include <optional>

#include <Eigen/Core>
#include <Eigen/Geometry>

#include "face3d/face_detector.h"
#include "face3d/face_params.h"
#include "face3d/image.h"
#include "face3d/landmark_types.h"
#include "face3d/one_euro_filter.h"

namespace faceanime::face3d {

// What the tracker needs from a landmark network: the 68 points of the face
// inside `face_box` (image pixels, the convention of FaceDetection::box) and a
// confidence in [0, 1] that a face is there. Implementations must be
// callable on a const object.
class LandmarkSource {
 public:
  virtual ~LandmarkSource() = default;
  virtual LandmarkResult Detect(const ImageView& image,
                                const Eigen::AlignedBox2d& face_box) const = 0;
};

class Landmarker;

// The face-api landmark network (face3d/landmarker.h) as a LandmarkSource.
// Holds a reference: `landmarker` must outlive it.
class LandmarkerSource : public LandmarkSource {
 public:
  explicit LandmarkerSource(const Landmarker& landmarker) : landmarker_(landmarker) {}
  LandmarkResult Detect(const ImageView& image, const Eigen::AlignedBox2d& face_box) const override;

 private:
  const Landmarker& landmarker_;
};

struct FaceTrackerOptions {
  // Below this landmark confidence the face is considered lost from the
  // landmark-derived box: the tracker re-detects in the same frame and, if
  // the landmarks from the detected box are still below it, reports no face.
  // [0, 1]; default 0.5.
  double min_landmark_confidence = 0.5;
  // Also re-detect every this many frames while tracking (catches drift and
  // lets a larger face take over). 0 (default): only when needed. >= 0.
  int redetect_interval = 0;
  // One-Euro filter on the 68 landmarks (pixels; see one_euro_filter.h).
  OneEuroFilterOptions filter;
};

struct TrackedFace {
  // The box the landmarks were taken from this frame, image pixels: the
  // detector's box on a detection frame, else the box derived from the
  // previous frame's raw landmarks (same convention as the detector's).
  Eigen::AlignedBox2d box;
  Landmarks68 landmarks;      // One-Euro filtered, image pixels.
  Landmarks68 raw_landmarks;  // As the landmark source returned them.
  double confidence = 0.0;    // The landmark source's confidence, [0, 1].
  bool redetected = false;    // The detector ran (successfully) this frame.
};

// Not thread-safe: one tracker follows one video stream. Holds references
// to `detector` and `landmarks`, which must outlive it.
class FaceTracker {
 public:
  // Validates `options` (std::invalid_argument).
  static FaceTracker Create(const FaceTrackerOptions& options, const FaceDetector& detector,
                            const LandmarkSource& landmarks);

  // Processes one frame. std::nullopt: no face in this frame (the next frame
  // detects afresh and restarts the filter). When the detector finds several
  // faces it takes the one overlapping the tracked face most, else the
  // largest. Timestamps should increase (see OneEuroFilter::Filter).
  std::optional<TrackedFace> Track(const ImageView& image, int64_t timestamp_ns);

  // Forgets the tracked face and the filter state.
  void Reset();

  const FaceTrackerOptions& options() const { return options_; }
  // Frames processed since the last detector run (0 on a detection frame).
  int frames_since_detection() const { return frames_since_detection_; }

 private:
  FaceTracker(const FaceTrackerOptions& options, const FaceDetector& detector,
              const LandmarkSource& landmarks);

  // The face box for this frame from the previous frame's raw landmarks.
  Eigen::AlignedBox2d BoxFromLandmarks(const Landmarks68& points) const;
  // Runs the detector; the chosen face's box, or std::nullopt.
  std::optional<Eigen::AlignedBox2d> DetectBox(const ImageView& image) const;

  FaceTrackerOptions options_;
  const FaceDetector* detector_;
  const LandmarkSource* landmarks_;
  OneEuroFilter filter_;

  bool tracking_ = false;
  Landmarks68 previous_raw_{};
  Eigen::AlignedBox2d previous_box_;
  int frames_since_detection_ = 0;
  // The detector box relative to the raw landmarks' bounding box, measured on
  // the last detection frame: (centre offset / landmark extent, per axis) and
  // (box size / landmark extent, per axis). Landmark-derived boxes reuse it so
  // the landmark source always sees boxes in the detector's convention.
  Eigen::Vector2d box_offset_ = Eigen::Vector2d::Zero();
  Eigen::Vector2d box_scale_ = Eigen::Vector2d::Ones();
};

}  // namespace faceanime::face3d

#endif  // FACEANIME_FACE3D_FACE_TRACKER_H_
