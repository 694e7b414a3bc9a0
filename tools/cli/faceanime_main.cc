// The `faceanime` command line. Each subcommand is a thin layer over the
// libraries; errors go to stderr with a non-zero exit status.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "face3d/data_paths.h"
#include "face3d/face_fitter.h"
#include "face3d/ict_converter.h"
#include "face3d/morphable_model.h"
#include "face3d/video_fitter.h"
#include "pipeline/face_analyzer.h"
#include "pipeline/fit_record.h"
#include "pipeline/frame_source.h"
#include "pipeline/retargeter.h"
#include "predict/expression_control.h"
#include "predict/procedural_motion.h"
#include "tools/cli/bench_command.h"
#include "tools/cli/eval_command.h"
#include "tools/cli/eyelids_command.h"
#include "tools/cli/expression_eval_command.h"
#include "tools/cli/calibrate_trust_command.h"
#include "tools/cli/gen_data_command.h"
#include "tools/cli/generator_args.h"
#include "tools/cli/gst_jobs.h"
#include "tools/cli/predict_command.h"
#include "tools/cli/predictor_commands.h"
#include "tools/cli/progress.h"

namespace {

namespace fs = std::filesystem;
using faceanime::cli::Seconds;
using faceanime::face3d::MorphableModel;

int RunConvertIct(const std::string& input, const std::string& output, const std::string& provenance) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto report = faceanime::face3d::ConvertIctFaceKit({input, output, provenance});
  std::printf("wrote %s: %d vertices, %d triangles, %d UVs, %.1f MiB in %.1f s\n", output.c_str(),
              report.num_vertices, report.num_triangles, report.num_uvs,
              static_cast<double>(report.file_bytes) / (1 << 20), Seconds(t0));
  return 0;
}

int RunModelInfo(const std::string& path) {
  const auto t0 = std::chrono::steady_clock::now();
  const MorphableModel model = MorphableModel::Load(path);
  std::printf("model:       %s (loaded in %.1f ms)\n", model.path().c_str(), Seconds(t0) * 1e3);
  std::printf("provenance:  %s\n", model.provenance().c_str());
  std::printf("vertices:    %d   triangles: %zu   uvs: %zu\n", model.num_vertices(), model.triangles().size(),
              model.uv().size());
  std::printf("identity:    %d PCA shapes   expression: %d shapes\n", faceanime::face3d::kNumIdentityShapes,
              faceanime::face3d::kNumExpressionShapes);
  std::printf("parts:\n");
  for (const auto& p : model.parts()) {
    std::printf("  %-22s vertices [%5d, %5d)  triangles [%5d, %5d)\n", p.name.c_str(), p.vertices.begin,
                p.vertices.end, p.triangles.begin, p.triangles.end);
  }
  std::printf("expressions:");
  for (size_t j = 0; j < model.expression_names().size(); ++j) {
    std::printf("%s%s", j % 6 == 0 ? "\n  " : " ", model.expression_names()[j].c_str());
  }
  std::printf("\naction units:\n");
  for (const auto& au : model.action_units()) {
    std::printf("  %-6s %-26s", au.name.c_str(), au.description.c_str());
    for (int s : au.shapes) std::printf(" %s", model.expression_names()[s].c_str());
    std::printf("\n");
  }
  return 0;
}

struct FitArgs {
  std::string input, output;
  bool quiet = false;
  int threads = 1;
  bool tiny = false;
  bool refine_identity = false;
  int keyframes = 12;
};

// Offline identity refinement of a tracked video (fit --refine-identity): a
// joint fit (FaceFitter::FitFrames, Ceres: one identity, per-frame pose and
// expression) over `keyframes` frames spread evenly over those with a face,
// started from the first pass's fits; then a second tracking pass over the
// first pass's landmarks with that identity held. Returns the refined
// identity's frame count (0 when no frame has a face).
int RefineIdentity(const MorphableModel& model, const faceanime::face3d::VideoFitOptions& options, int keyframes,
                   bool keep_blinks,
                   std::vector<faceanime::pipeline::FitRecord>* records) {
  std::vector<size_t> with_face;
  for (size_t i = 0; i < records->size(); ++i) {
    if ((*records)[i].face.has_value()) with_face.push_back(i);
  }
  if (with_face.empty()) return 0;
  const size_t n = std::min<size_t>(keyframes, with_face.size());
  std::vector<faceanime::face3d::FrameObservation> frames;
  for (size_t k = 0; k < n; ++k) {
    const auto& face = *(*records)[with_face[k * with_face.size() / n]].face;
    frames.push_back({face.landmarks, face.camera, std::nullopt, face.params});
  }
  const auto fitter = faceanime::face3d::FaceFitter::Create(model, options.fit);
  const auto joint = fitter.FitFrames(frames);
  auto tracker = faceanime::face3d::VideoFitter::Create(model, options);
  tracker.HoldIdentity(joint.front().params.identity);
  // The eyelids were measured from the pixels in the first pass (not from
  // the landmarks this pass re-fits): keep them.
  std::vector<int> blinks;
  for (const char* name : {"eyeBlink_L", "eyeBlink_R"}) {
    if (const int j = model.ExpressionIndex(name); j >= 0) blinks.push_back(j);
  }
  for (auto& record : *records) {
    if (!record.face.has_value()) continue;
    const auto fit = tracker.Track(record.face->landmarks, record.face->camera, record.pts_ns);
    const auto first_pass = record.face->params.expression;
    record.face->params = fit.params;
    if (keep_blinks) {
      for (int j : blinks) record.face->params.expression[j] = first_pass[j];
    }
    record.face->rmse_px = fit.rmse_px;
    record.face->confidence = fit.confidence;
  }
  return static_cast<int>(n);
}

int RunFit(const FitArgs& args) {
  auto source = faceanime::pipeline::FrameSource::Open(args.input);
  faceanime::pipeline::FaceAnalyzerOptions options;
  options.num_threads = args.threads;
  options.landmarks.tiny = args.tiny;
  auto analyzer = faceanime::pipeline::FaceAnalyzer::Create(options);
  std::ofstream out(args.output);
  if (!out) throw std::runtime_error("cannot write '" + args.output + "'");
  const auto& names = analyzer->model().expression_names();
  faceanime::cli::ProgressBar progress("fit", source->frame_count(), args.quiet);
  const auto t0 = std::chrono::steady_clock::now();
  int frames = 0, faces = 0;
  if (args.refine_identity && source->is_still()) {
    throw std::runtime_error("--refine-identity needs a video: '" + args.input + "' is a still image");
  }
  std::vector<faceanime::pipeline::FitRecord> held;  // --refine-identity: written after the second pass.
  while (auto frame = source->Next()) {
    const faceanime::ImageView view = faceanime::ViewOf(frame->bgr, faceanime::PixelFormat::kBgr);
    faceanime::pipeline::FitRecord record;
    record.pts_ns = frame->pts_ns;
    record.frame = frame->index;
    record.face = source->is_still() ? analyzer->AnalyzeStill(view) : analyzer->AnalyzeFrame(view, frame->pts_ns);
    faces += record.face.has_value();
    if (args.refine_identity) {
      held.push_back(std::move(record));
    } else {
      out << faceanime::pipeline::ToJsonLine(record, names) << '\n';
    }
    ++frames;
    progress.Update(frames, Seconds(t0));
  }
  if (args.refine_identity) {
    const int keyframes = RefineIdentity(analyzer->model(), options.video_fit, args.keyframes,
                                         options.eyelids_from_pixels, &held);
    if (!args.quiet && keyframes > 0) {
      std::fprintf(stderr, "identity refined jointly over %d keyframes; frames re-tracked with it\n", keyframes);
    }
    for (const auto& record : held) out << faceanime::pipeline::ToJsonLine(record, names) << '\n';
  }
  out.close();
  if (!out) throw std::runtime_error("writing '" + args.output + "' failed");
  progress.Finish(frames, Seconds(t0));
  if (frames == 0) throw std::runtime_error("'" + args.input + "' has no frames");
  if (!args.quiet) std::fprintf(stderr, "faces found in %d of %d frames; wrote %s\n", faces, frames, args.output.c_str());
  return faces > 0 ? 0 : 3;  // 3: ran, but no face anywhere.
}

struct AnimateArgs {
  std::string source, output;
  double seconds = 8.0;
  int fps = 25;
  uint64_t seed = 1;
  int crop = 0;
  int threads = 1;
  bool quiet = false;
  faceanime::cli::GeneratorArgs generator;
};

// The README demo: the portrait driven by procedural motion (blinks, gaze,
// expressions, speech-like mouth motion, head sway); needs no video.
int RunAnimate(const AnimateArgs& args) {
  faceanime::pipeline::RetargeterOptions options;
  options.source_image = args.source;
  options.output_crop = args.crop;
  options.analysis.num_threads = args.threads;
  faceanime::cli::ApplyGeneratorArgs(args.generator, args.threads, options);
  auto retargeter = faceanime::pipeline::Retargeter::Create(options);
  faceanime::predict::ProceduralMotionOptions motion_options;
  motion_options.fps = args.fps;
  motion_options.seed = args.seed;
  const auto motion = faceanime::predict::ProceduralMotion::Create(retargeter->analyzer().model(), motion_options);
  const int frames = static_cast<int>(args.seconds * args.fps + 0.5);
  const auto sequence = motion.Generate(frames);
  cv::Size size = retargeter->output_size();
  size.width &= ~1;  // H.264 in I420 needs even sizes.
  size.height &= ~1;
  auto writer = faceanime::cli::Mp4Writer::Open(args.output, size, args.fps);
  faceanime::cli::ProgressBar progress("animate", frames, args.quiet);
  const auto t0 = std::chrono::steady_clock::now();
  for (int k = 0; k < frames; ++k) {
    // The motion plays on top of the portrait's own expression (relative).
    const cv::Mat rgb = retargeter->Render(faceanime::predict::ApplyDynamics(
        retargeter->source().params, sequence[k], faceanime::predict::ExpressionBlend::kAdd));
    writer->Write(rgb(cv::Rect(0, 0, size.width, size.height)));
    progress.Update(k + 1, Seconds(t0));
  }
  writer->Close();
  progress.Finish(frames, Seconds(t0));
  std::printf("%s\n", fs::absolute(args.output).c_str());
  return 0;
}

struct EditArgs {
  std::string source, output;
  std::string au;          // "AU12=0.8,AU6=0.5"
  std::string expression;  // "happy" or "happy=0.7"
  std::string mode = "replace";
  int frames = 25;
  int crop = 0;
  int threads = 1;
  bool quiet = false;
  faceanime::cli::GeneratorArgs generator;
};

// Edits the portrait's expression with FACS action units or a RaFD preset:
// a still (.png) at full strength, or a 25 fps ramp (.mp4) from the
// portrait's own expression (edit weight 0) to the full edit (weight 1).
int RunEdit(const EditArgs& args, bool frames_given) {
  std::string ext = fs::path(args.output).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext != ".png" && ext != ".mp4") {
    throw std::invalid_argument("--output '" + args.output + "': unsupported extension '" + ext +
                                "'; valid: .png (one still), .mp4 (a ramp over --frames frames)");
  }
  const bool video = ext == ".mp4";
  if (frames_given && !video) throw std::invalid_argument("--frames applies to .mp4 output only");
  // Validate the request before the (slow) source fit; the analyzer uses the
  // default model file, so the AU table is the same.
  const faceanime::predict::ExpressionBlend mode = faceanime::predict::ParseBlendMode(args.mode);
  const auto control = faceanime::predict::ExpressionControl::Create(MorphableModel::Load(MorphableModel::DefaultPath()));
  faceanime::predict::ActionUnitSet aus;
  std::string what;
  if (!args.expression.empty()) {
    const auto preset = faceanime::predict::ParsePreset(args.expression);
    aus = faceanime::predict::PresetActionUnits(preset.preset, preset.strength);
    char strength[32];
    std::snprintf(strength, sizeof(strength), "%g", preset.strength);
    what = std::string(faceanime::predict::ToString(preset.preset)) + " at " + strength;
  } else {
    aus = control.ParseActionUnits(args.au);
    what = args.au;
  }

  faceanime::pipeline::RetargeterOptions options;
  options.source_image = args.source;
  options.output_crop = args.crop;
  options.analysis.num_threads = args.threads;
  faceanime::cli::UseOfflineWarp(&options.warp);
  faceanime::cli::ApplyGeneratorArgs(args.generator, args.threads, options);
  auto retargeter = faceanime::pipeline::Retargeter::Create(options);
  const faceanime::face3d::FaceParams& base = retargeter->source().params;
  if (!video) {
    const cv::Mat rgb = retargeter->Render(control.Apply(base, aus, mode));
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    if (!cv::imwrite(args.output, bgr)) throw std::runtime_error("cannot write '" + args.output + "'");
  } else {
    constexpr int kFps = 25;
    cv::Size size = retargeter->output_size();
    size.width &= ~1;  // H.264 in I420 needs even sizes.
    size.height &= ~1;
    auto writer = faceanime::cli::Mp4Writer::Open(args.output, size, kFps);
    faceanime::cli::ProgressBar progress("edit", args.frames, args.quiet);
    const auto t0 = std::chrono::steady_clock::now();
    for (int k = 0; k < args.frames; ++k) {
      const double weight = faceanime::predict::RampWeight(k, args.frames, 1.0);
      const cv::Mat rgb = retargeter->Render(control.Apply(base, aus, mode, weight));
      writer->Write(rgb(cv::Rect(0, 0, size.width, size.height)));
      progress.Update(k + 1, Seconds(t0));
    }
    writer->Close();
    progress.Finish(args.frames, Seconds(t0));
  }
  if (!args.quiet) std::fprintf(stderr, "edited (%s, mode %s)\n", what.c_str(), args.mode.c_str());
  std::printf("%s\n", fs::absolute(args.output).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "faceanime: bring a still portrait to life by 3D face retargeting.\n"
      "Models live in $FACEANIME_DATA (default ~/.cache/faceanime); tools/setup installs them."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("faceanime 0.1.0"));

  // fit
  FitArgs fit;
  auto* fit_cmd = app.add_subcommand(
      "fit", "Fit the 3D face model to an image or every frame of a video; write JSON lines (one per frame)");
  fit_cmd->add_option("--input", fit.input, "Image or video file")->required();
  fit_cmd->add_option("--output", fit.output, "Output .jsonl file (keys: pts, frame, box, landmarks68, pose, "
                                              "camera, identity, expression, confidence, rmse_px)")
      ->required();
  fit_cmd->add_option("--threads", fit.threads, "Network threads (1 is fastest on a busy 2-core machine)")->capture_default_str()->check(CLI::Range(1, 64));
  fit_cmd->add_flag("--tiny", fit.tiny, "Use the tiny landmark network (faster, less precise)");
  fit_cmd->add_flag("--refine-identity", fit.refine_identity,
                    "Video only, offline: after tracking, refine the identity by a joint fit over --keyframes "
                    "frames (Ceres) and re-track every frame with it held");
  fit_cmd->add_option("--keyframes", fit.keyframes, "Frames in the joint identity fit of --refine-identity")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  fit_cmd->add_flag("-q,--quiet", fit.quiet, "No progress or summary on stderr");

  // eyelids
  faceanime::cli::EyelidsArgs eyelids;
  auto* eyelids_cmd = faceanime::cli::AddEyelidsCommand(app, eyelids);

  // animate
  AnimateArgs animate;
  auto* animate_cmd = app.add_subcommand(
      "animate", "Animate a portrait with procedural motion (blinks, gaze, expressions, talking, head sway)");
  animate_cmd->add_option("--source", animate.source, "Portrait image (one roughly frontal face)")
      ->required()
      ->check(CLI::ExistingFile);
  animate_cmd->add_option("--output", animate.output, "Output video (.mp4: H.264; .mkv)")->required();
  animate_cmd->add_option("--seconds", animate.seconds, "Duration")->capture_default_str()->check(CLI::Range(0.1, 600.0));
  animate_cmd->add_option("--fps", animate.fps, "Frame rate")->capture_default_str()->check(CLI::Range(1, 120));
  animate_cmd->add_option("--seed", animate.seed, "Motion seed (same seed, same motion)")->capture_default_str();
  animate_cmd->add_option("--crop", animate.crop, "Output an NxN crop around the face (0: full image)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  animate_cmd->add_option("--threads", animate.threads, "Network threads (1 is fastest on a busy 2-core machine)")->capture_default_str();
  animate_cmd->add_flag("-q,--quiet", animate.quiet, "No progress on stderr");
  faceanime::cli::AddGeneratorOptions(animate_cmd, animate.generator);

  // edit
  EditArgs edit;
  auto* edit_cmd = app.add_subcommand(
      "edit", "Change a portrait's expression with FACS action units or a preset (still PNG, or an MP4 ramp)");
  edit_cmd->add_option("--source", edit.source, "Portrait image (one roughly frontal face)")
      ->required()
      ->check(CLI::ExistingFile);
  auto* edit_au = edit_cmd->add_option(
      "--au", edit.au, "Action units with intensities in [0, 1], e.g. AU12=0.8,AU6=0.5 (AU12L/AU12R: one side)");
  auto* edit_expression = edit_cmd->add_option(
      "--expression", edit.expression,
      "Preset [=strength in [0, 1]]: angry, contemptuous, disgusted, fearful, happy, neutral, sad, surprised");
  edit_au->excludes(edit_expression);
  edit_expression->excludes(edit_au);
  edit_cmd->add_option("--mode", edit.mode, "replace: the portrait's own expression is removed (down to its rest "
                                            "state: what our fit reads on a neutral face) and it shows exactly this; "
                                            "add: on top of the portrait's own (clamped to [0, 1])")
      ->check(CLI::IsMember({"replace", "add"}))
      ->capture_default_str();
  edit_cmd->add_option("--output", edit.output, "Output .png (one still) or .mp4 (a ramp at 25 fps)")->required();
  auto* edit_frames = edit_cmd->add_option("--frames", edit.frames, "MP4 ramp length in frames (the portrait to the full edit)")
                          ->capture_default_str()
                          ->check(CLI::Range(1, 100000));
  edit_cmd->add_option("--crop", edit.crop, "Output an NxN crop around the face (0: full image)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  edit_cmd->add_option("--threads", edit.threads, "Network threads (1 is fastest on a busy 2-core machine)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  edit_cmd->add_flag("-q,--quiet", edit.quiet, "No progress on stderr");
  faceanime::cli::AddGeneratorOptions(edit_cmd, edit.generator);

  // retarget
  faceanime::cli::RetargetJob job;
  std::string motion_mode = "relative";
  bool no_audio = false, no_pose = false, no_expression = false, no_gaze = false;
  auto* retarget_cmd = app.add_subcommand(
      "retarget", "Drive a portrait with the face in a video or camera; record H.264/AAC MP4 (or MKV)");
  retarget_cmd->add_option("--source", job.source, "Portrait image")->required()->check(CLI::ExistingFile);
  retarget_cmd->add_option("--driving", job.driving, "Driving video file, or /dev/videoN (stop with Ctrl-C)")
      ->required();
  retarget_cmd->add_option("--output", job.output, "Output .mp4 or .mkv")->required();
  retarget_cmd->add_flag("--no-audio", no_audio, "Do not copy the driver's audio");
  retarget_cmd->add_option("--motion", motion_mode, "relative: the driver's change applied to the portrait's face; "
                                                    "absolute: the driver's rotation and expression copied")
      ->check(CLI::IsMember({"relative", "absolute"}))
      ->capture_default_str();
  retarget_cmd->add_flag("--no-pose", no_pose, "Keep the portrait's head pose");
  retarget_cmd->add_flag("--no-expression", no_expression, "Keep the portrait's expression");
  retarget_cmd->add_flag("--no-gaze", no_gaze, "Keep the portrait's gaze");
  retarget_cmd->add_option("--expression-gain", job.motion.expression_gain, "Scale the driver's expression change")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3.0));
  faceanime::cli::AddGeneratorOptions(retarget_cmd, job.generator);
  retarget_cmd->add_option("--crop", job.crop_size, "Output an NxN crop around the face (0: full portrait)")
      ->capture_default_str();
  retarget_cmd->add_option("--threads", job.threads, "Network threads (1 is fastest on a busy 2-core machine)")->capture_default_str();
  retarget_cmd->add_flag("-q,--quiet", job.quiet, "No progress on stderr");
  bool dry_run = false;
  retarget_cmd->add_flag("--dry-run", dry_run,
                         "Print the gst-launch-1.0 command that does the same (every element property that differs "
                         "from its default) and exit without running it");

  // eval, bench
  faceanime::cli::EvalArgs eval;
  auto* eval_cmd = faceanime::cli::AddEvalCommand(app, eval);
  faceanime::cli::ExpressionEvalArgs eval_expression;
  auto* eval_expression_cmd = faceanime::cli::AddExpressionEvalCommand(app, eval_expression);
  faceanime::cli::BenchArgs bench;
  auto* bench_cmd = faceanime::cli::AddBenchCommand(app, bench);
  faceanime::cli::GenDataArgs gen_data;
  auto* gen_data_cmd = faceanime::cli::AddGenDataCommand(app, gen_data);
  faceanime::cli::PackCacheArgs pack_cache;
  auto* pack_cache_cmd = faceanime::cli::AddPackCacheCommand(app, pack_cache);
  faceanime::cli::CalibrateTrustArgs calibrate_trust;
  auto* calibrate_trust_cmd = faceanime::cli::AddCalibrateTrustCommand(app, calibrate_trust);
  faceanime::cli::PredictArgs predict;
  auto* predict_cmd = faceanime::cli::AddPredictCommand(app, predict);
  faceanime::cli::TrainPredictorArgs train_predictor;
  auto* train_predictor_cmd = faceanime::cli::AddTrainPredictorCommand(app, train_predictor);
  faceanime::cli::EvalPredictorArgs eval_predictor;
  auto* eval_predictor_cmd = faceanime::cli::AddEvalPredictorCommand(app, eval_predictor);

  // convert-ict, model-info
  std::string ict_input, ict_output = MorphableModel::DefaultPath().string(), provenance;
  auto* convert = app.add_subcommand("convert-ict",
                                     "Convert ICT-FaceKit's FaceXModel folder into faceanime's runtime model file");
  convert->add_option("--input", ict_input, "ICT-FaceKit FaceXModel folder (or its offline mirror)")
      ->required()
      ->check(CLI::ExistingDirectory);
  convert->add_option("--output", ict_output, "Model file to write")->capture_default_str();
  convert->add_option("--provenance", provenance, "Free text stored in the file (source, upstream commit)");
  std::string model_path = MorphableModel::DefaultPath().string();
  auto* info = app.add_subcommand("model-info", "Print what a runtime model file holds, and its load time");
  info->add_option("--model", model_path, "Model file")->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  try {
    if (*fit_cmd) return RunFit(fit);
    if (*eyelids_cmd) return faceanime::cli::RunEyelids(eyelids);
    if (*animate_cmd) return RunAnimate(animate);
    if (*edit_cmd) {
      if (edit.au.empty() && edit.expression.empty()) {
        throw std::invalid_argument("edit needs --au (e.g. AU12=0.8,AU6=0.5) or --expression (e.g. happy=0.7)");
      }
      return RunEdit(edit, edit_frames->count() > 0);
    }
    if (*retarget_cmd) {
      job.audio = !no_audio;
      job.motion.mode = motion_mode == "absolute" ? faceanime::pipeline::MotionMode::kAbsolute
                                                  : faceanime::pipeline::MotionMode::kRelative;
      job.motion.transfer_pose = !no_pose;
      job.motion.transfer_expression = !no_expression;
      job.motion.transfer_gaze = !no_gaze;
      if (dry_run) {
        std::printf("%s\n", faceanime::cli::RetargetCommandLine(job).c_str());
        return 0;
      }
      const auto report = faceanime::cli::RunRetarget(job);
      std::printf("%s\n", fs::absolute(job.output).c_str());
      if (!job.quiet) {
        std::fprintf(stderr, "%d frames%s\n", report.frames, report.audio_muxed ? ", audio copied" : "");
      }
      return 0;
    }
    if (*eval_cmd) return faceanime::cli::RunEval(eval);
    if (*eval_expression_cmd) return faceanime::cli::RunExpressionEval(eval_expression);
    if (*bench_cmd) return faceanime::cli::RunBench(bench);
    if (*gen_data_cmd) return faceanime::cli::RunGenData(gen_data);
    if (*pack_cache_cmd) return faceanime::cli::RunPackCache(pack_cache);
    if (*calibrate_trust_cmd) return faceanime::cli::RunCalibrateTrust(calibrate_trust);
    if (*predict_cmd) return faceanime::cli::RunPredict(predict);
    if (*train_predictor_cmd) return faceanime::cli::RunTrainPredictor(train_predictor);
    if (*eval_predictor_cmd) return faceanime::cli::RunEvalPredictor(eval_predictor);
    if (*convert) return RunConvertIct(ict_input, ict_output, provenance);
    if (*info) return RunModelInfo(model_path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "faceanime: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
