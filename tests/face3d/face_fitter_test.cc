// Single-image and multi-frame 3DMM fitting (FaceFitter, LandmarkModel) on
// synthetic ground truth drawn from the ICT model itself.
#include "face3d/face_fitter.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "face3d/landmark_solver.h"
#include "tests/face3d/synthetic_face.h"
#include "tests/test_support.h"

namespace faceanime::face3d {
namespace {

using testing::AddNoise;
using testing::ExpressionMae;
using testing::LandmarkMovingExpressions;
using testing::RandomFace;
using testing::RotationErrorDeg;
using testing::SyntheticCamera;
using testing::TestModel;

// The synthetic faces carry their landmarks on the model's own landmark
// vertices and jawline candidates, so these fitters use no landmark offsets
// (the default offsets calibrate a detector's convention, which synthetic
// landmarks do not have; london_fit_test covers them).
FitOptions SyntheticOptions() {
  FitOptions options;
  options.landmark_offsets_cm = ZeroLandmarkOffsets();
  return options;
}

const FaceFitter& Fitter() {
  static const FaceFitter* fitter = new FaceFitter(FaceFitter::Create(TestModel(), SyntheticOptions()));
  return *fitter;
}

// Per-vertex normals of the full mesh (area weighted), model space.
std::vector<Eigen::Vector3d> VertexNormals(const MorphableModel& model, const Vertices& v) {
  std::vector<Eigen::Vector3d> n(v.rows(), Eigen::Vector3d::Zero());
  const IndexRange face = model.part(Part::kFace).triangles;
  for (int t = face.begin; t < face.end; ++t) {
    const Triangle& tri = model.triangles()[t];
    const Eigen::Vector3d a = v.row(tri[0]).cast<double>(), b = v.row(tri[1]).cast<double>(),
                          c = v.row(tri[2]).cast<double>();
    const Eigen::Vector3d fn = (b - a).cross(c - a);
    for (int k : tri) n[k] += fn;
  }
  for (auto& x : n) x.normalize();
  return n;
}

// The selected contour vertex lies on the silhouette: its surface normal is
// nearly perpendicular to the viewing ray, for a frontal head and on the far
// side of a turned head (where the outline slides onto the cheek). The
// near-side outline of a turned head lies behind the candidate strips (they
// end 3 cm behind the ICT jawline vertex, before the ear), so it is clamped
// to the strip end and not checked here.
TEST(LandmarkModelTest, ContourLandmarksLieOnTheSilhouette) {
  const MorphableModel& model = TestModel();
  const LandmarkModel& lm = Fitter().landmark_model();
  const Camera camera = SyntheticCamera();
  for (double yaw : {-35.0, 0.0, 35.0}) {
    FaceParams p;
    p.pose.rotation = RotationFromEuler({yaw, 0, 0});
    p.pose.translation = Eigen::Vector3d(0, 0, 30);
    const Vertices full = model.Evaluate(p.identity, p.expression);
    const std::vector<Eigen::Vector3d> normals = VertexNormals(model, full);
    const std::array<int, kNumLandmarks> v = lm.SelectVertices(p, camera);
    const Eigen::Matrix3d r = p.pose.ModelToCameraRotation();
    // Camera centre in model space.
    const Eigen::Vector3d eye = -r.transpose() * p.pose.translation;
    for (int k = 0; k <= 16; ++k) {
      if (!IsContourLandmark(k)) continue;
      if (k >= 5 && k <= 11) continue;  // The chin's outline is its lower edge, not a side silhouette.
      const bool far_side = (yaw > 0 && k < 8) || (yaw < 0 && k > 8);
      if (yaw != 0 && !far_side) continue;
      const Eigen::Vector3d x = full.row(v[k]).cast<double>();
      const double cos_view = std::abs(normals[v[k]].dot((eye - x).normalized()));
      EXPECT_LT(cos_view, 0.35) << "yaw " << yaw << " landmark " << k << " vertex " << v[k];
    }
  }
}

// Turning the head moves the far-side contour onto the cheek (towards the
// nose) and leaves the inner landmarks on their fixed vertices.
TEST(LandmarkModelTest, FarSideContourMovesForwardWhenTheHeadTurns) {
  const MorphableModel& model = TestModel();
  const LandmarkModel& lm = Fitter().landmark_model();
  FaceParams frontal, turned;
  turned.pose.rotation = RotationFromEuler({35.0, 0, 0});  // Nose to image left: subject's right cheek is far.
  const auto v0 = lm.SelectVertices(frontal, SyntheticCamera());
  const auto v1 = lm.SelectVertices(turned, SyntheticCamera());
  const float* n = model.neutral();
  for (int k = 0; k < 5; ++k) EXPECT_GT(n[3 * v1[k] + 2], n[3 * v0[k] + 2] + 0.5) << "landmark " << k;
  for (int k = 17; k < kNumLandmarks; ++k) {
    EXPECT_EQ(v0[k], model.landmark_vertices()[k]);
    EXPECT_EQ(v1[k], model.landmark_vertices()[k]);
  }
}

TEST(FaceFitterTest, RejectsInvalidOptions) {
  FitOptions bad;
  bad.landmark_sigma_px = 0;
  EXPECT_THROW(FaceFitter::Create(TestModel(), bad), std::invalid_argument);
  bad = {};
  bad.max_rounds = 0;
  EXPECT_THROW(FaceFitter::Create(TestModel(), bad), std::invalid_argument);
  bad = {};
  bad.restart_rmse_sigma = -0.5;
  EXPECT_THROW(FaceFitter::Create(TestModel(), bad), std::invalid_argument);
  bad = {};
  bad.contour_tangential_weight = 1.5;
  EXPECT_THROW(FaceFitter::Create(TestModel(), bad), std::invalid_argument);
  bad = {};
  bad.expression_l1_scale["noSuchShape"] = 2.0;
  EXPECT_THROW(FaceFitter::Create(TestModel(), bad), std::invalid_argument);
  bad = {};
  bad.silhouette_consistency_weight = -1.0;
  EXPECT_THROW(FaceFitter::Create(TestModel(), bad), std::invalid_argument);
  bad = {};
  bad.landmark_offsets_cm[48] = Eigen::Vector3d(0, 3.0, 0);
  EXPECT_THROW(FaceFitter::Create(TestModel(), bad), std::invalid_argument);
  bad = {};
  bad.soft_contour_px = {1.0, 0.0};
  EXPECT_THROW(FaceFitter::Create(TestModel(), bad), std::invalid_argument);
}

// A landmark offset moves that landmark's model point by the offset (inner
// landmarks: the fixed vertex; contour landmarks: every strip candidate, so
// the silhouette choice is unchanged for a frontal face) and no other point.
TEST(LandmarkModelTest, LandmarkOffsetsMoveOnlyTheirLandmark) {
  LandmarkOffsets offsets = ZeroLandmarkOffsets();
  offsets[48] = Eigen::Vector3d(0.3, -0.2, 0.0);
  offsets[4] = Eigen::Vector3d(-0.5, 0.4, 0.0);
  const LandmarkModel plain = LandmarkModel::Create(TestModel());
  const LandmarkModel moved = LandmarkModel::Create(TestModel(), offsets);
  FaceParams frontal;
  frontal.pose.translation = Eigen::Vector3d(0, 0, 30);
  const Vertices a = plain.Positions(frontal, SyntheticCamera());
  const Vertices b = moved.Positions(frontal, SyntheticCamera());
  EXPECT_EQ(plain.SelectVertices(frontal, SyntheticCamera()), moved.SelectVertices(frontal, SyntheticCamera()));
  for (int k = 0; k < kNumLandmarks; ++k) {
    const Eigen::Vector3d d = (b.row(k) - a.row(k)).transpose().cast<double>();
    EXPECT_LT((d - offsets[k]).norm(), 1e-5) << "landmark " << k;
  }
}

// The per-shape L1 weights: expression_l1_weight times the listed scales.
TEST(FaceFitterTest, ExpressionL1WeightsApplyPerShapeScales) {
  FitOptions options;
  options.expression_l1_weight = 0.5;
  options.expression_l1_scale = {{"cheekPuff_L", 6.0}};
  const FaceFitter fitter = FaceFitter::Create(TestModel(), options);
  const auto& l1 = fitter.expression_l1_weights();
  const int puff = TestModel().ExpressionIndex("cheekPuff_L");
  const int smile = TestModel().ExpressionIndex("mouthSmile_L");
  EXPECT_DOUBLE_EQ(l1[puff], 3.0);
  EXPECT_DOUBLE_EQ(l1[smile], 0.5);
}

// The solver tests' case (MakeCase): a random synthetic face from a seed,
// its 68 landmarks projected with Gaussian noise (sigma in pixels; 0: exact),
// and the fit problem the fitter poses for them, which points at observed_
// and camera_.
class LandmarkSolverTest : public ::testing::Test {
 protected:
  void MakeCase(int seed, double noise_px) {
    std::mt19937 rng(seed);
    truth_ = RandomFace(TestModel(), rng);
    observed_ = lm_.Project(truth_, camera_);
    if (noise_px > 0) observed_ = AddNoise(observed_, noise_px, rng);
    problem_ = internal::FitProblemFor(Fitter(), observed_, camera_, std::nullopt);
  }

  const Camera camera_ = SyntheticCamera();
  const LandmarkModel& lm_ = Fitter().landmark_model();
  FaceParams truth_;
  Landmarks68 observed_;
  internal::LandmarkFitProblem problem_;
};

// A contour landmark's residual is split into the silhouette normal and the
// (down-weighted) tangent: r' = [n^T; c t^T] r; inner landmarks keep theirs.
TEST_F(LandmarkSolverTest, ContourResidualCountsTheTangentWithItsWeight) {
  MakeCase(3, 3.0);
  problem_.rows = lm_.SelectRows(truth_, camera_, &observed_);
  const internal::SolverState state = internal::ToSolverState(truth_);
  Eigen::VectorXd plain, split;
  internal::LandmarkResiduals(problem_, state, truth_.identity, &plain, nullptr);
  problem_.normals = lm_.ContourNormals(truth_, camera_);
  problem_.contour_tangential_weight = 0.25;
  internal::LandmarkResiduals(problem_, state, truth_.identity, &split, nullptr);
  for (int k = 0; k < kNumLandmarks; ++k) {
    const Eigen::Vector2d r = plain.segment<2>(2 * k), r2 = split.segment<2>(2 * k);
    if (!IsContourLandmark(k)) {
      EXPECT_EQ(r, r2) << "landmark " << k;
      continue;
    }
    const Eigen::Vector2d n = problem_.normals[k];
    ASSERT_NEAR(n.norm(), 1.0, 1e-9) << "landmark " << k;
    const Eigen::Vector2d t(-n.y(), n.x());
    EXPECT_NEAR(r2.x(), n.dot(r), 1e-9) << "landmark " << k;
    EXPECT_NEAR(r2.y(), 0.25 * t.dot(r), 1e-9) << "landmark " << k;
  }
}

// Central differences of `residuals` (internal::LandmarkResiduals or
// internal::SilhouetteResiduals) with respect to each solver parameter (the
// state, then the identity weights): calls check(column, numeric column).
template <typename Residuals, typename Check>
void ForEachNumericColumn(Residuals residuals, const internal::LandmarkFitProblem& problem,
                          internal::SolverState state, internal::IdentityWeights identity, Check check) {
  constexpr double kStep = 1e-6;
  for (int c = 0; c < internal::kSolverFullSize; ++c) {
    double& v = c < internal::kSolverStateSize ? state[c] : identity[c - internal::kSolverStateSize];
    const double saved = v;
    Eigen::VectorXd plus, minus;
    v = saved + kStep;
    residuals(problem, state, identity, &plus, nullptr);
    v = saved - kStep;
    residuals(problem, state, identity, &minus, nullptr);
    v = saved;
    check(c, (plus - minus) / (2 * kStep));
  }
}

// The analytic Jacobian of the dense solver matches central differences
// (estimated identity: all 159 columns; contour residuals split into normal
// and tangent).
TEST_F(LandmarkSolverTest, JacobianMatchesFiniteDifferences) {
  MakeCase(5, 2.0);
  problem_.rows = lm_.SelectRows(truth_, camera_, &observed_);
  problem_.normals = lm_.ContourNormals(truth_, camera_);  // With the contour metric.
  problem_.contour_tangential_weight = 0.3;
  problem_.estimate_identity = true;
  internal::SolverState state{};
  for (int i = 0; i < 3; ++i) {
    state[i] = truth_.pose.rotation[i];
    state[3 + i] = truth_.pose.translation[i];
  }
  std::copy(truth_.expression.begin(), truth_.expression.end(), state.begin() + internal::kSolverPoseSize);
  internal::IdentityWeights identity = truth_.identity;
  Eigen::VectorXd r;
  internal::RowMajorMatrix jacobian;
  internal::LandmarkResiduals(problem_, state, identity, &r, &jacobian);
  ASSERT_EQ(jacobian.rows(), internal::kNumLandmarkResiduals);
  ASSERT_EQ(jacobian.cols(), internal::kSolverFullSize);
  ForEachNumericColumn(internal::LandmarkResiduals, problem_, state, identity,
                       [&](int c, const Eigen::VectorXd& numeric) {
                         EXPECT_LT((numeric - jacobian.col(c)).cwiseAbs().maxCoeff(),
                                   1e-4 * (1.0 + numeric.cwiseAbs().maxCoeff()))
                             << "column " << c;
                       });
}

// The soft silhouette (LandmarkFitProblem::soft_contour_px): a contour
// landmark's normal residual is the smooth maximum of its strip, never below
// the outermost candidate's and tending to it as the temperature falls; its
// tangential residual tends to the outermost candidate's; the inner
// landmarks keep their residuals.
TEST_F(LandmarkSolverTest, SoftSilhouetteTendsToTheOutermostCandidate) {
  MakeCase(9, 2.0);
  problem_.rows = lm_.SelectRows(truth_, camera_);  // Outermost candidates.
  problem_.normals = lm_.ContourNormals(truth_, camera_);
  problem_.contour_tangential_weight = 0.5;
  const internal::SolverState state = internal::ToSolverState(truth_);
  Eigen::VectorXd hard, cold, warm;
  internal::LandmarkResiduals(problem_, state, truth_.identity, &hard, nullptr);
  problem_.soft_contour_px = 0.001;
  internal::LandmarkResiduals(problem_, state, truth_.identity, &cold, nullptr);
  problem_.soft_contour_px = 2.0;
  internal::LandmarkResiduals(problem_, state, truth_.identity, &warm, nullptr);
  double warm_excess = 0.0;
  for (int k = 0; k < kNumLandmarks; ++k) {
    if (!IsContourLandmark(k)) {
      EXPECT_EQ(hard.segment<2>(2 * k), cold.segment<2>(2 * k)) << "landmark " << k;
      EXPECT_EQ(hard.segment<2>(2 * k), warm.segment<2>(2 * k)) << "landmark " << k;
      continue;
    }
    EXPECT_NEAR(cold[2 * k], hard[2 * k], 1e-3) << "landmark " << k;
    EXPECT_NEAR(cold[2 * k + 1], hard[2 * k + 1], 1e-3) << "landmark " << k;
    EXPECT_GE(warm[2 * k], hard[2 * k] - 1e-9) << "landmark " << k;
    warm_excess = std::max(warm_excess, warm[2 * k] - hard[2 * k]);
  }
  EXPECT_GT(warm_excess, 0.1);  // Near-tied candidates lift the smooth maximum.
}

// The soft silhouette's analytic Jacobian (normal and tangential rows, the
// softmax weights' own derivatives included) matches central differences.
TEST_F(LandmarkSolverTest, SoftSilhouetteJacobianMatchesFiniteDifferences) {
  MakeCase(5, 2.0);
  for (int k = 0; k < kNumLandmarks; ++k) problem_.rows[k] = k;
  problem_.normals = lm_.ContourNormals(truth_, camera_);
  problem_.contour_tangential_weight = 0.3;
  problem_.soft_contour_px = 0.7;
  problem_.estimate_identity = true;
  const internal::SolverState state = internal::ToSolverState(truth_);
  internal::IdentityWeights identity = truth_.identity;
  Eigen::VectorXd r;
  internal::RowMajorMatrix jacobian;
  internal::LandmarkResiduals(problem_, state, identity, &r, &jacobian);
  ASSERT_EQ(jacobian.cols(), internal::kSolverFullSize);
  ForEachNumericColumn(internal::LandmarkResiduals, problem_, state, identity,
                       [&](int c, const Eigen::VectorXd& numeric) {
                         EXPECT_LT((numeric - jacobian.col(c)).cwiseAbs().maxCoeff(),
                                   1e-4 * (1.0 + numeric.cwiseAbs().maxCoeff()))
                             << "column " << c;
                       });
}

// The silhouette hinges: zero for the silhouette vertices themselves (no
// competitor projects further out), positive when a contour landmark is given
// a candidate inside the outline, and their analytic Jacobian matches central
// differences there.
TEST_F(LandmarkSolverTest, SilhouetteHingesPenaliseOnlyCandidatesBeyondTheChosenVertex) {
  MakeCase(7, 0.0);
  problem_.rows = lm_.SelectRows(truth_, camera_);
  problem_.normals = lm_.ContourNormals(truth_, camera_);
  problem_.silhouette_weight = 1.0;
  problem_.silhouette_pairs = lm_.SilhouetteCompetitors(truth_, camera_, problem_.rows, problem_.normals);
  ASSERT_FALSE(problem_.silhouette_pairs.empty());
  problem_.estimate_identity = true;
  const internal::SolverState state = internal::ToSolverState(truth_);
  Eigen::VectorXd r;
  internal::SilhouetteResiduals(problem_, state, truth_.identity, &r, nullptr);
  ASSERT_EQ(r.size(), static_cast<int>(problem_.silhouette_pairs.size()));
  EXPECT_EQ(r.cwiseAbs().maxCoeff(), 0.0);

  // Landmark 3 on the strip's first (front-most, inside the outline)
  // candidate: the candidates further out now compete and are penalised.
  problem_.rows[3] = lm_.ContourRows(3).front();
  problem_.silhouette_pairs.clear();
  for (int row : lm_.ContourRows(3)) {
    if (row != problem_.rows[3]) problem_.silhouette_pairs.emplace_back(3, row);
  }
  internal::RowMajorMatrix jacobian;
  internal::IdentityWeights identity = truth_.identity;
  internal::SolverState x = state;
  internal::SilhouetteResiduals(problem_, x, identity, &r, &jacobian);
  EXPECT_GT(r.maxCoeff(), 1.0);  // More than a pixel (sigma 1) further out.
  ForEachNumericColumn(internal::SilhouetteResiduals, problem_, x, identity,
                       [&](int c, const Eigen::VectorXd& numeric) {
                         for (int i = 0; i < r.size(); ++i) {
                           if (r[i] < 1e-3) continue;  // At or near the hinge's kink.
                           EXPECT_NEAR(numeric[i], jacobian(i, c), 1e-4 * (1.0 + std::abs(numeric[i])))
                               << "hinge " << i << " column " << c;
                         }
                       });
}

// The bounded quadratic solver meets the KKT conditions: free entries have a
// zero gradient, entries at a bound a gradient pointing out of the box.
TEST_F(LandmarkSolverTest, BoxQpMeetsKktConditions) {
  std::mt19937 rng(13);
  std::normal_distribution<double> normal(0.0, 1.0);
  constexpr int n = 30;
  for (int trial = 0; trial < 20; ++trial) {
    Eigen::MatrixXd m(n + 5, n);
    for (int i = 0; i < m.size(); ++i) m.data()[i] = normal(rng);
    const Eigen::MatrixXd a = m.transpose() * m + 0.1 * Eigen::MatrixXd::Identity(n, n);
    Eigen::VectorXd b(n), lower(n), upper(n);
    for (int j = 0; j < n; ++j) {
      b[j] = 5 * normal(rng);
      lower[j] = j % 3 == 0 ? -std::numeric_limits<double>::infinity() : -std::abs(normal(rng)) * (j % 2);
      upper[j] = lower[j] + 1.0;
      if (upper[j] < 0) upper[j] = 0;
    }
    Eigen::VectorXd d;
    ASSERT_TRUE(internal::SolveBoxQp(a, b, lower, upper, &d));
    const Eigen::VectorXd g = a * d + b;
    for (int j = 0; j < n; ++j) {
      ASSERT_GE(d[j], lower[j]);
      ASSERT_LE(d[j], upper[j]);
      if (d[j] <= lower[j]) {
        EXPECT_GE(g[j], -1e-8) << "trial " << trial << " entry " << j;
      } else if (d[j] >= upper[j]) {
        EXPECT_LE(g[j], 1e-8) << "trial " << trial << " entry " << j;
      } else {
        EXPECT_NEAR(g[j], 0.0, 1e-8) << "trial " << trial << " entry " << j;
      }
    }
  }
}

struct Errors {
  double rmse = 0, rot = 0, expr = 0, conf = 1;
};

Errors FitOne(const FaceParams& truth, double noise, bool known_identity, std::mt19937& rng,
              const FaceFitter& fitter = Fitter()) {
  const Camera camera = SyntheticCamera();
  const Landmarks68 clean = fitter.landmark_model().Project(truth, camera);
  const Landmarks68 observed = noise > 0 ? AddNoise(clean, noise, rng) : clean;
  FitRequest request;
  if (known_identity) request.identity = truth.identity;
  const FitResult r = fitter.Fit(observed, camera, request);
  Errors e;
  e.rmse = r.rmse_px;
  e.rot = RotationErrorDeg(r.params.pose, truth.pose);
  e.expr = ExpressionMae(r.params, truth, LandmarkMovingExpressions(TestModel()));
  e.conf = r.confidence;
  return e;
}

TEST(FaceFitterTest, RecoversPoseAndExpressionFromNoiseFreeLandmarksWithKnownIdentity) {
  std::mt19937 rng(11);
  double expr_sum = 0;
  const int kTrials = 8;
  for (int t = 0; t < kTrials; ++t) {
    const FaceParams truth = RandomFace(TestModel(), rng);
    const Errors e = FitOne(truth, 0.0, true, rng);
    EXPECT_LE(e.rmse, 0.3) << "trial " << t;
    EXPECT_LE(e.rot, 1.0) << "trial " << t;
    EXPECT_GT(e.conf, 0.9) << "trial " << t;
    expr_sum += e.expr;
    std::printf("known identity, noise-free: trial %d rmse %.3f px rot %.3f deg expr MAE %.4f\n", t, e.rmse, e.rot,
                e.expr);
  }
  EXPECT_LE(expr_sum / kTrials, 0.05);
}

// Identity estimated from the one image, noise-free landmarks. The default
// FitOptions are a MAP estimate for 1 px landmark noise: the N(0, 1)
// identity prior then costs more than a few tenths of a pixel of residual,
// so even started from the true face the fit ends at 0.36-0.49 px (8 faces,
// seed 11). Told that the landmarks are (nearly) exact, landmark_sigma_px =
// 0.2, it fits them to sub-pixel accuracy: measured worst 0.19 px over 24
// faces (seeds 11, 23, 37).
TEST(FaceFitterTest, FitsNoiseFreeLandmarksToSubPixelWithEstimatedIdentityWhenToldTheyAreExact) {
  FitOptions options = SyntheticOptions();
  options.landmark_sigma_px = 0.2;
  const FaceFitter fitter = FaceFitter::Create(TestModel(), options);
  std::mt19937 rng(11);
  for (int t = 0; t < 8; ++t) {
    const FaceParams truth = RandomFace(TestModel(), rng);
    const Errors e = FitOne(truth, 0.0, false, rng, fitter);
    std::printf("estimated identity, noise-free, sigma 0.2 px: trial %d rmse %.3f px rot %.3f deg expr MAE %.4f\n",
                t, e.rmse, e.rot, e.expr);
    EXPECT_LE(e.rmse, 0.3) << "trial " << t;
    EXPECT_LE(e.rot, 2.0) << "trial " << t;  // Sanity bound; 1 deg: the exact-landmark configuration below.
    EXPECT_LE(e.expr, 0.15) << "trial " << t;
  }
}

// The fitter configured for exact landmarks: ExactLandmarkFitOptions() on
// the synthetic faces (no landmark offsets), with the restarts' threshold
// and the soft silhouette open to change.
FaceFitter ExactLandmarkFitter(double restart_rmse_sigma = 0.25, bool soft_silhouette = true) {
  FitOptions options = ExactLandmarkFitOptions();
  options.landmark_offsets_cm = ZeroLandmarkOffsets();
  if (!soft_silhouette) options.soft_contour_px.clear();
  options.restart_rmse_sigma = restart_rmse_sigma;
  return FaceFitter::Create(TestModel(), options);
}

// Acceptance criterion: rotation within 1 deg and RMSE <= 0.3 px with the
// identity estimated from the one noise-free image (expression MAE reported,
// bound 0.15). With 68 landmarks, pose and identity trade off (more
// parameters than coordinates; the prior picks), and the jaw-contour
// correspondence leaves local minima.
// Default options (landmark_sigma_px 1) cannot meet it: started from the
// truth they end at up to 1.09 px and 7 of 24 faces beyond 1 deg (seeds 11,
// 23, 37), so the fit must be told the landmarks are exact.
// History, landmark_sigma_px 0.2, 40 faces (seeds 11, 23, 37, 41, 53), worst
// rotation: started from the truth 0.97 deg / 0.14 px; from PnP 3.58 deg
// (seed 23 face 1: the rounds alternate between contour vertex sets, cost 95
// against 32 from the truth); best of 5 starts 1.26 deg at 5x the time; not
// better: a sigma schedule (1 px, then 0.2) 3.21, tangential-weight
// schedules 0.1/0.3/1 3.58 and 0.1/0.2/0.4/1 1.42 (1.21 px), a wider
// silhouette tolerance (0.1-0.4 cm) 1.72-2.50, sigma 0.1 / 0.05 throughout
// 3.07 / 2.58.
// The alternation: a solve with fixed contour vertices pushes a chosen vertex
// inside the outline (a neighbouring strip candidate projects further out),
// so the next re-selection jumps (landmark 0 between strip candidates 23 and
// 40 of 44; cost 35 -> 225). FitOptions::silhouette_consistency_weight
// forbids that inside the solve; FitOptions::inner_landmarks_first starts the
// contour rounds from the pose the inner landmarks give. Over 56 faces (seeds
// 11, 23, 37, 41, 53, 61, 67), landmark_sigma_px 0.1, faces beyond 1 deg /
// worst: neither 13 / 3.55 deg; inner first 5 / 1.81; silhouette consistency
// alone 17 / 3.86; both 2 / 1.39 (seed 37 face 4 1.15 deg, seed 53 face 4
// 1.39 deg and 0.51 px), and seed 23 face 1 at 0.32 px. Not better either
// (sigma 0.1, silhouette consistency): holding the pose in the first
// tangential round, 5 starts (PnP +-8 deg yaw/pitch, lowest cost; 3 of 24,
// 5x the time), 100 iterations or 8 rounds per fit.
// Those failures are local minima of the discrete contour correspondence:
// started from the truth without the inner-landmark fit, every one of the 56
// faces ends within 0.64 deg at 0.02-0.04 px with a lower cost than the fit
// from PnP (seed 53 face 4: 40 against 256), and the fits that miss keep a
// residual above 0.05 px. FitOptions::restart_rmse_sigma (0.5 here) re-runs
// the contour rounds of such fits with other silhouette tie tolerances and
// keeps the lowest cost. Tolerances 0.02 and 0.08 cm (chosen on seeds
// 11-103, 112 faces: 5 -> 0 failing) left 2 of 56 fresh faces (seeds
// 107-139) beyond 1 deg; adding 0.01 cm, 1 of those 56 and 1 of the next
// 56 (seeds 149-179). Over all 224 faces (fit_sweep_test.cc), beyond 1 deg
// or 0.3 px: 15 -> 2 (seed 109 face 0 1.16 deg: the generator puts landmark
// 15 on a second fold at the strip's end, 0.8 px outside the jaw's
// silhouette and 8 px from it; seed 157 face 3 2.43 deg), and on 224 fresh
// faces (seeds 181-347) 10.
// Both are local minima of the correspondence, not of the model: started
// from the truth without the inner-landmark fit, seed 109 face 0 ends at
// 0.10 deg (cost 50 against 72 from PnP) and seed 157 face 3 at 0.21 deg
// (cost 40 against 113). The start's identity decides: from the true
// identity the rounds reach that minimum from poses 4 deg off in yaw (2 in
// pitch), from the mean identity not even from the true pose. So the
// restarts (FitOptions::kRestarts) add starts turned 3 deg in yaw or pitch
// (seed 109 face 0: 0.10 deg) and one with the start identity scaled 1.5x
// (the inner fit's identity is shrunk by its prior): 224 faces 2 -> 1 (seed
// 157 face 3 1.08 deg, cost 102), fresh seeds 10 -> 4. Not better as
// restarts: the contour landmarks' weight ramped up from 0.003 or 0.01 (same
// minimum as the fit), nearest-candidate rounds first, every contour vertex
// shifted 1-3 strip candidates with the hinges forcing it onto the
// silhouette, repeated 2-deg turns from the best fit (basin hopping), a
// restart threshold of 0.25 sigma (with the turned starts: fresh 6 -> 5 at
// 1.7x the time);
// landmark_sigma_px 0.05 or identity_prior_weight 0.5 with the tolerance
// restarts: 10 and 11 of 224.
// Also tried and not better: a continuous correspondence (each contour
// landmark re-selects its outermost strip candidate at every evaluation
// inside the solve: 4 of 56 beyond 1 deg as the first phase, 5 and 18
// beyond 0.3 px throughout, the max's kinks stall the solver); restarts
// from the converged fit with nearest-candidate correspondences, without the
// inner-landmark schedule or with the identity reset to the mean (the 2
// faces beyond 1 deg stayed).
// The remaining failures (seed 157 face 3; fresh seeds 271 face 5, 277 face
// 5, 281 face 0, 331 face 2) all end at a higher cost than a fit forced onto
// the true contour rows, from the fit or from its start (e.g. 277 face 5:
// 30.6 against 26.8): a search failure, not an ambiguity. Not better: the
// contour rounds run again from the start pose with the fitted identity (1 of
// 5 fixed), a greedy search over single contour rows (+-2 strip candidates,
// each forced and polished: 2 of 5), restarts whose first round(s) drop the
// silhouette hinges (26 restarts: 0 of 224 and 2 of 224 fresh, and subsets
// chosen on the 224 do not carry over to the fresh seeds), hinge weight 0.3
// or 0.1 (10 and more of 448). What fixed them: a smooth silhouette before
// the rounds (FitOptions::soft_contour_px {1, 0.3, 0.1} px): 0 of 224
// beyond with or without restarts, and 0 of 224 fresh with the restarts at
// 0.25 sigma (fit_sweep_test.cc). A first version whose tangential Jacobian
// left out the softmax weights' derivatives fixed all 5 without any restart
// but left 5 of 224 and 6 fresh without restarts, 3 of the 448 with restarts
// at 0.5 sigma (two stuck at 0.049-0.050 px, under that threshold) and 1 at
// 0.25 (seed 127 face 1, 1.09 deg; cost 128 against 44 on the true rows);
// with it, schedules {2, 1, 0.5, 0.25, 0.1} and {1, 0.3, 0.1, 0.03} left 4
// and 3 of 448 (0.5 sigma), a soft-phase tangential weight 1 instead of 0.1
// 5 of the first 57 faces.
TEST(FaceFitterTest, RecoversRotationWithinOneDegreeWithEstimatedIdentityWhenConfiguredForExactLandmarks) {
  const FaceFitter fitter = ExactLandmarkFitter();
  double expr_sum = 0;
  int n = 0;
  for (int seed : {11, 23, 37}) {
    std::mt19937 rng(seed);
    for (int t = 0; t < 8; ++t, ++n) {
      const FaceParams truth = RandomFace(TestModel(), rng);
      const Errors e = FitOne(truth, 0.0, false, rng, fitter);
      std::printf("exact-landmark configuration: seed %d face %d rmse %.3f px rot %.3f deg expr MAE %.4f\n", seed, t,
                  e.rmse, e.rot, e.expr);
      EXPECT_LE(e.rmse, 0.3) << "seed " << seed << " face " << t;
      EXPECT_LE(e.rot, 1.0) << "seed " << seed << " face " << t;
      expr_sum += e.expr;
    }
  }
  std::printf("exact-landmark configuration: mean expression MAE %.4f\n", expr_sum / n);
  EXPECT_LE(expr_sum / n, 0.15);
}

// The restarts only replace a fit by one of lower cost. Shown without the
// soft silhouette, where seed 23 face 1 ends at 0.32 px without them (with
// it, no fit of seed 23 is stuck: fit_sweep_test.cc has the figures).
TEST(FaceFitterTest, RestartsLowerTheCostOfFitsStuckInAWrongContourCorrespondence) {
  const FaceFitter plain = ExactLandmarkFitter(0.0, /*soft_silhouette=*/false);
  const FaceFitter restarted = ExactLandmarkFitter(0.25, /*soft_silhouette=*/false);
  const Camera camera = SyntheticCamera();
  std::mt19937 rng(23);
  int improved = 0;
  for (int t = 0; t < 8; ++t) {
    const FaceParams truth = RandomFace(TestModel(), rng);
    const Landmarks68 observed = plain.landmark_model().Project(truth, camera);
    const FitResult a = plain.Fit(observed, camera);
    const FitResult b = restarted.Fit(observed, camera);
    EXPECT_LE(b.rmse_px, a.rmse_px + 1e-3) << "face " << t;
    if (a.rmse_px <= 0.025) {
      EXPECT_EQ(a.iterations, b.iterations) << "face " << t << ": no restart below the threshold";
    }
    improved += b.rmse_px < a.rmse_px - 0.05;
  }
  EXPECT_GE(improved, 1);  // Seed 23 face 1: 0.32 -> 0.07 px.
}

TEST(FaceFitterTest, RecoversExpressionFromNoiseFreeLandmarksWithEstimatedIdentity) {
  std::mt19937 rng(23);
  double expr_sum = 0;
  const int kTrials = 8;
  for (int t = 0; t < kTrials; ++t) {
    const FaceParams truth = RandomFace(TestModel(), rng);
    const Errors e = FitOne(truth, 0.0, false, rng);
    EXPECT_LE(e.rot, 3.0) << "trial " << t;  // Sanity bound; 1 deg: the exact-landmark configuration above.
    expr_sum += e.expr;
    std::printf("estimated identity, noise-free: trial %d rmse %.3f px rot %.3f deg expr MAE %.4f\n", t, e.rmse,
                e.rot, e.expr);
  }
  EXPECT_LE(expr_sum / kTrials, 0.15);
}

TEST(FaceFitterTest, RecoversExpressionUnderOnePixelNoiseWithKnownIdentity) {
  std::mt19937 rng(37);
  double expr_sum = 0;
  const int kTrials = 8;
  for (int t = 0; t < kTrials; ++t) {
    const FaceParams truth = RandomFace(TestModel(), rng);
    const Errors e = FitOne(truth, 1.0, true, rng);
    EXPECT_LE(e.rot, 2.0) << "trial " << t;
    EXPECT_LE(e.rmse, 1.5) << "trial " << t;
    expr_sum += e.expr;
    std::printf("known identity, sigma 1 px: trial %d rmse %.3f px rot %.3f deg expr MAE %.4f\n", t, e.rmse, e.rot,
                e.expr);
  }
  EXPECT_LE(expr_sum / kTrials, 0.1);
}

}  // namespace
}  // namespace faceanime::face3d
