// Fitting the ICT morphable model to 68 image landmarks: a dense bounded
// Levenberg-Marquardt solver (face3d/landmark_solver.h) per image, Ceres
// (Schur elimination) for the joint multi-frame identity fit.
//
// Frames and units follow face_params.h: model space in centimetres (+X the
// subject's left, +Y up, +Z out of the face); camera space OpenCV (cm);
// landmarks in image pixels (Multi-PIE 68-point order). Identity weights are
// in standard deviations (prior N(0, 1)); expression weights in [0, 1].
//
// Jaw contour: Multi-PIE landmarks 0-7 and 9-16 mark the face's outline,
// which slides over the surface as the head turns. LandmarkModel gives each
// of them a strip of candidate vertices (a cross-section of the cheek/jaw
// surface through the ICT jawline vertex, cf. 3DDFA's parallel lines and
// eos's contour fitting) and picks, for a given face state and camera, the
// candidate on the silhouette: the one projecting furthest outwards.
#ifndef FACEANIME_FACE3D_FACE_FITTER_H_
#define FACEANIME_FACE3D_FACE_FITTER_H_

#include <array>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "face3d/face_params.h"
#include "face3d/morphable_model.h"

namespace faceanime::face3d {

inline constexpr int kNumContourLandmarks = 16;  // Multi-PIE 0-7 and 9-16.

// True for Multi-PIE landmarks 0-7 and 9-16 (the sliding jaw contour).
constexpr bool IsContourLandmark(int landmark) { return landmark >= 0 && landmark <= 16 && landmark != 8; }

// Model-space offsets (cm, +X the subject's left, +Y up, +Z out of the face)
// of the 68 landmark points from the model's landmark vertices, one per
// Multi-PIE landmark; for a jaw-contour landmark the offset moves every
// candidate of its strip. They calibrate where a 68-point detector places its
// points relative to ICT's landmark vertices (DefaultLandmarkOffsets).
using LandmarkOffsets = std::array<Eigen::Vector3d, kNumLandmarks>;

// All zero: the landmarks on ICT's landmark vertices and jawline candidates.
LandmarkOffsets ZeroLandmarkOffsets();

// Offsets calibrated for the face-api 68-point net (face3d/landmark_offsets.cc
// says on which data and how; tools/calibrate_landmarks.cc makes
// them).
LandmarkOffsets DefaultLandmarkOffsets();

// Where the 68 landmarks sit on the model for a face state: fixed vertices
// for the inner landmarks and the chin (8), silhouette vertices for the jaw
// contour. Holds a dense SubsetBasis over all vertices that can carry a
// landmark, so evaluating them is a small mat-vec.
class LandmarkModel {
 public:
  // Builds the contour strips from the model's mean shape and moves each
  // landmark's points by `offsets_cm` (constant model-space offsets: they do
  // not scale with identity or expression). Copies the bases it needs;
  // `model` need not outlive the result.
  static LandmarkModel Create(const MorphableModel& model,
                              const LandmarkOffsets& offsets_cm = ZeroLandmarkOffsets());

  // Basis over every candidate vertex. Rows 0..67 are the model's fixed
  // Multi-PIE vertices (landmark_vertices()); contour strips follow.
  const SubsetBasis& basis() const { return basis_; }

  // Basis rows (into basis()) of the 68 landmarks for `params` seen by
  // `camera`: each contour landmark takes its silhouette vertex, the
  // candidate projecting furthest outwards. With `observed` (fitting), ties
  // are broken by the observation as in eos: among the candidates within
  // kSilhouetteToleranceCm (projected) of the outermost, the one nearest the
  // observed landmark. `tolerance_cm` replaces kSilhouetteToleranceCm
  // (FitOptions::restart_rmse_sigma's restarts use others).
  std::array<int, kNumLandmarks> SelectRows(const FaceParams& params, const Camera& camera,
                                            const Landmarks68* observed = nullptr,
                                            double tolerance_cm = kSilhouetteToleranceCm) const;
  static constexpr double kSilhouetteToleranceCm = 0.05;  // Projected at the strip.
  // Strip candidates within this (projected) of a contour landmark's chosen
  // vertex compete with it (FitOptions::silhouette_consistency_weight).
  static constexpr double kSilhouetteCompetitorMarginCm = 0.15;
  // (landmark, basis row) pairs: for each contour landmark the candidates of
  // its strip, other than rows[landmark], that project no more than
  // kSilhouetteCompetitorMarginCm inside it along `normals[landmark]`
  // (ContourNormals) for `params` seen by `camera`.
  std::vector<std::pair<int, int>> SilhouetteCompetitors(
      const FaceParams& params, const Camera& camera, const std::array<int, kNumLandmarks>& rows,
      const std::array<Eigen::Vector2d, kNumLandmarks>& normals) const;
  // The same selection as model vertex ids (MorphableModel indices).
  std::array<int, kNumLandmarks> SelectVertices(const FaceParams& params, const Camera& camera,
                                                const Landmarks68* observed = nullptr) const;
  // Model-space positions (cm) of the selected 68 vertices, one row each.
  Vertices Positions(const FaceParams& params, const Camera& camera) const;
  // Image positions (pixels) of the selected 68 vertices.
  Landmarks68 Project(const FaceParams& params, const Camera& camera) const;

  // Image-space unit outward normals of the silhouette at the 16 contour
  // landmarks (the direction SelectRows maximises along) for `params` seen by
  // `camera`; zero vectors for the inner landmarks and the chin (8).
  std::array<Eigen::Vector2d, kNumLandmarks> ContourNormals(const FaceParams& params, const Camera& camera) const;

  // Candidate basis rows of contour landmark `landmark` (0-7, 9-16), ordered
  // from the front of the face backwards/downwards.
  std::span<const int> ContourRows(int landmark) const;

  // Row-major copies of basis().identity / basis().expression: rows 3r..3r+2
  // hold basis row r's x, y, z, contiguous (fast per-vertex evaluation).
  using IdentityRows = Eigen::Matrix<double, Eigen::Dynamic, kNumIdentityShapes, Eigen::RowMajor>;
  using ExpressionRows = Eigen::Matrix<double, Eigen::Dynamic, kNumExpressionShapes, Eigen::RowMajor>;
  const IdentityRows& identity_rows() const { return identity_rows_; }
  const ExpressionRows& expression_rows() const { return expression_rows_; }

  // Model-space position (cm) of basis row `row` for the given weights.
  Eigen::Vector3d RowPosition(int row, std::span<const double, kNumIdentityShapes> identity,
                              std::span<const double, kNumExpressionShapes> expression) const;

 private:
  SubsetBasis basis_;
  IdentityRows identity_rows_;
  ExpressionRows expression_rows_;
  // Per contour landmark (index by ContourSlot): candidate rows and the
  // model-space outward direction (in the XY plane) the silhouette is
  // extremal along.
  std::array<std::vector<int>, kNumContourLandmarks> strips_;
  std::array<Eigen::Vector3d, kNumContourLandmarks> outward_;
};

// The default FitOptions::expression_l1_scale (see there).
std::map<std::string, double> DefaultExpressionL1Scale();

// Fitting options. Defaults are tuned for 68-point detectors on faces 100-500
// pixels wide. FaceFitter::Create validates them.
struct FitOptions {
  // Expected landmark noise, pixels (one standard deviation). Residuals are
  // divided by it, which sets the data term against the priors. > 0.
  double landmark_sigma_px = 1.0;
  // Huber loss threshold in units of landmark_sigma_px: a landmark further
  // than this from the model counts linearly, so a few bad ones cannot drag
  // the fit. > 0.
  double robust_threshold = 3.0;
  // Weight of the N(0, 1) identity prior (1 = maximum a posteriori). >= 0.
  double identity_prior_weight = 1.0;
  // L1 sparsity weight on expression (cost units per unit weight). >= 0.
  double expression_l1_weight = 0.5;
  // Per-shape multipliers of expression_l1_weight (model shape names, >= 0;
  // shapes not listed: 1), e.g. to raise the prior on shapes that the 68
  // landmarks barely observe (cheekPuff, cheekSquint, eyeLook*, eyeWide). The
  // default is uniform: see DefaultExpressionL1Scale in face_fitter.cc for
  // what a 4x prior on those shapes gained and cost.
  std::map<std::string, double> expression_l1_scale = DefaultExpressionL1Scale();
  // Weight of a jaw-contour landmark's offset along the outline, relative to
  // its offset across it (the silhouette's image-space outward normal), in
  // [0, 1]; 1 (default) is the plain 2D reprojection error. The silhouette
  // fixes where the outline is; where along it a 68-point annotation places
  // its points is a convention the model's contour vertices share only
  // roughly, which lower values tolerate. Whatever this weight, Fit() first
  // solves with at most 0.1 here (the contour vertices slide into place
  // while the identity settles), then with this weight.
  double contour_tangential_weight = 1.0;
  // Where the detector places the 68 points relative to ICT's landmark
  // vertices (LandmarkOffsets; each finite and within 2 cm). Synthetic
  // landmarks that should match the fitter exactly come from its
  // landmark_model(), which includes them.
  LandmarkOffsets landmark_offsets_cm = DefaultLandmarkOffsets();
  // Fit the inner landmarks first (single-image fits that estimate the
  // identity): pose, expression and identity are first fitted to the 51
  // inner landmarks and the chin alone, and the first jaw-contour round then
  // holds that pose while identity and expression bring the silhouette to
  // the contour landmarks. Off by default: it helps near-exact landmarks
  // (noise-free synthetic faces, landmark_sigma_px 0.1: 13 -> 5 of 56 faces
  // beyond 1 deg rotation error) but not at the default landmark_sigma_px 1
  // (12 -> 13 of 56).
  bool inner_landmarks_first = false;
  // Weight (>= 0; 0, the default, is off) of a hinge that keeps each
  // jaw-contour landmark's vertex on the silhouette during a solve: a strip
  // candidate that projected within kSilhouetteCompetitorMarginCm of the
  // chosen one at the round's start may not project further out than it
  // (landmark_solver.h). Without it a solve can move the chosen vertex
  // inside the outline, and the next round's re-selection jumps (cost x4 on
  // a synthetic face) and can alternate between vertex sets. With
  // inner_landmarks_first and landmark_sigma_px 0.1 it brings the noise-free
  // synthetic faces to 2 of 56 beyond 1 deg (BM_FitSingleImageExactLandmarks:
  // 76 ms CPU per fit with both options against 59 ms with neither).
  double silhouette_consistency_weight = 0.0;
  // Soft-silhouette schedule (pixels, each finite and > 0; empty, the
  // default, is off) for fits that estimate the identity: before the
  // jaw-contour rounds (after the inner-landmark fit, if any), one solve per
  // entry in which each contour landmark is not one chosen strip vertex but
  // the smooth maximum of its whole strip along the silhouette normal, with
  // the entry as temperature (internal::LandmarkFitProblem::soft_contour_px).
  // The rounds' discrete choice then starts from a pose and identity fitted to
  // the outline itself: a vertex chosen from the inner-landmark fit's shrunk
  // identity, then held by the silhouette hinges, is what left noise-free fits
  // in wrong jaw-contour correspondences. Off by default (not measured at
  // landmark_sigma_px 1). ExactLandmarkFitOptions() uses {1, 0.3, 0.1}:
  // figures in fit_sweep_test.cc.
  std::vector<double> soft_contour_px;
  // Restarts of a fit stuck in a wrong jaw-contour correspondence (>= 0; 0,
  // the default, is off): when the fit's RMSE exceeds this times
  // landmark_sigma_px, the contour rounds are run again from the same start
  // (after the inner-landmark fit, if any), once per entry of kRestarts, and
  // the fit of lowest cost is kept. Each restart leads the discrete
  // re-selection of silhouette vertices along another path: another
  // silhouette tie tolerance (LandmarkModel::SelectRows) instead of
  // kSilhouetteToleranceCm, the start's yaw or pitch turned by a few degrees,
  // or the start's identity scaled up (the inner-landmark fit's identity is
  // shrunk by its prior, and a start from the true identity reaches the right
  // correspondence even 4 deg off in pose). Noise-free fits that end in a
  // wrong correspondence keep a residual several times that of fits that do
  // not (started from the truth: at most 0.38 landmark_sigma_px over 56
  // synthetic faces). ExactLandmarkFitOptions() uses 0.25 (a first soft
  // phase left stuck fits at 0.49 sigma): noise-free synthetic faces beyond
  // 1 deg or 0.3 px: 0 of 224 (0 without restarts too) and 0 of 224 fresh
  // (fit_sweep_test.cc); before the soft silhouette, at 0.5: 1 and 4 (15 of
  // 224 without restarts).
  double restart_rmse_sigma = 0.0;
  // One restart (restart_rmse_sigma): silhouette tie tolerance (cm,
  // projected; 0.05 is kSilhouetteToleranceCm), start pose turned by yaw_deg /
  // pitch_deg (EulerAngles), start identity times identity_scale.
  struct Restart {
    double tolerance_cm;
    double yaw_deg;
    double pitch_deg;
    double identity_scale;
  };
  static constexpr double kRestartTurnDeg = 3.0;
  static constexpr std::array<Restart, 8> kRestarts = {{{0.02, 0, 0, 1},
                                                         {0.08, 0, 0, 1},
                                                         {0.01, 0, 0, 1},
                                                         {0.05, kRestartTurnDeg, 0, 1},
                                                         {0.05, -kRestartTurnDeg, 0, 1},
                                                         {0.05, 0, kRestartTurnDeg, 1},
                                                         {0.05, 0, -kRestartTurnDeg, 1},
                                                         {0.05, 0, 0, 1.5}}};
  // Contour re-selection rounds (each a Levenberg-Marquardt solve). >= 1.
  int max_rounds = 4;
  // Levenberg-Marquardt iterations per round. >= 1.
  int max_iterations = 25;
  // Confidence model: confidence = exp(-0.5 * (rmse / (scale * iod))^2),
  // with iod the observed inter-ocular distance. > 0.
  double confidence_scale = 0.04;
};

// Options for landmarks that lie exactly on the model: noise-free synthetic
// faces, or a mesh's own projected landmarks (FaceFitter::landmark_model()
// with the same landmark_offsets_cm). The defaults, with landmark_sigma_px
// 0.1, inner_landmarks_first, silhouette_consistency_weight 1,
// soft_contour_px {1, 0.3, 0.1} and restart_rmse_sigma 0.25 (each option's
// comment says what it adds). On noise-free synthetic faces with the identity
// estimated: 0 of 224 faces, and 0 of 224 fresh ones, beyond 1 deg rotation
// error or 0.3 px RMSE (fit_sweep_test.cc); ~0.6-0.7 s CPU per fit
// (BM_FitSingleImageExactLandmarks/2) against ~30 ms for the defaults. Not
// for real detectors: their ~1 px landmark noise is what the defaults
// (landmark_sigma_px 1) are tuned for.
FitOptions ExactLandmarkFitOptions();

// What to fit for one image (all optional).
struct FitRequest {
  // Per-landmark weights >= 0 (0 ignores a landmark); default all 1.
  std::optional<std::array<double, kNumLandmarks>> weights;
  // Identity to hold fixed (tracking); default: estimated with its prior.
  std::optional<std::array<double, kNumIdentityShapes>> identity;
  // Warm start (pose and expression; identity too unless held). Default:
  // pose from cv::solvePnP on the mean shape, neutral expression.
  std::optional<FaceParams> initial;
};

struct FitResult {
  FaceParams params;
  // Root mean square reprojection error over the weighted landmarks, pixels.
  double rmse_px = 0.0;
  // In [0, 1]: 1 for a fit as tight as good detectors give, towards 0 as the
  // residual grows past confidence_scale * inter-ocular distance, 0 for a
  // degenerate fit (face behind the camera, no usable landmarks).
  double confidence = 0.0;
  int iterations = 0;  // Levenberg-Marquardt iterations, all rounds.
  std::array<int, kNumLandmarks> vertices{};  // Model vertices used (SelectVertices).
};

// One frame of a multi-frame identity fit.
struct FrameObservation {
  Landmarks68 landmarks;
  Camera camera;
  std::optional<std::array<double, kNumLandmarks>> weights;
  // Start (pose, expression and this frame's identity estimate); default: a
  // single-image fit from PnP.
  std::optional<FaceParams> initial;
};

class FaceFitter {
 public:
  // Throws std::invalid_argument for invalid options. Copies what it needs
  // from `model`.
  static FaceFitter Create(const MorphableModel& model, const FitOptions& options = {});

  // Single-image fit: pose, expression and (unless request.identity is set)
  // identity. Thread-safe (const).
  FitResult Fit(const Landmarks68& landmarks, const Camera& camera, const FitRequest& request = {}) const;

  // Joint fit over several frames of one person (offline: Ceres, about 1-2 s
  // for 8-16 frames): a shared identity and per-frame pose and expression
  // (Schur elimination of the frame blocks), started from per-frame fits and
  // the mean of their identities. Returns one result per frame, all carrying
  // the shared identity.
  std::vector<FitResult> FitFrames(std::span<const FrameObservation> frames) const;

  // Initial pose from the mean shape (identity if given) by cv::solvePnP on
  // the inner landmarks. std::nullopt when PnP fails or puts the face behind
  // the camera.
  std::optional<Pose> InitialPose(const Landmarks68& landmarks, const Camera& camera,
                                  std::span<const double, kNumIdentityShapes> identity) const;

  // Confidence of a fit with this residual for these landmarks (see FitResult).
  double Confidence(double rmse_px, const Landmarks68& landmarks) const;

  const LandmarkModel& landmark_model() const { return landmarks_; }
  const FitOptions& options() const { return options_; }
  // Per-shape L1 weights (expression_l1_weight times expression_l1_scale), in
  // the model's expression order.
  const std::array<double, kNumExpressionShapes>& expression_l1_weights() const { return expression_l1_; }

 private:
  FaceFitter(LandmarkModel landmarks, const FitOptions& options, const std::array<double, kNumExpressionShapes>& l1);

  LandmarkModel landmarks_;
  FitOptions options_;
  std::array<double, kNumExpressionShapes> expression_l1_{};
};

// RMS reprojection error (pixels) of the selected landmarks for `params`;
// `weights` as in FitRequest (landmarks of weight 0 are skipped).
// The contour vertices are chosen with the observation (SelectRows with
// `observed` = landmarks), as the fitter does.
double ReprojectionRmse(const LandmarkModel& model, const FaceParams& params, const Camera& camera,
                        const Landmarks68& landmarks,
                        const std::optional<std::array<double, kNumLandmarks>>& weights = std::nullopt);

}  // namespace faceanime::face3d

#endif  // FACEANIME_FACE3D_FACE_FITTER_H_
