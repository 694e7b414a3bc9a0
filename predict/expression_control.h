// Expression control: FACS action units (AUs) and the eight RaFD expression
// presets on top of the ICT-FaceKit expression shapes, for editing a face
// state (GANimation-style "make this face smile at 0.7").
//
//   const auto control = ExpressionControl::Create(model);
//   const ActionUnitSet aus = control.ParseActionUnits("AU12=0.8, AU6=0.5");
//   FaceParams edited = control.Apply(base, aus, ExpressionBlend::kAdd);
//
// Action units come from the model's FACS table (MorphableModel::
// action_units(): AU1 ... AU64, each a list of ICT shapes). An AU whose
// shapes all come in _L/_R pairs also has one-sided variants named with a
// trailing "L" or "R" (the subject's own side, as in FACS and in ICT):
// "AU12L" drives only mouthSmile_L, "AU12" both. Gaze AUs (AU61-AU64) move
// both eyes together and have no one-sided variants; AU30L/AU30R are the
// model's own (jaw left/right). Intensities are in [0, 1] (1 = the full ICT
// shape, roughly FACS intensity E; A = trace ~0.15, C = marked ~0.5).
#ifndef FACEANIME_PREDICT_EXPRESSION_CONTROL_H_
#define FACEANIME_PREDICT_EXPRESSION_CONTROL_H_

#include <array>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "face3d/face_params.h"
#include "face3d/morphable_model.h"
#include "predict/dynamics.h"

namespace faceanime::predict {

// One controllable action unit: a model AU or a one-sided variant.
struct ActionUnit {
  std::string name;         // "AU12", "AU12L", "AU30R", ...
  std::string description;  // "Lip corner puller (subject's left)".
  std::vector<int> shapes;  // ICT expression shape indices it drives.
};

// One requested AU activation.
struct AuIntensity {
  std::string name;        // A name ExpressionControl knows ("AU12").
  double intensity = 0.0;  // [0, 1].
  bool operator==(const AuIntensity&) const = default;
};
// A validated set of activations: names distinct, intensities in [0, 1].
using ActionUnitSet = std::vector<AuIntensity>;

// The eight RaFD expressions (Langner et al. 2010).
enum class ExpressionPreset {
  kAngry = 0,
  kContemptuous,
  kDisgusted,
  kFearful,
  kHappy,
  kNeutral,
  kSad,
  kSurprised,
};
inline constexpr int kNumExpressionPresets = 8;

// Lower-case names ("angry", ...), in enum order.
std::span<const std::string_view> ExpressionPresetNames();
std::string_view ToString(ExpressionPreset preset);

// A preset at a strength in [0, 1] (1 = the prototype's full intensities).
struct PresetRequest {
  ExpressionPreset preset = ExpressionPreset::kNeutral;
  double strength = 1.0;
  bool operator==(const PresetRequest&) const = default;
};

// Parses "happy" (strength 1) or "happy=0.7" (case-insensitive, whitespace
// tolerant). Throws std::invalid_argument naming the cause and listing the
// eight preset names (unknown name) or the valid range (bad strength).
PresetRequest ParsePreset(std::string_view text);

// The preset's AU prototype at `strength` (each intensity scaled by it).
// Sources: the EMFACS prototypes as summarised by Ekman & Friesen, "Facial
// Action Coding System: Investigator's Guide" (1978/2002), table of
// emotion predictions; the intensities (FACS A-E -> 0..1) are ours, chosen so
// each expression reads clearly on the ICT shapes (happy's lip parting and
// the jaw drops of surprised and fearful, and sad's intensities, with
// face-api's expression classifier on London portraits: `faceanime
// eval-expression presets`, docs/benchmarks.md):
//   happy       AU6 + AU12 + AU25 (the table's open-lipped variant of
//               6 + 12; ICT has no AU25 lips-part shape: AU11, its
//               mouthUpperUp, + AU16 at FACS B part the lips. Without
//               AU25 face-api's classifier rated 62% of the London
//               renders happy, with it 88%: docs/benchmarks.md)
//   sad         AU1 + AU4 + AU15
//   surprised   AU1 + AU2 + AU5B + AU26 (ICT has no AU26 jaw drop: AU27 /
//               jawOpen at 0.6)
//   fearful     AU1 + AU2 + AU4 + AU5 + AU7 + AU20 + AU26 (AU27 as above)
//   angry       AU4 + AU5 + AU7 + AU23 (ICT has no AU23 lip tightener: AU24
//               lip pressor)
//   disgusted   AU9 + AU10 + AU15 + AU16
//   contemptuous R12A + R14A (one-sided, subject's right: AU12R + AU14R;
//               above trace intensity so that it shows)
//   neutral     no AU
// Throws std::invalid_argument when strength is outside [0, 1].
ActionUnitSet PresetActionUnits(ExpressionPreset preset, double strength = 1.0);

// Parses "replace" / "add". Throws std::invalid_argument listing both.
ExpressionBlend ParseBlendMode(std::string_view text);

// Weight at frame k of n (k = 0 .. n-1) of a ramp from 0 to `alpha`:
// alpha * smoothstep(k / (n - 1)) (zero slope at both ends), so frame 0 is
// exactly 0 and frame n-1 exactly alpha; n == 1 gives alpha. Throws
// std::invalid_argument for n < 1 or k outside [0, n).
double RampWeight(int k, int n, double alpha);

// The default ExpressionControlOptions::rest_expression: per ICT shape, the
// median weight our single-image fit (FaceAnalyzer::AnalyzeStill, default
// options) reads on neutral faces. That fit does not read a neutral face as
// all-zero expression: the identity basis at its prior cannot absorb all of
// a face's shape, and the face-api landmarks keep a residual convention gap
// to ICT's landmark vertices. Before the calibrated landmark offsets
// (face3d::DefaultLandmarkOffsets) the gap made every neutral face read
// eyeWide, eyeLookIn, cheekPuff, cheekSquint, mouthStretch ... at 0.3-1.0;
// with them the medians are <= 0.25 (mouthLowerDown_R, cheek*, jawLeft,
// mouthFrown_L ~0.1-0.25). Calibrated on
// neutral faces that no evaluation uses: the first frame of six GRID
// speakers (../shared/data/grid: s1/bbaf2n.mpg and the five clips in
// speakers/), with `faceanime eval-expression rest` (docs/benchmarks.md,
// "Expression control", has the command). Recalibrate when the still-fit
// defaults change (tests/predict/expression_pixel_test.cc checks the table
// against the current fit).
std::map<std::string, double> DefaultRestExpression();

struct ExpressionControlOptions {
  // The expression our fitter reads on a neutral face, per ICT shape name
  // (weights in [0, 1]; shapes not listed: 0). Replace mode resets a
  // portrait's expression to min(portrait, rest) per shape, not to zero:
  // weights up to the rest level are how the fit explains this person's
  // neutral face, and removing them would change the face's shape (narrower
  // eyes, thinner cheeks), not its expression. Empty: replace resets to
  // zero (every fitted weight counts as expression).
  std::map<std::string, double> rest_expression = DefaultRestExpression();
};

class ExpressionControl {
 public:
  // Builds the AU table (model AUs and one-sided variants) from the model.
  // Throws std::invalid_argument when the model has no AU table, or when
  // options.rest_expression names a shape the model lacks (the message lists
  // the model's shapes) or holds a weight outside [0, 1].
  static ExpressionControl Create(const face3d::MorphableModel& model, const ExpressionControlOptions& options = {});

  // Every controllable AU: model AUs in model order, each followed by its
  // "L"/"R" variants where it has them.
  const std::vector<ActionUnit>& action_units() const { return units_; }
  // nullptr when unknown. Case-insensitive ("au12l" finds "AU12L").
  const ActionUnit* Find(std::string_view name) const;
  // "AU1, AU1L, AU1R, AU2, ..." for error messages.
  std::string ValidNames() const;

  // Parses "AU12=0.8,AU6=0.5" (whitespace tolerant; commas separate; an
  // empty text is an empty set). Throws std::invalid_argument naming the
  // offending item: unknown AU (message lists the valid names), malformed
  // item or number, intensity outside [0, 1], or an AU given twice.
  ActionUnitSet ParseActionUnits(std::string_view text) const;
  // Validates a set built in code (same rules as ParseActionUnits).
  void Validate(const ActionUnitSet& aus) const;

  // The 53 expression weights of `aus` scaled by `scale` (in [0, 1]): each
  // AU sets its shapes to intensity * scale; where AUs share a shape (AU12
  // and AU12L) the larger value wins. Shapes no AU touches are 0.
  std::array<double, face3d::kNumExpressionShapes> ToExpression(const ActionUnitSet& aus,
                                                                double scale = 1.0) const;

  // `base` with its expression edited (pose and identity kept), `weight` in
  // [0, 1] the edit's progress (RampWeight; 1 = the full edit, 0 = `base`):
  //   kReplace: (1 - weight) * base + weight * target, target =
  //             clamp(Neutralize(base) + ToExpression(aus), 0, 1): the
  //             portrait's own expression is removed (down to the rest
  //             state) and the face shows exactly the AU set, its
  //             intensities counted from the neutral face as FACS counts
  //             them; with an empty rest_expression the target is exactly
  //             ToExpression(aus) (every other shape 0);
  //   kAdd:     clamp(base + weight * ToExpression(aus), 0, 1) ("a bit
  //             happier" than the portrait already is).
  face3d::FaceParams Apply(const face3d::FaceParams& base, const ActionUnitSet& aus, ExpressionBlend mode,
                           double weight = 1.0) const;

  // `expression` without its expression: min(expression, rest) per shape
  // (the rest state: what our fit reads on a neutral face, capped by the
  // portrait's own reading so that nothing is added).
  std::array<double, face3d::kNumExpressionShapes> Neutralize(
      std::span<const double, face3d::kNumExpressionShapes> expression) const;
  // Rest weights in model order (ExpressionControlOptions::rest_expression).
  const std::array<double, face3d::kNumExpressionShapes>& rest() const { return rest_; }

  // An AU's intensity as read back from expression weights: the mean of its
  // shapes' weights. Throws std::invalid_argument for an unknown AU.
  double Intensity(std::span<const double, face3d::kNumExpressionShapes> expression,
                   std::string_view au) const;

 private:
  ExpressionControl(std::vector<ActionUnit> units, const std::array<double, face3d::kNumExpressionShapes>& rest)
      : units_(std::move(units)), rest_(rest) {}
  std::vector<ActionUnit> units_;
  std::array<double, face3d::kNumExpressionShapes> rest_{};
};

}  // namespace faceanime::predict

#endif  // FACEANIME_PREDICT_EXPRESSION_CONTROL_H_
