#include "face3d/face_tracker.h"

#include <algorithm>
#include <stdexcept>

#include "face3d/landmarker.h"

namespace faceanime::face3d {

LandmarkResult LandmarkerSource::Detect(const ImageView& image, const Eigen::AlignedBox2d& face_box) const {
  return landmarker_.Detect(image, face_box);
}
namespace {

// Below this IoU between the newly detected box and the last tracked one, a
// detection is taken as a different face and the filter restarts.
constexpr double kSameFaceMinIoU = 0.1;

Eigen::AlignedBox2d BoundingBox(const Landmarks68& points) {
  Eigen::AlignedBox2d box;
  for (const auto& p : points) box.extend(p);
  return box;
}

Eigen::VectorXd Flatten(const Landmarks68& points) {
  Eigen::VectorXd v(2 * points.size());
  for (size_t i = 0; i < points.size(); ++i) v.segment<2>(2 * i) = points[i];
  return v;
}

Landmarks68 Unflatten(const Eigen::VectorXd& v) {
  Landmarks68 points;
  for (size_t i = 0; i < points.size(); ++i) points[i] = v.segment<2>(2 * i);
  return points;
}

// Landmark extent per axis, at least one pixel (degenerate fakes, far faces).
Eigen::Vector2d Extent(const Eigen::AlignedBox2d& box) {
  return box.sizes().cwiseMax(Eigen::Vector2d::Ones());
}

}  // namespace

FaceTracker FaceTracker::Create(const FaceTrackerOptions& options, const FaceDetector& detector,
                                const LandmarkSource& landmarks) {
  if (!(options.min_landmark_confidence >= 0.0 && options.min_landmark_confidence <= 1.0)) {
    throw std::invalid_argument("FaceTrackerOptions: min_landmark_confidence must be in [0, 1]");
  }
  if (options.redetect_interval < 0) {
    throw std::invalid_argument("FaceTrackerOptions: redetect_interval must be >= 0");
  }
  return FaceTracker(options, detector, landmarks);
}

FaceTracker::FaceTracker(const FaceTrackerOptions& options, const FaceDetector& detector,
                         const LandmarkSource& landmarks)
    : options_(options),
      detector_(&detector),
      landmarks_(&landmarks),
      filter_(OneEuroFilter::Create(options.filter)) {}

void FaceTracker::Reset() {
  tracking_ = false;
  frames_since_detection_ = 0;
  filter_.Reset();
}

Eigen::AlignedBox2d FaceTracker::BoxFromLandmarks(const Landmarks68& points) const {
  const Eigen::AlignedBox2d lm = BoundingBox(points);
  const Eigen::Vector2d extent = Extent(lm);
  const Eigen::Vector2d center = lm.center() + box_offset_.cwiseProduct(extent);
  const Eigen::Vector2d half = 0.5 * box_scale_.cwiseProduct(extent);
  return Eigen::AlignedBox2d(center - half, center + half);
}

std::optional<Eigen::AlignedBox2d> FaceTracker::DetectBox(const ImageView& image) const {
  const std::vector<FaceDetection> faces = detector_->Detect(image);
  if (faces.empty()) return std::nullopt;
  if (tracking_) {
    const FaceDetection* best = nullptr;
    double best_iou = 0.0;
    for (const FaceDetection& f : faces) {
      const double iou = BoxIoU(f.box, previous_box_);
      if (iou > best_iou) best_iou = iou, best = &f;
    }
    if (best != nullptr) return best->box;
  }
  return LargestFace(faces)->box;
}

std::optional<TrackedFace> FaceTracker::Track(const ImageView& image, int64_t timestamp_ns) {
  auto lose = [this]() -> std::optional<TrackedFace> {
    Reset();
    return std::nullopt;
  };
  if (image.empty()) return lose();

  const bool periodic = options_.redetect_interval > 0 &&
                        frames_since_detection_ + 1 >= options_.redetect_interval;
  bool redetected = false;
  Eigen::AlignedBox2d box;
  if (tracking_ && !periodic) {
    box = BoxFromLandmarks(previous_raw_);
  } else {
    const auto detected = DetectBox(image);
    if (!detected) return lose();
    box = *detected;
    redetected = true;
  }

  LandmarkResult result = landmarks_->Detect(image, box);
  if (result.confidence < options_.min_landmark_confidence) {
    if (redetected) return lose();
    // The landmark-derived box lost the face: look for it again.
    const auto detected = DetectBox(image);
    if (!detected) return lose();
    box = *detected;
    redetected = true;
    result = landmarks_->Detect(image, box);
    if (result.confidence < options_.min_landmark_confidence) return lose();
  }

  if (redetected) {
    // A new face (first, after a loss, or elsewhere in the frame) restarts
    // the filter; a periodic re-detection of the same face keeps it.
    if (!tracking_ || BoxIoU(box, previous_box_) < kSameFaceMinIoU) filter_.Reset();
    const Eigen::AlignedBox2d lm = BoundingBox(result.points);
    const Eigen::Vector2d extent = Extent(lm);
    box_offset_ = (box.center() - lm.center()).cwiseQuotient(extent);
    box_scale_ = box.sizes().cwiseQuotient(extent);
    frames_since_detection_ = 0;
  } else {
    ++frames_since_detection_;
  }

  TrackedFace face;
  face.box = box;
  face.raw_landmarks = result.points;
  face.landmarks = Unflatten(filter_.Filter(Flatten(result.points), timestamp_ns));
  face.confidence = result.confidence;
  face.redetected = redetected;

  tracking_ = true;
  previous_raw_ = result.points;
  previous_box_ = box;
  return face;
}

}  // namespace faceanime::face3d
