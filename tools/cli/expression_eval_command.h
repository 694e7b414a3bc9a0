// `faceanime eval-expression`: acceptance measurements for expression
// control (issue 8), on the real pipeline (pipeline::Retargeter::Render, as
// `faceanime edit` renders, judged by pipeline::FaceAnalyzer::AnalyzeStill):
//
//   roundtrip  render portraits with requested AU sets (replace mode), fit
//              the rendered pixels (detector + face-api landmarks + our
//              fitter) and read the AUs back (GANimation's AU-regression
//              check, our fitter as the judge); per-AU mean absolute error,
//              also for judges that know more than a photo analysis (the
//              source identity, the unedited render: AuReadback)
//   london     the `happy` preset on the London neutral photos: face-api's
//              expression classifier on inputs and outputs, and landmarks of
//              the output vs the same person's real smiling photo
//   sheet      one portrait x the eight presets and an AU12 ramp (labelled)
//   rest       calibrates replace mode's rest state (DefaultRestExpression)
//              on neutral faces: per-shape median of the fitted expression
//
// The measuring functions are public for the tests.
#ifndef FACEANIME_TOOLS_CLI_EXPRESSION_EVAL_COMMAND_H_
#define FACEANIME_TOOLS_CLI_EXPRESSION_EVAL_COMMAND_H_

#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <opencv2/core/mat.hpp>

#include "face3d/expression_classifier.h"
#include "face3d/face_fitter.h"
#include "pipeline/retargeter.h"
#include "render/face_warper.h"
#include "predict/expression_control.h"

namespace faceanime::cli {

// AUs whose shapes move the 68 Multi-PIE landmarks enough to be read back
// from them (brows, lip corners and lips, jaw, eyelids). The others (AU5
// eyeWide, AU6 cheekSquint, AU7, AU9, ...) barely move any landmark, so a
// landmark fitter cannot be their judge. Same list as the landmark round
// trip in tests/predict/expression_control_test.cc.
const std::vector<std::string>& LandmarkVisibleActionUnits();

// One requested AU read back from fits (intensity = mean of its shapes'
// weights, ExpressionControl::Intensity).
struct AuReadback {
  std::string name;
  double requested = 0.0;  // The target's value (replace mode: the portrait's
                           // rest state plus the request).
  double source = 0.0;     // In the source portrait's fit (its rest state).
  double unedited = 0.0;   // Fit of the unedited render (Render(source fit)).
  double edited = 0.0;     // Fit of the edited render: the round trip's answer.
  // Diagnostics (where the intensity is lost):
  double model_landmarks = 0.0;   // The fitter (identity free) on the target's
                                  // own projected landmarks (no pixels).
  double model_landmarks_identity_held = 0.0;  // The same, source identity held.
  double identity_held = 0.0;     // The edited render's detected landmarks
                                  // refitted with the source identity held.
  // The tracking-case judge: the landmark motion the network detects between
  // the unedited and the edited render, divided by the round trip's
  // landmark_gain and added to the source's projected model landmarks,
  // fitted with the source identity held. Differencing the two renders
  // cancels what the network places differently from the model's landmark
  // vertices at rest (the offsets the rest state absorbs).
  double differential = 0.0;
  // The tracked judge: a render of the portrait at replace mode's rest
  // state (the state a replace-mode request is added to) and the edited
  // render read as a two-frame video, as a tracker would. The rest render's
  // detected landmarks are tracked into the edited render by pyramidal
  // Lucas-Kanade (pixels, no landmark network; a point whose track does not
  // come back within 1 px is dropped), their motion is added to the rest
  // state's projected model landmarks and fitted with the source identity
  // held; the eyelids are read from the eye pixels by face3d::EyelidMeter
  // with the rest render as its open-eye reference: eyeBlink = rest +
  // closure * (1 - rest), per eye. (From the unedited render instead, the
  // motion also holds the removal of the portrait's own expression, e.g. a
  // wide-open eye's eyeWide, which the meter reads as a closing lid.)
  double tracked = 0.0;
};

struct RoundTripResult {
  bool found = false;  // A face was found in both renders.
  std::vector<AuReadback> aus;
  double rmse_px = 0.0;  // Fit of the edited render.
  // Inner-lip gap (pixels, mean of |62-66|, |61-67|, |63-65|): the target's
  // projected model landmarks, and the landmarks detected on the render;
  // the same for the unedited render.
  double lip_gap_target_px = 0.0;
  double lip_gap_detected_px = 0.0;
  double lip_gap_unedited_target_px = 0.0;
  double lip_gap_unedited_detected_px = 0.0;
  // Eye opening (pixels, mean of |37-41|, |38-40|, |43-47|, |44-46|), the same way.
  double eye_gap_target_px = 0.0;
  double eye_gap_detected_px = 0.0;
  double eye_gap_unedited_target_px = 0.0;
  double eye_gap_unedited_detected_px = 0.0;
  // Landmark motion gain: how much of the model's landmark motion (target
  // minus source, projected) shows in the landmarks detected on the renders
  // (edited minus unedited): <detected, model> / |model|^2 over the 68
  // points (1: all of it; 0: none). 0 when the model motion is ~0.
  double motion_gain = 0.0;
  double model_motion_px = 0.0;  // RMS over the 68 points of the model motion.
  // The same split in two stages: the render's own motion of the features
  // (the unedited render's detected landmarks mapped forward through the
  // warp's displacement field) against the model motion (render gain), and
  // the detected motion against the render's (network gain).
  double render_gain = 0.0;
  double network_gain = 0.0;
  // The tracked judge's inputs: landmarks whose track was kept (of 68), and
  // the eyelid meter's closure per eye (0: eye 0 = landmarks 36-41, the
  // subject's right; NaN: no reading).
  int tracked_landmarks = 0;
  std::array<double, 2> eyelid_closure{};
  cv::Mat edited_rgb;  // The rendered edit (RGB).
};

// Renders a retargeter's source with AU requests in replace mode and reads
// the AUs back from the pixels (the retargeter's own analyzer,
// AnalyzeStill). `retargeter` must outlive this and use the default
// WarpOptions and output_crop 0 (the diagnostics re-run the warp).
class ExpressionRoundTrip {
 public:
  // Fits the unedited render (Render(source fit)) and the rest-state render
  // once. Throws std::runtime_error when no face is found in either. `landmark_gain` (> 0,
  // default 1: none) divides the detected landmark motion in the
  // differential judge (AuReadback::differential): the landmark network's
  // measured under-response (network gain), calibrated on other portraits.
  explicit ExpressionRoundTrip(pipeline::Retargeter& retargeter, double landmark_gain = 1.0);
  RoundTripResult Run(const predict::ActionUnitSet& request) const;
  const pipeline::FaceObservation& unedited() const { return unedited_; }

 private:
  pipeline::Retargeter& retargeter_;
  pipeline::FaceObservation unedited_;
  cv::Mat unedited_rgb_;  // Render(source fit).
  // The tracked judge's first frame: the source at replace mode's rest
  // state (no request), its render and the landmarks detected on it.
  face3d::FaceParams rest_params_;
  cv::Mat rest_rgb_;
  face3d::Landmarks68 rest_landmarks_{};
  double landmark_gain_ = 1.0;
  face3d::FaceFitter fitter_;  // The analyzer's still-fit options.
  render::FaceWarper warper_;  // Default WarpOptions, as the retargeter's.
};

// Mean inter-ocular-normalised landmark distance after similarity alignment:
// metrics::Akd(reference, other, align = true) / the reference's outer-eye-
// corner distance (landmarks 36, 45).
double NormalisedLandmarkDistance(const face3d::Landmarks68& reference, const face3d::Landmarks68& other);

// One London identity: neutral photo, the happy preset at each strength,
// the real smiling photo.
struct LondonCase {
  std::string id;
  bool found = false;  // Faces found in the neutral, smiling photo and every output.
  face3d::ExpressionClassifier::Probabilities neutral{}, smiling{};
  std::vector<face3d::ExpressionClassifier::Probabilities> outputs;  // Per strength.
  double distance_before = 0.0;               // Neutral vs smiling photo.
  std::vector<double> distance_after;         // Output vs smiling photo, per strength.
  std::vector<cv::Mat> output_rgb;            // Per strength.
  cv::Mat neutral_rgb, smiling_rgb;           // The photos.
  // Detected landmarks (pixels) of the photos and outputs, and the neutral
  // photo's fitted expression (the portrait's state replace mode removes).
  face3d::Landmarks68 neutral_landmarks{}, smiling_landmarks{};
  std::vector<face3d::Landmarks68> output_landmarks;  // Per strength.
  std::array<double, face3d::kNumExpressionShapes> neutral_expression{};
};

// Face regions of the 68 Multi-PIE landmarks for distance breakdowns: jaw
// 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67.
inline constexpr int kNumLandmarkRegions = 5;
inline constexpr std::array<const char*, kNumLandmarkRegions> kLandmarkRegionNames = {"jaw", "brows", "nose", "eyes",
                                                                                     "mouth"};
// NormalisedLandmarkDistance split by region: `other` aligned to `reference`
// over all 68 points (the same similarity), then the mean point distance of
// each region's points / the reference's outer-eye-corner distance.
std::array<double, kNumLandmarkRegions> NormalisedRegionDistances(const face3d::Landmarks68& reference,
                                                                  const face3d::Landmarks68& other);

// London pairs under `dir` (neutral/NNN_03.jpg with smiling/NNN_08.jpg), in
// id order; at most `limit` (0: all).
std::vector<std::string> FindLondonIds(const std::filesystem::path& dir, int limit = 0);

// One identity: fits the neutral photo (pipeline::Retargeter, default
// options), renders the `happy` preset in `mode` at each strength, analyses
// outputs and the smiling photo with the same analyzer, classifies inputs
// and outputs on their detected boxes. `found` is false (the rest unset)
// when a face is missing or the neutral photo is unreadable; an unreadable
// smiling photo throws std::runtime_error.
LondonCase EvaluateLondon(const std::filesystem::path& dir, const std::string& id,
                          const std::vector<double>& strengths, const face3d::ExpressionClassifier& classifier,
                          predict::ExpressionBlend mode = predict::ExpressionBlend::kReplace, int threads = 1);

// One portrait with every expression preset: face-api's classifier on the
// portrait and on each preset's render (`eval-expression presets`, StarGAN's
// "is the generated expression classified as the requested one" check).
struct PresetCase {
  std::string id;
  bool found = false;  // Faces found in the portrait and every render.
  face3d::ExpressionClassifier::Probabilities input{};
  // Per preset, in predict::ExpressionPresetNames() order.
  std::vector<face3d::ExpressionClassifier::Probabilities> outputs;
  std::vector<cv::Mat> output_rgb;
  cv::Mat input_rgb;  // The portrait.
};

// The classifier class a preset should be rated as; -1 for contemptuous
// (face-api has no contempt class).
int ClassifierClassOf(predict::ExpressionPreset preset);

// Fits `portrait` (pipeline::Retargeter, default options), renders each of
// the eight presets at `strength` in `mode`, analyses each render like a
// photo and classifies it on its detected box. `found` is false (the rest
// unset) when the portrait is unreadable or a face is missing.
PresetCase EvaluatePresets(const std::filesystem::path& portrait, double strength,
                           const face3d::ExpressionClassifier& classifier,
                           predict::ExpressionBlend mode = predict::ExpressionBlend::kReplace, int threads = 1);

// Replace mode's rest-state calibration (`eval-expression rest`): the first
// frame of each source (an image or a video; pipeline::FrameSource) fitted
// like a portrait (FaceAnalyzer::AnalyzeStill, default options), and the
// per-shape median of the fitted expression weights. Throws
// std::runtime_error naming a source without a face.
struct RestCalibration {
  std::vector<std::array<double, face3d::kNumExpressionShapes>> expressions;  // Per source.
  std::array<double, face3d::kNumExpressionShapes> median{};
  std::vector<std::string> shape_names;  // The model's expression names.
};
RestCalibration CalibrateRest(const std::vector<std::string>& sources, int threads = 1);

// The contact sheet: the source, the eight presets (replace mode, strength
// 1), then AU12 at each of `ramp` (replace), each an output_crop x
// output_crop face crop, labelled. RGB.
cv::Mat ExpressionSheet(const std::filesystem::path& source, const std::vector<double>& ramp, int crop = 256,
                        int columns = 7, int threads = 1);

struct ExpressionEvalArgs {
  std::string task;                  // roundtrip, london, presets, sheet, rest.
  std::vector<std::string> sources;  // roundtrip, sheet, rest.
  std::string data;                  // london, presets: the London folder.
  std::vector<double> strengths{1.0};  // london: happy strengths; presets: one strength.
  int limit = 0;                     // london, presets: identities (0: all).
  std::string mode = "replace";      // london, presets: replace or add.
  std::string output;                // sheet: the image; roundtrip: optional PNG folder.
  int crop = 256;                    // sheet: cell crop.
  int columns = 7;                   // sheet: cells per row.
  std::string json;                  // Optional JSON with every number.
  double landmark_gain = 1.0;        // roundtrip: ExpressionRoundTrip's landmark_gain.
  int threads = 1;
  bool quiet = false;
};

CLI::App* AddExpressionEvalCommand(CLI::App& app, ExpressionEvalArgs& args);
int RunExpressionEval(const ExpressionEvalArgs& args);

}  // namespace faceanime::cli

#endif  // FACEANIME_TOOLS_CLI_EXPRESSION_EVAL_COMMAND_H_
