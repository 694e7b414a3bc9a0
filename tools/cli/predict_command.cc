#include "tools/cli/predict_command.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "pipeline/prediction.h"
#include "predict/expression_control.h"
#include "tools/cli/gst_jobs.h"
#include "tools/cli/progress.h"

namespace faceanime::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPredictHelp =
    "The portrait's face is animated by the learned 3D dynamics predictor (an LSTM over head pose and the 53\n"
    "ICT expression weights, predict/dynamics_predictor.h), then rendered by the 3D-guided warp.\n"
    "Targets (at most one; none: free motion from the portrait's face, the seed picks it):\n"
    "  --target IMG       the photo's expression (replacing the portrait's) and its head rotation relative to\n"
    "                     the portrait's (--no-target-pose: expression only); its translation is not used\n"
    "  --expression NAME  a preset [=strength], applied to the portrait per --mode\n"
    "  --au LIST          FACS action units, applied to the portrait per --mode\n"
    "The target is reached at --target-time of the duration; the face holds it afterwards. The model runs at\n"
    "its training rate (25 fps); other --fps values interpolate between its frames.";

}  // namespace

CLI::App* AddPredictCommand(CLI::App& app, PredictArgs& args) {
  auto* cmd = app.add_subcommand(
      "predict", "Animate a portrait with the learned motion predictor, optionally towards a target face, "
                 "expression or action units; write MP4");
  cmd->footer(kPredictHelp);
  cmd->add_option("--source", args.source, "Portrait image (one roughly frontal face)")
      ->required()
      ->check(CLI::ExistingFile);
  auto* target = cmd->add_option("--target", args.target, "Target face photo: reach its expression (and head turn)")
                     ->check(CLI::ExistingFile);
  auto* expression = cmd->add_option(
      "--expression", args.expression,
      "Target preset [=strength in [0, 1]]: angry, contemptuous, disgusted, fearful, happy, neutral, sad, surprised");
  auto* au = cmd->add_option("--au", args.au,
                             "Target action units with intensities in [0, 1], e.g. AU12=0.8,AU6=0.5 (AU12L/AU12R: "
                             "one side)");
  target->excludes(expression)->excludes(au);
  expression->excludes(target)->excludes(au);
  au->excludes(target)->excludes(expression);
  cmd->add_option("--mode", args.mode, "--expression/--au: replace: the target expression is exactly this over the "
                                       "portrait's rest state (what our fit reads on a neutral face); add: on top of "
                                       "the portrait's own (clamped to [0, 1])")
      ->check(CLI::IsMember({"replace", "add"}))
      ->capture_default_str();
  cmd->add_flag("--no-target-pose", args.no_target_pose, "--target: take its expression only, keep the head still");
  cmd->add_option("--seconds", args.seconds, "Duration")->capture_default_str()->check(CLI::Range(0.1, 600.0));
  cmd->add_option("--target-time", args.target_time, "When the target is reached, as a fraction of the duration")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 1.0));
  cmd->add_option("--fps", args.fps, "Output frame rate")->capture_default_str()->check(CLI::Range(1, 120));
  cmd->add_option("--seed", args.seed, "Motion seed (same seed and inputs, same video)")->capture_default_str();
  cmd->add_option("--output", args.output, "Output video (.mp4: H.264; .mkv)")->required();
  cmd->add_option("--weights", args.weights, "Predictor weights file (default: $FACEANIME_PREDICTOR, else "
                                             "the committed weights from the data directory or assets/predictor/)");
  cmd->add_option("--crop", args.crop, "Output an NxN crop around the face (0: full image)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  cmd->add_option("--threads", args.threads, "Network threads (1 is fastest on a busy 2-core machine)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_flag("-q,--quiet", args.quiet, "No progress or summary on stderr");
  AddGeneratorOptions(cmd, args.generator);
  return cmd;
}

int RunPredict(const PredictArgs& args) {
  pipeline::PredictionOptions options;
  options.retargeter.source_image = args.source;
  options.retargeter.output_crop = args.crop;
  options.retargeter.analysis.num_threads = args.threads;
  ApplyGeneratorArgs(args.generator, args.threads, options.retargeter);
  options.target.image = args.target;
  options.target.expression = args.expression;
  options.target.au = args.au;
  options.mode = predict::ParseBlendMode(args.mode);
  options.target_pose = !args.no_target_pose;
  options.seconds = args.seconds;
  options.target_time = args.target_time;
  options.seed = args.seed;
  options.weights = args.weights;
  const auto t_setup = std::chrono::steady_clock::now();
  const auto prediction = pipeline::Prediction::Create(options);
  const double setup_s = Seconds(t_setup);

  cv::Size size = prediction->output_size();
  size.width &= ~1;  // H.264 in I420 needs even sizes.
  size.height &= ~1;
  const int frames = prediction->NumFrames(args.fps);
  auto writer = Mp4Writer::Open(args.output, size, args.fps);
  ProgressBar progress("predict", frames, args.quiet);
  const auto t0 = std::chrono::steady_clock::now();
  for (int k = 0; k < frames; ++k) {
    const cv::Mat rgb = prediction->RenderAt(pipeline::FrameTimeNs(k, args.fps));
    writer->Write(rgb(cv::Rect(0, 0, size.width, size.height)));
    progress.Update(k + 1, Seconds(t0));
  }
  writer->Close();
  progress.Finish(frames, Seconds(t0));
  if (!args.quiet) {
    std::string what = "no target (free motion)";
    if (!args.target.empty()) what = "target image " + args.target;
    if (!args.expression.empty()) what = "expression " + args.expression;
    if (!args.au.empty()) what = "action units " + args.au;
    std::fprintf(stderr, "%d frames at %d fps, %s", frames, args.fps, what.c_str());
    if (const auto t = prediction->target_frame()) {
      std::fprintf(stderr, ", reached at %.2f s", *t / prediction->model_fps());
    }
    std::fprintf(stderr, "; set-up (fits, weights, rollout) %.1f s, seed %llu\n", setup_s,
                 static_cast<unsigned long long>(args.seed));
  }
  std::printf("%s\n", fs::absolute(args.output).c_str());
  return 0;
}

}  // namespace faceanime::cli
