#include "face3d/face_fitter.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

#include <ceres/ceres.h>
#include <opencv2/calib3d.hpp>
#include <opencv2/core.hpp>

#include "face3d/fitting_costs.h"
#include "face3d/landmark_solver.h"

namespace faceanime::face3d {
namespace {
// Weight of the contour landmarks' offset along the outline in the first
// phase of a single-image fit (FaceFitter::Fit), before the options' weight
// applies. Measured on synthetic faces (tests/face3d/face_fitter_test.cc):
// with the full weight from the start, a few silhouette vertices settle one
// or two candidates off and drag the identity (rotation error up to 2.4 deg
// noise-free over 8 faces, 1.9 with this phase; seed 11).
constexpr double kCoarseTangentialWeight = 0.1;


using internal::kExpressionOffset;
using internal::kStateSize;
using State = std::array<double, kStateSize>;
static_assert(kStateSize == internal::kSolverStateSize);

// Contour slot (0..15) of Multi-PIE landmark 0-7 / 9-16.
int ContourSlot(int landmark) { return landmark < 8 ? landmark : landmark - 1; }

// Strip construction (model space, cm, on the mean shape): vertices of the
// face part within kStripHalfWidth of the plane through the ICT jawline
// vertex spanned by the outward direction and +Z, from kStripInward inside
// the anchor to kStripOutward outside it, and no more than kStripBehind
// behind it.
constexpr double kStripHalfWidth = 0.3;
constexpr double kStripInward = 4.0;
constexpr double kStripOutward = 1.5;
constexpr double kStripBehind = 3.0;

Eigen::Vector3d MeanVertex(const MorphableModel& model, int v) {
  const float* p = model.neutral() + 3 * static_cast<size_t>(v);
  return Eigen::Vector3d(p[0], p[1], p[2]);
}

Eigen::Vector2d ProjectPoint(const Eigen::Vector3d& model_point, const Eigen::Matrix3d& r, const Eigen::Vector3d& t,
                             const Camera& camera) {
  const Eigen::Vector3d p = r * model_point + t;
  return camera.Project({p.x(), p.y(), std::max(p.z(), 1e-3)});
}

ceres::Solver::Options SolverOptions(int max_iterations, ceres::LinearSolverType solver) {
  ceres::Solver::Options o;
  o.linear_solver_type = solver;
  o.num_threads = 1;
  o.max_num_iterations = max_iterations;
  o.function_tolerance = 1e-9;
  o.gradient_tolerance = 1e-10;
  o.parameter_tolerance = 1e-7;
  o.logging_type = ceres::SILENT;
  o.minimizer_progress_to_stdout = false;
  return o;
}

}  // namespace

// ---------------------------------------------------------------------------
// LandmarkModel

LandmarkOffsets ZeroLandmarkOffsets() {
  LandmarkOffsets out;
  for (auto& o : out) o.setZero();
  return out;
}

LandmarkModel LandmarkModel::Create(const MorphableModel& model, const LandmarkOffsets& offsets_cm) {
  const auto& lm = model.landmark_vertices();
  std::vector<int> rows(lm.begin(), lm.end());
  const JawlineCandidates& jaw = model.jawline();
  if (jaw.right.size() != 8 || jaw.left.size() != 8 || jaw.right_extended.size() < 3 ||
      jaw.left_extended.size() < 3) {
    throw std::invalid_argument("LandmarkModel: the model lacks the ICT jawline candidate lists");
  }
  const IndexRange face = model.part(Part::kFace).vertices;

  LandmarkModel out;
  for (int k = 0; k <= 16; ++k) {
    if (!IsContourLandmark(k)) continue;
    const int slot = ContourSlot(k);
    const bool right = k < 8;
    const int anchor = right ? jaw.right[k] : jaw.left[k - 9];
    const std::vector<int>& ext = right ? jaw.right_extended : jaw.left_extended;
    const auto it = std::find(ext.begin(), ext.end(), anchor);
    if (it == ext.end()) throw std::invalid_argument("LandmarkModel: jawline vertex not in its extended list");
    const int i = static_cast<int>(it - ext.begin());
    const int prev = ext[std::max(i - 1, 0)];
    const int next = ext[std::min(i + 1, static_cast<int>(ext.size()) - 1)];
    const Eigen::Vector3d a = MeanVertex(model, anchor);
    Eigen::Vector3d tangent = MeanVertex(model, next) - MeanVertex(model, prev);
    tangent.z() = 0;
    tangent.normalize();
    Eigen::Vector3d outward(-tangent.y(), tangent.x(), 0.0);
    if (outward.x() * a.x() + outward.y() * a.y() < 0) outward = -outward;

    // Candidates near the plane, binned by their angle about an axis inside
    // the head (along the cross-section curve, front to back); per bin the
    // vertex closest to the plane, so the strip is a single chain and
    // neighbouring candidates differ along the outward direction, not across.
    constexpr int kBins = 90;
    std::array<std::pair<double, int>, kBins> best;
    best.fill({std::numeric_limits<double>::infinity(), -1});
    auto bin_of = [&](const Eigen::Vector3d& d) {
      const double angle = std::atan2(d.z(), d.dot(outward) + kStripInward);  // In [-pi/2, pi/2] here.
      return std::clamp(static_cast<int>((M_PI / 2 - angle) / M_PI * kBins), 0, kBins - 1);
    };
    for (int v = face.begin; v < face.end; ++v) {
      const Eigen::Vector3d d = MeanVertex(model, v) - a;
      const double across = std::abs(d.dot(tangent));
      const double along = d.dot(outward);
      if (across > kStripHalfWidth || along < -kStripInward || along > kStripOutward || d.z() < -kStripBehind) {
        continue;
      }
      auto& b = best[bin_of(d)];
      if (across < b.first) b = {across, v};
    }
    best[bin_of(Eigen::Vector3d::Zero())] = {0.0, anchor};  // The ICT jawline vertex itself.
    for (const auto& [unused, v] : best) {
      if (v < 0) continue;
      out.strips_[slot].push_back(static_cast<int>(rows.size()));
      rows.push_back(v);
    }
    out.outward_[slot] = outward;
  }
  out.basis_ = SubsetBasis::Create(model, rows);
  for (int k = 0; k < kNumLandmarks; ++k) out.basis_.mean.segment<3>(3 * k) += offsets_cm[k];
  for (int k = 0; k <= 16; ++k) {
    if (!IsContourLandmark(k)) continue;
    for (int row : out.strips_[ContourSlot(k)]) out.basis_.mean.segment<3>(3 * row) += offsets_cm[k];
  }
  out.identity_rows_ = out.basis_.identity;
  out.expression_rows_ = out.basis_.expression;
  return out;
}

std::span<const int> LandmarkModel::ContourRows(int landmark) const {
  if (!IsContourLandmark(landmark)) throw std::out_of_range("ContourRows: not a contour landmark");
  return strips_[ContourSlot(landmark)];
}

Eigen::Vector3d LandmarkModel::RowPosition(int row, std::span<const double, kNumIdentityShapes> identity,
                                           std::span<const double, kNumExpressionShapes> expression) const {
  const Eigen::Map<const Eigen::Matrix<double, kNumIdentityShapes, 1>> id(identity.data());
  const Eigen::Map<const Eigen::Matrix<double, kNumExpressionShapes, 1>> ex(expression.data());
  const Eigen::Map<const Eigen::Matrix<double, 3, kNumIdentityShapes, Eigen::RowMajor>> id_rows(
      identity_rows_.data() + 3 * row * kNumIdentityShapes);
  const Eigen::Map<const Eigen::Matrix<double, 3, kNumExpressionShapes, Eigen::RowMajor>> ex_rows(
      expression_rows_.data() + 3 * row * kNumExpressionShapes);
  return basis_.mean.segment<3>(3 * row) + id_rows * id + ex_rows * ex;
}

namespace {

// Image direction of the model-space outward direction `outward` at `base`.
Eigen::Vector2d ImageOutward(const Eigen::Vector3d& base, const Eigen::Vector3d& outward, const Eigen::Matrix3d& r,
                             const Eigen::Vector3d& t, const Camera& camera) {
  return (ProjectPoint(base + outward, r, t, camera) - ProjectPoint(base, r, t, camera)).normalized();
}

}  // namespace

std::array<Eigen::Vector2d, kNumLandmarks> LandmarkModel::ContourNormals(const FaceParams& params,
                                                                         const Camera& camera) const {
  std::array<Eigen::Vector2d, kNumLandmarks> normals;
  for (auto& n : normals) n.setZero();
  const Eigen::Matrix3d r = params.pose.ModelToCameraRotation();
  for (int k = 0; k <= 16; ++k) {
    if (!IsContourLandmark(k)) continue;
    const int slot = ContourSlot(k);
    const Eigen::Vector3d base = RowPosition(strips_[slot].front(), params.identity, params.expression);
    normals[k] = ImageOutward(base, outward_[slot], r, params.pose.translation, camera);
  }
  return normals;
}

std::array<int, kNumLandmarks> LandmarkModel::SelectRows(const FaceParams& params, const Camera& camera,
                                                         const Landmarks68* observed, double tolerance_cm) const {
  std::array<int, kNumLandmarks> rows;
  for (int k = 0; k < kNumLandmarks; ++k) rows[k] = k;
  const Eigen::Matrix3d r = params.pose.ModelToCameraRotation();
  const Eigen::Vector3d& t = params.pose.translation;
  for (int k = 0; k <= 16; ++k) {
    if (!IsContourLandmark(k)) continue;
    const int slot = ContourSlot(k);
    const std::vector<int>& strip = strips_[slot];
    // The image direction of the model-space outward direction at the strip.
    const Eigen::Vector3d base = RowPosition(strip.front(), params.identity, params.expression);
    const Eigen::Vector2d u = ImageOutward(base, outward_[slot], r, t, camera);
    std::array<double, 128> score;
    std::array<Eigen::Vector2d, 128> image;
    const int n = std::min<int>(strip.size(), score.size());
    double best = -std::numeric_limits<double>::infinity();
    for (int i = 0; i < n; ++i) {
      image[i] = ProjectPoint(RowPosition(strip[i], params.identity, params.expression), r, t, camera);
      score[i] = u.dot(image[i]);
      if (score[i] > best) {
        best = score[i];
        rows[k] = strip[i];
      }
    }
    if (observed != nullptr) {
      const double depth = std::max((r * base + t).z(), 1e-3);
      const double tolerance = tolerance_cm * camera.focal / depth;
      double nearest = std::numeric_limits<double>::infinity();
      for (int i = 0; i < n; ++i) {
        if (score[i] < best - tolerance) continue;
        const double d = (image[i] - (*observed)[k]).squaredNorm();
        if (d < nearest) {
          nearest = d;
          rows[k] = strip[i];
        }
      }
    }
  }
  return rows;
}

std::vector<std::pair<int, int>> LandmarkModel::SilhouetteCompetitors(
    const FaceParams& params, const Camera& camera, const std::array<int, kNumLandmarks>& rows,
    const std::array<Eigen::Vector2d, kNumLandmarks>& normals) const {
  std::vector<std::pair<int, int>> out;
  const Eigen::Matrix3d r = params.pose.ModelToCameraRotation();
  const Eigen::Vector3d& t = params.pose.translation;
  for (int k = 0; k <= 16; ++k) {
    if (!IsContourLandmark(k) || normals[k].squaredNorm() == 0.0) continue;
    const Eigen::Vector2d u = normals[k].normalized();
    auto score = [&](int row) {
      return u.dot(ProjectPoint(RowPosition(row, params.identity, params.expression), r, t, camera));
    };
    const Eigen::Vector3d own = RowPosition(rows[k], params.identity, params.expression);
    const double depth = std::max((r * own + t).z(), 1e-3);
    const double margin_px = kSilhouetteCompetitorMarginCm * camera.focal / depth;
    const double threshold = u.dot(ProjectPoint(own, r, t, camera)) - margin_px;
    for (int row : strips_[ContourSlot(k)]) {
      if (row != rows[k] && score(row) >= threshold) out.emplace_back(k, row);
    }
  }
  return out;
}

std::array<int, kNumLandmarks> LandmarkModel::SelectVertices(const FaceParams& params, const Camera& camera,
                                                             const Landmarks68* observed) const {
  std::array<int, kNumLandmarks> v = SelectRows(params, camera, observed);
  for (int& x : v) x = basis_.vertex_ids[x];
  return v;
}

Vertices LandmarkModel::Positions(const FaceParams& params, const Camera& camera) const {
  const std::array<int, kNumLandmarks> rows = SelectRows(params, camera);
  Vertices out(kNumLandmarks, 3);
  for (int k = 0; k < kNumLandmarks; ++k) {
    out.row(k) = RowPosition(rows[k], params.identity, params.expression).cast<float>().transpose();
  }
  return out;
}

Landmarks68 LandmarkModel::Project(const FaceParams& params, const Camera& camera) const {
  const std::array<int, kNumLandmarks> rows = SelectRows(params, camera);
  const Eigen::Matrix3d r = params.pose.ModelToCameraRotation();
  Landmarks68 out;
  for (int k = 0; k < kNumLandmarks; ++k) {
    out[k] = ProjectPoint(RowPosition(rows[k], params.identity, params.expression), r, params.pose.translation,
                          camera);
  }
  return out;
}

namespace internal {

double RmseForRows(const LandmarkModel& model, const FaceParams& params, const Camera& camera,
                   const Landmarks68& landmarks, const std::optional<std::array<double, kNumLandmarks>>& weights,
                   const std::array<int, kNumLandmarks>& rows) {
  const Eigen::Matrix3d r = params.pose.ModelToCameraRotation();
  double sum = 0.0;
  int n = 0;
  for (int k = 0; k < kNumLandmarks; ++k) {
    if (weights.has_value() && (*weights)[k] <= 0.0) continue;
    const Eigen::Vector2d p = ProjectPoint(model.RowPosition(rows[k], params.identity, params.expression), r,
                                           params.pose.translation, camera);
    sum += (p - landmarks[k]).squaredNorm();
    ++n;
  }
  return n > 0 ? std::sqrt(sum / n) : std::numeric_limits<double>::infinity();
}

}  // namespace internal

double ReprojectionRmse(const LandmarkModel& model, const FaceParams& params, const Camera& camera,
                        const Landmarks68& landmarks, const std::optional<std::array<double, kNumLandmarks>>& weights) {
  return internal::RmseForRows(model, params, camera, landmarks, weights,
                               model.SelectRows(params, camera, &landmarks));
}

// ---------------------------------------------------------------------------
// FaceFitter

std::map<std::string, double> DefaultExpressionL1Scale() {
  // Uniform. Raising the prior 4x on the shapes 68 landmarks barely observe
  // (cheekPuff, cheekSquint, eyeWide, eyeLook*) lifted the London smile count
  // (42 -> 46 of 72) but made fits of nearly identical images disagree: a
  // motionless driver's rendered output read back with 0.031 mean expression
  // error instead of 0.001 (pipeline_evaluation_test), so it is not the default.
  return {};
}

FitOptions ExactLandmarkFitOptions() {
  FitOptions options;
  options.landmark_sigma_px = 0.1;
  options.inner_landmarks_first = true;
  options.silhouette_consistency_weight = 1.0;
  options.soft_contour_px = {1.0, 0.3, 0.1};
  options.restart_rmse_sigma = 0.25;
  return options;
}

FaceFitter::FaceFitter(LandmarkModel landmarks, const FitOptions& options,
                       const std::array<double, kNumExpressionShapes>& l1)
    : landmarks_(std::move(landmarks)), options_(options), expression_l1_(l1) {}

FaceFitter FaceFitter::Create(const MorphableModel& model, const FitOptions& options) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("FitOptions: " + what); };
  if (!(options.landmark_sigma_px > 0)) fail("landmark_sigma_px must be > 0");
  if (!(options.robust_threshold > 0)) fail("robust_threshold must be > 0");
  if (!(options.identity_prior_weight >= 0)) fail("identity_prior_weight must be >= 0");
  if (!(options.expression_l1_weight >= 0)) fail("expression_l1_weight must be >= 0");
  if (options.max_rounds < 1) fail("max_rounds must be >= 1");
  for (double t : options.soft_contour_px) {
    if (!(t > 0) || !std::isfinite(t)) fail("soft_contour_px entries must be finite and > 0");
  }
  if (options.max_iterations < 1) fail("max_iterations must be >= 1");
  if (!(options.confidence_scale > 0)) fail("confidence_scale must be > 0");
  if (!(options.silhouette_consistency_weight >= 0)) fail("silhouette_consistency_weight must be >= 0");
  if (!(options.restart_rmse_sigma >= 0)) fail("restart_rmse_sigma must be >= 0");
  if (!(options.contour_tangential_weight >= 0 && options.contour_tangential_weight <= 1)) {
    fail("contour_tangential_weight must be in [0, 1]");
  }
  for (int k = 0; k < kNumLandmarks; ++k) {
    const Eigen::Vector3d& o = options.landmark_offsets_cm[k];
    if (!o.allFinite() || o.norm() > 2.0) {
      fail("landmark_offsets_cm[" + std::to_string(k) + "] must be finite and within 2 cm");
    }
  }
  std::array<double, kNumExpressionShapes> l1;
  l1.fill(options.expression_l1_weight);
  for (const auto& [name, scale] : options.expression_l1_scale) {
    const int j = model.ExpressionIndex(name);
    if (j < 0) fail("expression_l1_scale names '" + name + "', which is not an expression shape of the model");
    if (!(scale >= 0)) fail("expression_l1_scale['" + name + "'] must be >= 0");
    l1[j] = options.expression_l1_weight * scale;
  }
  return FaceFitter(LandmarkModel::Create(model, options.landmark_offsets_cm), options, l1);
}

double FaceFitter::Confidence(double rmse_px, const Landmarks68& landmarks) const {
  const double iod = InterOcularDistance(landmarks);
  if (!std::isfinite(rmse_px) || !(iod > 0)) return 0.0;
  const double e = rmse_px / (options_.confidence_scale * iod);
  return std::exp(-0.5 * e * e);
}

std::optional<Pose> FaceFitter::InitialPose(const Landmarks68& landmarks, const Camera& camera,
                                            std::span<const double, kNumIdentityShapes> identity) const {
  static constexpr std::array<double, kNumExpressionShapes> kNeutral{};
  std::vector<cv::Point3d> object;
  std::vector<cv::Point2d> image;
  for (int k = 8; k < kNumLandmarks; ++k) {
    if (k > 8 && k < 17) continue;
    // Camera-oriented model axes (diag(1, -1, -1)), so PnP's rotation is Pose::rotation.
    const Eigen::Vector3d p = landmarks_.RowPosition(k, identity, kNeutral);
    object.emplace_back(p.x(), -p.y(), -p.z());
    image.emplace_back(landmarks[k].x(), landmarks[k].y());
  }
  const cv::Matx33d k_mat(camera.focal, 0, camera.cx, 0, camera.focal, camera.cy, 0, 0, 1);
  cv::Mat rvec, tvec;
  try {
    if (!cv::solvePnP(object, image, k_mat, cv::noArray(), rvec, tvec, false, cv::SOLVEPNP_EPNP)) return std::nullopt;
    cv::solvePnP(object, image, k_mat, cv::noArray(), rvec, tvec, true, cv::SOLVEPNP_ITERATIVE);
  } catch (const cv::Exception&) {
    return std::nullopt;
  }
  Pose pose;
  for (int i = 0; i < 3; ++i) {
    pose.rotation[i] = rvec.at<double>(i);
    pose.translation[i] = tvec.at<double>(i);
  }
  if (!pose.rotation.allFinite() || !pose.translation.allFinite() || pose.translation.z() <= 0) return std::nullopt;
  return pose;
}

namespace {

// Offset c of the L1 expression prior (ExpressionSparsityResidual); its
// quadratic side term is weight^2 / (8 c^2) per unit^2, negligible here.
constexpr double kExpressionL1Offset = 4.0;

}  // namespace

namespace internal {

VertexBasis RowBasis(const LandmarkModel& model, int row) {
  return {model.basis().mean.data() + 3 * row, model.identity_rows().data() + 3 * row * kNumIdentityShapes,
          model.expression_rows().data() + 3 * row * kNumExpressionShapes};
}

void AddFrameResiduals(const FaceFitter& fitter, const Landmarks68& landmarks, const Camera& camera,
                       const std::optional<std::array<double, kNumLandmarks>>& weights,
                       const std::array<int, kNumLandmarks>& rows,
                       const std::array<Eigen::Vector2d, kNumLandmarks>& normals, double* state, double* identity,
                       ceres::Problem* problem) {
  const FitOptions& options = fitter.options();
  const double c = options.contour_tangential_weight;
  for (int k = 0; k < kNumLandmarks; ++k) {
    const double w = weights.has_value() ? (*weights)[k] : 1.0;
    if (w <= 0.0) continue;
    const double scale = std::sqrt(w) / options.landmark_sigma_px;
    Eigen::Matrix2d metric = Eigen::Matrix2d::Identity();
    if (normals[k].squaredNorm() > 0.0 && c != 1.0) {
      const Eigen::Vector2d u = normals[k].normalized();
      metric << u.x(), u.y(), -c * u.y(), c * u.x();
    }
    problem->AddResidualBlock(
        LandmarkCost::Create(RowBasis(fitter.landmark_model(), rows[k]), landmarks[k], scale, camera, metric),
        new ceres::HuberLoss(options.robust_threshold), state, identity);
  }
  const auto& l1 = fitter.expression_l1_weights();
  if (*std::max_element(l1.begin(), l1.end()) > 0) {
    problem->AddResidualBlock(ExpressionSparsityResidual::Create(l1, kExpressionL1Offset), nullptr, state);
  }
}

int SolveWithExpressionBounds(const ceres::Solver::Options& options, const std::vector<double*>& states,
                              ceres::Problem* problem) {
  for (double* state : states) {
    for (int j = 0; j < kNumExpressionShapes; ++j) {
      double& e = state[kExpressionOffset + j];
      e = std::clamp(e, 0.0, 1.0);
      problem->SetParameterLowerBound(state, kExpressionOffset + j, 0.0);
      problem->SetParameterUpperBound(state, kExpressionOffset + j, 1.0);
    }
  }
  ceres::Solver::Summary summary;
  ceres::Solve(options, problem, &summary);
  return static_cast<int>(summary.iterations.size()) - 1;
}

}  // namespace internal

namespace {
using internal::AddFrameResiduals;
}  // namespace

FitResult FaceFitter::Fit(const Landmarks68& landmarks, const Camera& camera, const FitRequest& request) const {
  FitResult result;
  FaceParams& params = result.params;
  const bool hold_identity = request.identity.has_value();
  if (request.initial.has_value()) params = *request.initial;
  if (hold_identity) params.identity = *request.identity;
  if (!request.initial.has_value()) {
    const std::optional<Pose> pose = InitialPose(landmarks, camera, params.identity);
    if (!pose.has_value()) {
      result.rmse_px = std::numeric_limits<double>::infinity();
      return result;  // confidence 0.
    }
    params.pose = *pose;
  }

  State state = internal::ToSolverState(params);
  std::array<double, kNumIdentityShapes> identity = params.identity;
  std::array<int, kNumLandmarks> rows{};
  internal::LandmarkFitProblem problem = internal::FitProblemFor(*this, landmarks, camera, request.weights);
  internal::SolverSettings settings;
  settings.max_iterations = options_.max_iterations;
  // Phase 0 lets the contour landmarks slide along the outline (only their
  // offset across it counts fully) while pose, identity and expression
  // settle; phase 1 then fits with the options' weight from there.
  const double coarse = std::min(options_.contour_tangential_weight, kCoarseTangentialWeight);
  // Inner landmarks first (FitOptions::inner_landmarks_first): pose and
  // expression, then identity too, from the inner landmarks and the chin.
  const bool inner_first = options_.inner_landmarks_first && !hold_identity;
  if (inner_first) {
    std::array<double, kNumLandmarks> inner_weights;
    for (int k = 0; k < kNumLandmarks; ++k) {
      inner_weights[k] = IsContourLandmark(k) ? 0.0 : request.weights.has_value() ? (*request.weights)[k] : 1.0;
    }
    internal::LandmarkFitProblem inner = problem;
    inner.weights = &inner_weights;
    for (int k = 0; k < kNumLandmarks; ++k) inner.rows[k] = k;
    for (bool estimate : {false, true}) {
      inner.estimate_identity = estimate;
      result.iterations += internal::SolveLandmarkFit(inner, settings, &state, &identity).iterations;
    }
  }
  // The contour rounds (both phases) from (*st, *id), the silhouette ties
  // broken within `tolerance_cm`; leaves the last solve's rows in *out_rows.
  auto contour_rounds = [&](double tolerance_cm, State* st, std::array<double, kNumIdentityShapes>* id,
                            std::array<int, kNumLandmarks>* out_rows) {
    for (int phase = 0; phase < 2; ++phase) {
      if (phase == 1 && coarse == options_.contour_tangential_weight) break;
      problem.contour_tangential_weight = phase == 0 ? coarse : options_.contour_tangential_weight;
      for (int round = 0; round < options_.max_rounds; ++round) {
        internal::FromSolverState(*st, &params);
        params.identity = *id;
        const std::array<int, kNumLandmarks> selected = landmarks_.SelectRows(params, camera, &landmarks, tolerance_cm);
        // Identity is estimated only once the pose is settled (round >= 1, or
        // from the start after the inner fit, which holds the pose instead).
        const bool fix_identity = hold_identity || (phase == 0 && round == 0 && !inner_first);
        if (round > 0 && selected == *out_rows && (phase > 0 || round > 1 || hold_identity)) break;
        *out_rows = selected;
        problem.rows = selected;
        problem.normals = landmarks_.ContourNormals(params, camera);
        problem.estimate_identity = !fix_identity;
        problem.hold_pose = inner_first && phase == 0 && round == 0;
        problem.silhouette_weight = options_.silhouette_consistency_weight;
        problem.silhouette_pairs.clear();
        if (problem.silhouette_weight > 0) {
          problem.silhouette_pairs = landmarks_.SilhouetteCompetitors(params, camera, selected, problem.normals);
        }
        result.iterations += internal::SolveLandmarkFit(problem, settings, st, id).iterations;
      }
    }
  };
  // Soft silhouette (FitOptions::soft_contour_px): pose, identity and
  // expression against the smooth maximum of each contour landmark's strip,
  // before any silhouette vertex is chosen.
  if (!hold_identity && !options_.soft_contour_px.empty()) {
    internal::LandmarkFitProblem soft = problem;
    for (int k = 0; k < kNumLandmarks; ++k) soft.rows[k] = k;  // Contour rows unused.
    soft.contour_tangential_weight = coarse;
    soft.estimate_identity = true;
    for (double temperature : options_.soft_contour_px) {
      internal::FromSolverState(state, &params);
      params.identity = identity;
      soft.normals = landmarks_.ContourNormals(params, camera);
      soft.soft_contour_px = temperature;
      result.iterations += internal::SolveLandmarkFit(soft, settings, &state, &identity).iterations;
    }
  }
  const State start = state;
  const std::array<double, kNumIdentityShapes> start_identity = identity;
  contour_rounds(LandmarkModel::kSilhouetteToleranceCm, &state, &identity, &rows);
  if (options_.restart_rmse_sigma > 0) {
    // The cost the rounds minimise (the hinges aside) with the final rows.
    auto cost = [&](const State& st, const std::array<double, kNumIdentityShapes>& id,
                    const std::array<int, kNumLandmarks>& r) {
      FaceParams p = params;
      internal::FromSolverState(st, &p);
      p.identity = id;
      internal::LandmarkFitProblem q = problem;
      q.rows = r;
      q.normals = landmarks_.ContourNormals(p, camera);
      q.contour_tangential_weight = options_.contour_tangential_weight;
      q.estimate_identity = !hold_identity;
      q.hold_pose = false;
      q.silhouette_weight = 0.0;
      q.silhouette_pairs.clear();
      return internal::LandmarkFitCost(q, st, id);
    };
    internal::FromSolverState(state, &params);
    params.identity = identity;
    const double rmse = internal::RmseForRows(landmarks_, params, camera, landmarks, request.weights, rows);
    if (rmse > options_.restart_rmse_sigma * options_.landmark_sigma_px) {
      double best = cost(state, identity, rows);
      for (const FitOptions::Restart& restart : FitOptions::kRestarts) {
        State st = start;
        if (restart.yaw_deg != 0.0 || restart.pitch_deg != 0.0) {
          Pose turned;
          turned.rotation = Eigen::Vector3d(st[0], st[1], st[2]);
          EulerAngles angles = ToEuler(turned);
          angles.yaw += restart.yaw_deg;
          angles.pitch += restart.pitch_deg;
          const Eigen::Vector3d rotation = RotationFromEuler(angles);
          for (int i = 0; i < 3; ++i) st[i] = rotation[i];
        }
        std::array<double, kNumIdentityShapes> id = start_identity;
        if (!hold_identity) {
          for (double& w : id) w *= restart.identity_scale;
        }
        std::array<int, kNumLandmarks> r{};
        contour_rounds(restart.tolerance_cm, &st, &id, &r);
        const double c = cost(st, id, r);
        if (c < best) {
          best = c;
          state = st;
          identity = id;
          rows = r;
        }
      }
    }
  }
  internal::FromSolverState(state, &params);
  params.identity = identity;
  // Report the correspondences of the last solve (a re-selection after it
  // may flip near-tied silhouette vertices the solve did not see).
  for (int k = 0; k < kNumLandmarks; ++k) result.vertices[k] = landmarks_.basis().vertex_ids[rows[k]];
  result.rmse_px = internal::RmseForRows(landmarks_, params, camera, landmarks, request.weights, rows);
  result.confidence = params.pose.translation.z() > 0 ? Confidence(result.rmse_px, landmarks) : 0.0;
  return result;
}

std::vector<FitResult> FaceFitter::FitFrames(std::span<const FrameObservation> frames) const {
  const int n = static_cast<int>(frames.size());
  std::vector<FitResult> results(n);
  if (n == 0) return results;
  // Each frame on its own first, for pose and expression: from its start
  // with the start's identity held, else a single-image fit (identity
  // estimated; started from the mean face instead, the joint fit stays in
  // the mean face's jaw-contour correspondences: measured 0.24 cm identity
  // vertex error against 0.11 cm, 9 synthetic frames). The shared identity
  // starts from the mean of the per-frame identities.
  std::vector<State> states(n);
  std::array<double, kNumIdentityShapes> identity{};
  int pooled = 0;
  for (int f = 0; f < n; ++f) {
    FitRequest request;
    request.weights = frames[f].weights;
    request.initial = frames[f].initial;
    if (frames[f].initial.has_value()) request.identity = frames[f].initial->identity;
    results[f] = Fit(frames[f].landmarks, frames[f].camera, request);
    states[f] = internal::ToSolverState(results[f].params);
    if (results[f].confidence <= 0) continue;
    for (int i = 0; i < kNumIdentityShapes; ++i) identity[i] += results[f].params.identity[i];
    ++pooled;
  }
  if (pooled > 0) {
    for (double& w : identity) w /= pooled;
  }

  std::vector<std::array<int, kNumLandmarks>> rows(n);
  std::vector<std::array<Eigen::Vector2d, kNumLandmarks>> normals(n);
  for (int round = 0; round < options_.max_rounds; ++round) {
    bool changed = round == 0;
    for (int f = 0; f < n; ++f) {
      FaceParams p;
      internal::FromSolverState(states[f], &p);
      p.identity = identity;
      const auto selected = landmarks_.SelectRows(p, frames[f].camera, &frames[f].landmarks);
      changed |= selected != rows[f];
      rows[f] = selected;
      normals[f] = landmarks_.ContourNormals(p, frames[f].camera);
    }
    if (!changed) break;
    ceres::Problem problem;
    auto* ordering = new ceres::ParameterBlockOrdering;
    for (int f = 0; f < n; ++f) {
      if (results[f].confidence <= 0) continue;  // Unusable frame (PnP failed).
      AddFrameResiduals(*this, frames[f].landmarks, frames[f].camera, frames[f].weights, rows[f], normals[f],
                        states[f].data(), identity.data(), &problem);
      ordering->AddElementToGroup(states[f].data(), 0);
    }
    if (problem.NumResidualBlocks() == 0) {
      delete ordering;
      break;
    }
    if (options_.identity_prior_weight > 0) {
      problem.AddResidualBlock(internal::IdentityPriorResidual::Create(options_.identity_prior_weight), nullptr,
                               identity.data());
    }
    ordering->AddElementToGroup(identity.data(), 1);
    ceres::Solver::Options solver = SolverOptions(options_.max_iterations, ceres::DENSE_SCHUR);
    solver.linear_solver_ordering.reset(ordering);
    std::vector<double*> blocks;
    for (int f = 0; f < n; ++f) {
      if (results[f].confidence > 0) blocks.push_back(states[f].data());
    }
    const int iterations = internal::SolveWithExpressionBounds(solver, blocks, &problem);
    for (auto& r : results) r.iterations += iterations;
  }
  for (int f = 0; f < n; ++f) {
    FitResult& r = results[f];
    if (r.confidence <= 0) {
      r.params.identity = identity;
      continue;
    }
    internal::FromSolverState(states[f], &r.params);
    r.params.identity = identity;
    for (int k = 0; k < kNumLandmarks; ++k) r.vertices[k] = landmarks_.basis().vertex_ids[rows[f][k]];
    r.rmse_px = internal::RmseForRows(landmarks_, r.params, frames[f].camera, frames[f].landmarks, frames[f].weights,
                                      rows[f]);
    r.confidence = r.params.pose.translation.z() > 0 ? Confidence(r.rmse_px, frames[f].landmarks) : 0.0;
  }
  return results;
}

}  // namespace faceanime::face3d
