// Quality evaluation of the retargeting pipeline (`faceanime eval`): suites of
// cases (a source portrait + a driver), the methods compared, and the metrics.
//
// Suites (FindEvalCases builds the cases from a data folder):
//   self   Self-reenactment: each video clip drives its own frame
//          `source_frame` (default 0; when it shows no face, the first later
//          frame that does, see source_search_frames); ground truth = every
//          driver frame.
//   cross  Cross-identity: the first frame of one speaker's clip is driven
//          by the next speaker's clip (sorted, wrapping). No ground truth:
//          motion and identity metrics only.
//   pairs  London set: neutral/NNN_03.jpg (source) driven by
//          smiling/NNN_08.jpg (driver and ground truth) of the same person.
//          The driver's reference face is the source's own fit (same person),
//          so the transfer reproduces the smiling photo's pose and expression.
//
// Methods (one output image per driver frame, at the driver's size):
//   faceanime   Retargeter (relative motion, full-size output, no crop).
//   source      Baseline: the source frame unchanged (resized to the driver's
//               size when they differ).
//   similarity  Baseline: the source warped by the 2D similarity transform
//               from the source's 68 landmarks to the driver's
//               (cv::estimateAffinePartial2D, RANSAC 3 px then refinement;
//               cv::warpAffine, bilinear, border replicated). A driver frame
//               without a face keeps the previous transform (identity first).
//   (self and pairs compute all three; cross only faceanime.)
//
// Measurement: a separate "measurement" FaceAnalyzer (the production networks
// and tracking fit, with the landmark One-Euro filter opened up to 10 kHz
// min_cutoff, i.e. no smoothing, so jitter measures the images, not the
// filter) analyses every stream on its own: the ground truth / driver frames
// and each method's outputs. Video streams use AnalyzeFrame (tracking; reset
// per stream), still images AnalyzeStill. The source portrait is measured with
// AnalyzeStill.
//
// Metrics per frame (formulas in pipeline/metrics.h), then averaged over the
// frames where they are defined:
//   l1_face, psnr_face, ssim_face     output vs ground truth on the face crop
//                                     metrics::FaceRegion(gt landmarks, 0.1)
//   l1_mouth, psnr_mouth, ssim_mouth  same on metrics::MouthRegion(gt
//                                     landmarks, 0.25): landmarks 48-67 box
//                                     grown by 25% of its size on each side
//     (crops come from the ground-truth frame's measured landmarks, so every
//      method is scored on the same pixels; frames whose ground truth has no
//      face are skipped for these metrics)
//   akd_px    metrics::Akd(reference, output landmarks, align = true): mean
//             landmark distance after least-squares similarity alignment;
//             reference = ground truth (self, pairs) or driver (cross: includes
//             the two identities' shape difference).
//   aed       metrics::Aed(output fit expression, driver fit expression): mean
//             absolute difference of the 53 expression weights.
//   identity_distance  Euclidean distance of the 128-D FaceRecognizer
//             embeddings of the output (its measured landmarks) and of the
//             source portrait (< 0.6: same person for face-api.js).
//   identity_distance_gt  (self, pairs) the same distance from the output
//             to the ground-truth frame (its measured landmarks): identity
//             with the expression and pose held equal, since the embedding
//             also moves with expression (CaseResult::
//             ground_truth_identity_distance says how far the real frames lie
//             from the source).
//   jitter_px metrics::LandmarkJitter of the output's measured landmarks
//             (acceleration RMS, px/frame^2), pooled over runs of consecutive
//             frames with a face: sqrt(sum_i (T_i - 2) J_i^2 / sum_i (T_i - 2)).
//   fps       output frames per second of wall time for that method alone
//             (faceanime: Retargeter::Process incl. driver analysis; baselines:
//             their image warp, given the measured landmarks).
//   output_face_rate  fraction of output frames where a face was measured
//             (akd, aed, identity and jitter use only those).
// Aggregates: the mean over cases of each case's mean (NaN-free: a case whose
// metric is undefined is left out of that metric's mean).
//
// No GStreamer; decoding through FrameSource (OpenCV).
#ifndef FACEANIME_PIPELINE_EVALUATION_H_
#define FACEANIME_PIPELINE_EVALUATION_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "face3d/face_recognizer.h"
#include "pipeline/face_analyzer.h"
#include "pipeline/retargeter.h"

namespace faceanime::pipeline {

enum class EvalSuite { kSelf, kCross, kPairs };

// "self", "cross", "pairs" (and back). ParseEvalSuite throws
// std::invalid_argument naming the accepted values.
EvalSuite ParseEvalSuite(const std::string& name);
std::string EvalSuiteName(EvalSuite suite);

// Method names in report order.
inline constexpr const char* kMethodFaceanime = "faceanime";
inline constexpr const char* kMethodSource = "source";
inline constexpr const char* kMethodSimilarity = "similarity";
// The methods a suite evaluates: all three for self and pairs, faceanime only
// for cross.
std::vector<std::string> EvalMethods(EvalSuite suite);

// Metric keys in report order (also the JSON keys).
const std::vector<std::string>& EvalMetricKeys();

struct EvalCase {
  std::string name;              // e.g. "bbaf2n", "001", "brbk7n->lbax4n".
  std::filesystem::path source;  // Image, or video (frame `source_frame` is used).
  std::filesystem::path driver;  // Video, or image (one frame).
};

// The cases of `suite` in `data_dir` (sorted by file name): every
// `stride`-th of them (>= 1; cases 0, stride, 2 stride, ...), at most
// `max_cases` (0: all). Layouts: self and cross: *.mpg/*.mp4/*.avi/*.mkv/*.mov
// files in the folder (cross needs >= 2); pairs: neutral/NNN_03.jpg with
// smiling/NNN_08.jpg. Throws std::invalid_argument when the folder is missing
// or holds no case, naming the folder and the expected layout.
std::vector<EvalCase> FindEvalCases(EvalSuite suite, const std::filesystem::path& data_dir, int max_cases = 0,
                                   int stride = 1);

struct EvaluationOptions {
  EvalSuite suite = EvalSuite::kSelf;
  // Driver frames per case (0: all). >= 0.
  int max_frames = 0;
  // self and cross: the clip's frame used as the source portrait. >= 0.
  int source_frame = 0;
  // self and cross: when frame `source_frame` shows no face (e.g. a clip that
  // starts with grey or half-decoded frames before its first key frame), the
  // first of the next `source_search_frames` frames in which the measurement
  // analyzer finds a face and the system's source fit succeeds is used
  // instead (CaseResult::source_frame). In self, the frames from
  // `source_frame` up to the one used are left out of the driver and ground
  // truth (they show no face to score). 0: only `source_frame` (a case
  // without a face there is skipped). >= 0 (default 25: one second at 25 fps).
  int source_search_frames = 25;
  // The system under test. source_image / source_rgb are set per case;
  // output_crop must be 0 (outputs are compared with full frames).
  RetargeterOptions retarget;
  // Measurement analyzer; its tracker's One-Euro min_cutoff is raised to
  // 10 kHz by Create (no landmark smoothing).
  FaceAnalyzerOptions measure;
  face3d::FaceRecognizer::Options recognizer;
  // Keep one contact sheet per case (source / driver / output / baselines at
  // the middle evaluated frame) in CaseResult::sheet.
  bool contact_sheets = false;
  // Keep every frame's values in CaseResult::per_frame (for per-frame
  // analysis: which frames a method loses on).
  bool per_frame = false;
};

// Per-method means of one case; keys of EvalMetricKeys(). A metric that is
// undefined (e.g. image metrics in the cross suite, or no frame with a face)
// is NaN.
using MetricMap = std::map<std::string, double>;

// One method's values on one driver frame (EvaluationOptions::per_frame);
// NaN where undefined (no face measured in the ground truth or the output).
struct FrameMetrics {
  double ssim_mouth = std::numeric_limits<double>::quiet_NaN();
  double l1_mouth = std::numeric_limits<double>::quiet_NaN();
  double ssim_face = std::numeric_limits<double>::quiet_NaN();
  double akd_px = std::numeric_limits<double>::quiet_NaN();
  // The output's measured mouth (mean of landmarks 48-67) minus the ground
  // truth's, pixels, unaligned: where the mouth is drawn.
  double mouth_dx_px = std::numeric_limits<double>::quiet_NaN();
  double mouth_dy_px = std::numeric_limits<double>::quiet_NaN();
  // The output's inner-lip gap (face3d::InnerLipGap) minus the ground truth's, pixels.
  double lip_gap_error_px = std::numeric_limits<double>::quiet_NaN();
  // faceanime only (NaN for the baselines, and with an output crop): the
  // inner-lip gap of the state it rendered, from the model's own 68 landmarks
  // projected into the output (pixels). Against ground_truth_lip_gap_px it
  // shows what the motion transfer asked for; against the measured output
  // gap (ground truth + lip_gap_error_px), what the rendered image shows of it.
  double model_lip_gap_px = std::numeric_limits<double>::quiet_NaN();
  // Face-api descriptor distance, output vs the source portrait (as the
  // case's identity_distance, one frame).
  double identity_distance = std::numeric_limits<double>::quiet_NaN();
};

struct CaseResult {
  std::string name;
  std::string source, driver;  // Paths as given.
  // The video source's frame used as the portrait, and the one requested
  // (EvaluationOptions::source_frame; they differ after a search). -1 for a
  // still image or EvaluateFrames.
  int source_frame = -1;
  int requested_source_frame = -1;
  int frames = 0;              // Driver frames evaluated.
  int ground_truth_frames = 0; // Of those, with a measured face in the reference (gt / driver).
  double driver_jitter_px = std::numeric_limits<double>::quiet_NaN();  // The reference stream's own jitter.
  // self/pairs: mean identity_distance of the ground-truth frames themselves
  // to the source portrait (how far the real expression and pose move the
  // embedding: a method that reproduces them well moves it about as far).
  double ground_truth_identity_distance = std::numeric_limits<double>::quiet_NaN();
  std::map<std::string, MetricMap> methods;  // Method name -> metrics.
  // With EvaluationOptions::per_frame: the ground truth's inner-lip gap per
  // driver frame (pixels, NaN without a face) and each method's per-frame
  // values (method name -> one entry per driver frame).
  std::vector<double> ground_truth_lip_gap_px;
  std::map<std::string, std::vector<FrameMetrics>> per_frame;
  cv::Mat sheet;  // RGB contact sheet (only with contact_sheets).
};

struct SuiteResult {
  EvalSuite suite = EvalSuite::kSelf;
  std::string data_dir;
  std::vector<std::string> methods;
  std::vector<CaseResult> cases;
  // Cases that could not be evaluated (e.g. no face in the source frame):
  // name and reason. They count in no mean.
  std::vector<std::pair<std::string, std::string>> skipped;
  std::map<std::string, MetricMap> aggregate;  // Mean over cases, per method.
};

// Mean over cases of each method's metrics, leaving NaN out.
std::map<std::string, MetricMap> AggregateCases(const std::vector<CaseResult>& cases,
                                                const std::vector<std::string>& methods);

// Issue 5's acceptance per case: faceanime's ssim_mouth is strictly above
// every baseline's. False when a value is missing or there is no baseline.
bool MouthSsimBeatsBaselines(const CaseResult& result);

// JSON (2-space indent). Stable keys:
//   {"suite", "data", "methods": [...], "metrics": [...],
//    "cases": [{"name", "source", "driver", "source_frame" (null for stills),
//               "frames", "ground_truth_frames",
//               "driver_jitter_px", "ground_truth_identity_distance" (null for
//               cross), "mouth_ssim_beats_baselines" (self/pairs),
//               "methods": {method: {metric: number|null}},
//               "per_frame" (only with EvaluationOptions::per_frame):
//                 {"ground_truth_lip_gap_px": [...],
//                  method: {"ssim_mouth", "l1_mouth", "ssim_face", "akd_px",
//                           "mouth_dx_px", "mouth_dy_px", "lip_gap_error_px",
//                           "model_lip_gap_px", "identity_distance":
//                           [one number|null per driver frame]}}}],
//    "skipped": [{"name", "reason"}],
//    "aggregate": {method: {metric: number|null}},
//    "mouth_ssim_wins": {"cases", "wins"} (self/pairs)}
// NaN is written as null.
std::string SuiteResultToJson(const SuiteResult& result);

// A Markdown table: one row per method with the aggregate means (the columns
// that are defined for the suite), then, for self/pairs, a line counting the
// cases where faceanime's mouth SSIM beats both baselines, the cases whose
// source frame was found by the search (source_search_frames), and the
// skipped cases with their reasons.
std::string SuiteResultToMarkdown(const SuiteResult& result);

// Called after each driver frame: (case index, frame index within the case).
using EvalProgress = std::function<void(int case_index, int frame)>;

class Evaluator {
 public:
  // Validates `options` (std::invalid_argument naming the field) and loads the
  // measurement analyzer and the recognizer (their errors name the missing
  // file and tools/setup).
  static std::unique_ptr<Evaluator> Create(const EvaluationOptions& options);
  ~Evaluator();

  // Decodes and evaluates one case (searching the source frame, see
  // source_search_frames). Throws InputError (unreadable file), SourceError
  // (no face in the source frame nor in the search window).
  CaseResult Evaluate(const EvalCase& c, int case_index = 0, const EvalProgress& progress = {});

  // The same on decoded frames (RGB, CV_8UC3): `source_rgb` and the driver
  // frames with their timestamps (ns, increasing; one frame with still=true
  // is analysed as a still image). For self and pairs the driver frames are
  // also the ground truth.
  CaseResult EvaluateFrames(const std::string& name, const cv::Mat& source_rgb, const std::vector<cv::Mat>& driver_rgb,
                            const std::vector<int64_t>& driver_pts_ns, bool still, int case_index = 0,
                            const EvalProgress& progress = {});

  const EvaluationOptions& options() const;

 private:
  struct Impl;
  explicit Evaluator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace faceanime::pipeline

#endif  // FACEANIME_PIPELINE_EVALUATION_H_
