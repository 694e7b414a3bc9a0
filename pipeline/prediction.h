// Portrait animation by the learned dynamics predictor (issue 7, "Use"): a
// source portrait plus a target (a face image, an expression preset, or FACS
// action units; or none) -> a rolled-out sequence of 3D face states ->
// rendered frames. Shared by `faceanime predict` and the `faceanimesrc`
// GStreamer element. No GStreamer, no clock: frame times are inputs.
//
//   PredictionOptions o;
//   o.retargeter.source_image = "me.png";
//   o.target.expression = "happy";
//   o.seconds = 4;
//   auto p = Prediction::Create(o);                  // fits, loads, rolls out
//   for (int k = 0; k < p->NumFrames(25); ++k) Write(p->RenderAt(FrameTimeNs(k, 25, 1)));
//
// Target semantics:
//   * expression / au: the target face is the portrait with that expression
//     (ExpressionControl::Apply with `mode`; kReplace by default, so
//     "sad" takes the portrait's own smile away) and the rest head pose;
//   * image: the target face's expression (absolute weights, replacing the
//     portrait's) and its head rotation relative to the portrait's, so a
//     target looking left makes the portrait turn left by the same angle
//     from where it looks (`target_pose` = false keeps the head still).
//     Translation is not taken: the two photos' cameras are unrelated.
//   * none: free video prediction (plausible motion from the portrait's face;
//     the seed picks the motion).
// The target is reached at `target_time` of the duration (default 65%) and
// the rollout continues after it (the model holds the target, see
// predict/dynamics_predictor.h).
#ifndef FACEANIME_PIPELINE_PREDICTION_H_
#define FACEANIME_PIPELINE_PREDICTION_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <opencv2/core.hpp>

#include "face3d/face_params.h"
#include "pipeline/retargeter.h"
#include "predict/dynamics.h"

namespace faceanime::pipeline {

// The target image cannot be used (unreadable, or no face in it).
class TargetError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What the portrait should end up doing. At most one field is non-empty;
// all empty: no target (free prediction).
struct PredictionTargetSpec {
  std::filesystem::path image;  // A photo with one face.
  std::string expression;       // A preset: "happy" or "happy=0.7" (ParsePreset).
  std::string au;               // Action units: "AU12=0.8,AU6=0.5" (ParseActionUnits).
  bool empty() const { return image.empty() && expression.empty() && au.empty(); }
};

struct PredictionOptions {
  // The portrait (source_image or source_rgb), analysis threads, output crop.
  RetargeterOptions retargeter;
  PredictionTargetSpec target;
  // How a preset / AU target combines with the portrait's own expression
  // (ExpressionControl::Apply). Ignored for image targets (always their
  // absolute expression) and without a target.
  predict::ExpressionBlend mode = predict::ExpressionBlend::kReplace;
  // Image targets: also turn the head to the target's rotation (relative to
  // the portrait's). false: expression only.
  bool target_pose = true;
  double seconds = 4.0;      // Duration of the animation, > 0.
  double target_time = 0.65; // Fraction of `seconds` at which the target is reached, (0, 1].
  uint64_t seed = 1;         // Same seed and inputs, same animation.
  std::filesystem::path weights;  // Predictor weights; empty: DefaultPredictorWeights().
  int predictor_threads = 1;      // LibTorch threads for the rollout, >= 1.
};

// Timestamp of frame `index` at `fps_n / fps_d` frames per second, ns
// (index * 1e9 * fps_d / fps_n, rounded down; exact for integer rates).
int64_t FrameTimeNs(int64_t index, int fps_n, int fps_d = 1);

class Prediction {
 public:
  // Validates the options (std::invalid_argument naming the field; unknown
  // preset / AU names list the valid ones), loads the predictor
  // (predict::PredictorModelError naming the weights file), fits the portrait
  // (SourceError) and the target image (TargetError), then rolls out.
  static std::unique_ptr<Prediction> Create(const PredictionOptions& options);
  ~Prediction();

  // Frames in `seconds` at fps_n / fps_d: round(seconds * fps), at least 1.
  int NumFrames(int fps_n, int fps_d = 1) const;

  // The face state at time `time_ns` from the start (the rollout, made at the
  // predictor's frame rate, interpolated linearly between its frames; held
  // after the end). Time 0 is the portrait's own fitted face.
  face3d::FaceParams FaceAt(int64_t time_ns) const;
  // The portrait rendered at FaceAt(time_ns): RGB (CV_8UC3) of output_size().
  cv::Mat RenderAt(int64_t time_ns) const;

  cv::Size output_size() const;
  // The rollout at the predictor's rate, frame 0 = the portrait (relative to
  // the portrait's fit, see predict/dynamics.h), and that rate (fps).
  const predict::DynamicsSequence& dynamics() const;
  double model_fps() const;
  // The rollout frame where the target is reached (std::nullopt: no target)
  // and the target state itself.
  std::optional<int> target_frame() const;
  std::optional<predict::Dynamics> target_dynamics() const;
  const Retargeter& retargeter() const;

 private:
  struct Impl;
  explicit Prediction(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace faceanime::pipeline

#endif  // FACEANIME_PIPELINE_PREDICTION_H_
