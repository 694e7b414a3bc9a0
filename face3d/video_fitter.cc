#include "face3d/video_fitter.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

#include "face3d/landmark_solver.h"

namespace faceanime::face3d {
namespace {

constexpr int kExpressionOffset = internal::kSolverPoseSize;
constexpr int kStateSize = internal::kSolverStateSize;
using State = std::array<double, kStateSize>;
constexpr double kDeg = M_PI / 180.0;

}  // namespace

VideoFitter::VideoFitter(FaceFitter fitter, const VideoFitOptions& options)
    : fitter_(std::move(fitter)), options_(options) {}

VideoFitter VideoFitter::Create(const MorphableModel& model, const VideoFitOptions& options) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("VideoFitOptions: " + what); };
  if (options.identity_frames < 1) fail("identity_frames must be >= 1");
  if (options.identity_stride < 1) fail("identity_stride must be >= 1");
  if (!(options.rotation_jitter_deg > 0) || !(options.translation_jitter_cm > 0) || !(options.expression_jitter > 0)) {
    fail("jitter scales must be > 0");
  }
  if (!(options.temporal_weight >= 0)) fail("temporal_weight must be >= 0");
  if (options.track_iterations < 1) fail("track_iterations must be >= 1");
  if (!(options.min_confidence >= 0 && options.min_confidence <= 1)) fail("min_confidence must be in [0, 1]");
  if (options.max_gap_ns <= 0) fail("max_gap_ns must be > 0");
  return VideoFitter(FaceFitter::Create(model, options.fit), options);
}

void VideoFitter::Reset() {
  identity_.fill(0.0);
  has_identity_ = false;
  identity_locked_ = false;
  identity_sum_.fill(0.0);
  identity_count_ = 0;
  history_.clear();
  frames_tracked_ = 0;
}

void VideoFitter::HoldIdentity(const std::array<double, kNumIdentityShapes>& identity) {
  identity_ = identity;
  has_identity_ = identity_locked_ = true;
  history_.clear();
}

void VideoFitter::Remember(const FaceParams& params, int64_t timestamp_ns) {
  history_.push_back({internal::ToSolverState(params), timestamp_ns});
  if (history_.size() > 2) history_.erase(history_.begin());
}

FitResult VideoFitter::FreshFit(const Landmarks68& landmarks, const Camera& camera,
                                const std::optional<std::array<double, kNumLandmarks>>& weights) {
  FitRequest request;
  request.weights = weights;
  if (has_identity_) request.identity = identity_;
  FitResult result = fitter_.Fit(landmarks, camera, request);
  if (!has_identity_ && result.confidence > 0) {
    identity_ = result.params.identity;
    has_identity_ = true;
  }
  return result;
}

FitResult VideoFitter::TrackFrame(const Landmarks68& landmarks, const Camera& camera, int64_t timestamp_ns,
                                  const std::optional<std::array<double, kNumLandmarks>>& weights) const {
  // Constant-velocity prediction from the last two frames (timestamps give
  // the extrapolation factor), else the last frame.
  const HistoryEntry& last = history_.back();
  State predicted = last.state;
  if (history_.size() == 2) {
    const HistoryEntry& before = history_.front();
    const double k = static_cast<double>(timestamp_ns - last.timestamp_ns) /
                     static_cast<double>(last.timestamp_ns - before.timestamp_ns);
    for (int i = 0; i < kStateSize; ++i) predicted[i] += k * (last.state[i] - before.state[i]);
  }
  for (int j = 0; j < kNumExpressionShapes; ++j) {
    double& e = predicted[kExpressionOffset + j];
    e = std::clamp(e, 0.0, 1.0);
  }

  const LandmarkModel& model = fitter_.landmark_model();
  State state = predicted;
  std::array<double, kNumIdentityShapes> identity = identity_;
  FitResult result;
  FaceParams& params = result.params;
  params.identity = identity_;
  std::array<int, kNumLandmarks> rows{};
  internal::LandmarkFitProblem problem = internal::FitProblemFor(fitter_, landmarks, camera, weights);
  internal::TemporalPrior temporal;
  temporal.predicted = predicted;
  temporal.weight = options_.temporal_weight;
  for (int i = 0; i < kStateSize; ++i) {
    temporal.scale[i] = i < 3   ? options_.rotation_jitter_deg * kDeg
                        : i < 6 ? options_.translation_jitter_cm
                                : options_.expression_jitter;
  }
  if (options_.temporal_weight > 0) problem.temporal = &temporal;
  internal::SolverSettings settings;
  settings.max_iterations = options_.track_iterations;
  settings.function_tolerance = 1e-6;
  settings.parameter_tolerance = 1e-7;
  for (int round = 0; round < 2; ++round) {
    internal::FromSolverState(state, &params);
    const std::array<int, kNumLandmarks> selected = model.SelectRows(params, camera, &landmarks);
    if (round > 0 && selected == rows) break;
    rows = selected;
    problem.rows = rows;
    problem.normals = model.ContourNormals(params, camera);
    result.iterations += internal::SolveLandmarkFit(problem, settings, &state, &identity).iterations;
  }
  internal::FromSolverState(state, &params);
  for (int k = 0; k < kNumLandmarks; ++k) result.vertices[k] = model.basis().vertex_ids[rows[k]];
  result.rmse_px = internal::RmseForRows(model, params, camera, landmarks, weights, rows);
  result.confidence = params.pose.translation.z() > 0 ? fitter_.Confidence(result.rmse_px, landmarks) : 0.0;
  return result;
}

FitResult VideoFitter::Track(const Landmarks68& landmarks, const Camera& camera, int64_t timestamp_ns,
                             const std::optional<std::array<double, kNumLandmarks>>& weights) {
  if (!history_.empty() && (timestamp_ns <= history_.back().timestamp_ns ||
                            timestamp_ns - history_.back().timestamp_ns > options_.max_gap_ns)) {
    history_.clear();
  }
  FitResult result;
  if (history_.empty() || !has_identity_) {
    result = FreshFit(landmarks, camera, weights);
  } else {
    result = TrackFrame(landmarks, camera, timestamp_ns, weights);
    if (result.confidence < options_.min_confidence) {
      // Tracking failed (or the face changed abruptly): start over from PnP.
      history_.clear();
      FitResult fresh = FreshFit(landmarks, camera, weights);
      if (fresh.confidence > result.confidence) result = std::move(fresh);
    }
  }
  ++frames_tracked_;
  if (result.confidence <= 0) {
    history_.clear();  // No usable face in this frame.
    return result;
  }

  if (!identity_locked_ && (frames_tracked_ - 1) % options_.identity_stride == 0) {
    // This frame's own identity estimate, warm-started from its tracked pose
    // and expression.
    FitRequest request;
    request.weights = weights;
    request.initial = result.params;
    const FitResult single = fitter_.Fit(landmarks, camera, request);
    if (single.confidence >= options_.min_confidence) {
      for (int i = 0; i < kNumIdentityShapes; ++i) identity_sum_[i] += single.params.identity[i];
      ++identity_count_;
    }
    if (identity_count_ >= options_.identity_frames) {
      for (int i = 0; i < kNumIdentityShapes; ++i) identity_[i] = identity_sum_[i] / identity_count_;
      has_identity_ = identity_locked_ = true;
      // Re-fit this frame on the locked identity and restart the motion
      // history from it.
      FitRequest locked;
      locked.weights = weights;
      locked.identity = identity_;
      locked.initial = result.params;
      result = fitter_.Fit(landmarks, camera, locked);
      history_.clear();
    }
  }
  Remember(result.params, timestamp_ns);
  return result;
}

}  // namespace faceanime::face3d
