#include "tools/cli/eval_command.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "pipeline/evaluation.h"
#include "pipeline/frame_source.h"
#include "predict/predictor_training.h"
#include "tools/cli/progress.h"

namespace faceanime::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kEvalHelp =
    "Evaluate retargeting quality against baselines.\n"
    "Suites (--data layout):\n"
    "  self   video clips (*.mpg, *.mp4, ...): each clip's frame --source-frame (default 0) is driven by\n"
    "         the clip itself; ground truth = every frame. When that frame shows no face (e.g. grey frames\n"
    "         before a clip's first key frame), the first of the next --source-search frames that does is\n"
    "         the source; the frames before it are left out (reported per case as source_frame)\n"
    "  cross  >= 2 clips of different people: clip i's first frame driven by clip i+1 (no ground truth)\n"
    "  pairs  neutral/NNN_03.jpg (source) + smiling/NNN_08.jpg (driver = ground truth), same person\n"
    "Methods: faceanime; baselines (self, pairs) 'source' = the source frame unchanged, 'similarity' =\n"
    "the source warped by the 2D similarity from its 68 landmarks to the driver's\n"
    "(estimateAffinePartial2D + warpAffine).\n"
    "Metrics (means over frames, then over cases; landmarks/fits by a separate measurement analyzer\n"
    "without landmark smoothing):\n"
    "  l1/psnr/ssim_face   on the ground-truth frame's landmark box grown 10% per side\n"
    "  l1/psnr/ssim_mouth  on its mouth box (landmarks 48-67) grown 25% per side\n"
    "     L1 = mean |a-b| (grey levels); PSNR = 10 log10(255^2/MSE), capped at 100 dB;\n"
    "     SSIM = Wang et al. on luma, 11x11 Gaussian window, sigma 1.5\n"
    "  akd_px    mean landmark distance output vs ground truth (cross: vs driver) after similarity alignment\n"
    "  aed       mean |expression weight difference| of the output's fit vs the driver's fit (53 shapes)\n"
    "  identity_distance  Euclidean distance of 128-D face embeddings, output vs source (< 0.6: same person)\n"
    "  identity_distance_gt  (self, pairs) the same, output vs the ground-truth frame: identity with\n"
    "            expression and pose held equal (the real frames' own distance to the source is printed)\n"
    "  jitter_px landmark acceleration RMS on the output, px/frame^2\n"
    "  fps       that method's output frames per second (faceanime: incl. driver analysis)\n"
    "  output_face_rate  share of output frames with a measured face\n"
    "--heldout: only the cases held out from training (case i of the whole sorted listing with\n"
    "i % 10 == 0: the split of gen-data and train-predictor); --clips then limits those.";

}  // namespace

std::vector<pipeline::EvalCase> HeldOutCases(const std::vector<pipeline::EvalCase>& all, int max_cases) {
  std::vector<pipeline::EvalCase> out;
  for (size_t i = 0; i < all.size(); ++i) {
    if (max_cases > 0 && static_cast<int>(out.size()) >= max_cases) break;
    if (predict::IsHeldOutClip(static_cast<int>(i))) out.push_back(all[i]);
  }
  return out;
}

std::vector<pipeline::EvalCase> NamedCases(const std::vector<pipeline::EvalCase>& all,
                                           const std::vector<std::string>& names) {
  for (const auto& name : names) {
    if (std::none_of(all.begin(), all.end(), [&](const pipeline::EvalCase& c) { return c.name == name; })) {
      throw std::invalid_argument("eval: no case named '" + name + "' in the data folder");
    }
  }
  std::vector<pipeline::EvalCase> out;
  for (const auto& c : all) {
    if (std::find(names.begin(), names.end(), c.name) != names.end()) out.push_back(c);
  }
  return out;
}

CLI::App* AddEvalCommand(CLI::App& app, EvalArgs& args) {
  auto* cmd = app.add_subcommand(
      "eval", "Evaluate retargeting quality (suites self, cross, pairs) against baselines; Markdown + JSON");
  cmd->footer(kEvalHelp);
  cmd->add_option("suite", args.suite, "self, cross or pairs")
      ->required()
      ->check(CLI::IsMember({"self", "cross", "pairs"}));
  cmd->add_option("--data", args.data, "The suite's data folder (layouts above)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--out", args.out, "Output folder for the JSON (eval_SUITE.json) and --sheets");
  cmd->add_option("--json", args.json, "JSON file (default: OUT/eval_SUITE.json with --out, else none)");
  cmd->add_option("--clips", args.clips, "Cases to evaluate, in file-name order (0: all)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  auto* every = cmd->add_option("--every", args.every,
                  "Evaluate every N-th case of the file-name order (cases 0, N, 2N, ...; then --clips applies)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--frames", args.frames, "Driver frames per case (0: all)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  cmd->add_option("--source-frame", args.source_frame, "self/cross: the clip frame used as the source portrait")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  cmd->add_option("--source-search", args.source_search,
                  "self/cross: when the source frame shows no face (e.g. grey frames before a clip's first key "
                  "frame), use the first of the next N frames that does (reported as source_frame; self leaves "
                  "the skipped frames out of the ground truth); 0: skip such a case")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  cmd->add_flag("--sheets", args.sheets,
                "Write a contact sheet PNG per case (source / driver / outputs at the middle frame) to OUT "
                "(default OUT: faceanime-eval)");
  cmd->add_flag("--per-frame", args.per_frame,
                "Also write every frame's values to the JSON (per case and method: mouth/face SSIM, mouth L1, "
                "AKD, the measured mouth's shift and inner-lip-gap error vs the ground truth, ID dist; for faceanime "
                "also the rendered state's model inner-lip gap)");
  cmd->add_option("--threads", args.threads, "Worker threads for the networks")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_option("--eyelids", args.eyelids,
                  "pixels: tracked eyeBlink from the eye pixels (FaceAnalyzerOptions::eyelids_from_pixels); "
                  "landmarks: from the landmark fit alone (as before 2026-11-22). For the system and the "
                  "measurement alike")
      ->check(CLI::IsMember({"pixels", "landmarks"}))
      ->capture_default_str();
  cmd->add_flag("-q,--quiet", args.quiet, "No progress on stderr");
  cmd->add_flag("--heldout", args.heldout,
                "Only the cases held out from training (sorted index 0, 10, 20, ...: gen-data's and "
                "train-predictor's split); judge trained models on these")
      ->excludes(every);
  cmd->add_option("--clip", args.clip_names,
                  "Only the case(s) with this name (e.g. swav1a for swav1a.mpg; repeatable), from the whole "
                  "listing")
      ->excludes(every)
      ->excludes("--heldout")
      ->excludes("--clips");
  AddGeneratorOptions(cmd, args.generator);
  return cmd;
}

int RunEval(const EvalArgs& args) {
  const pipeline::EvalSuite suite = pipeline::ParseEvalSuite(args.suite);
  const auto cases = !args.clip_names.empty() ? NamedCases(pipeline::FindEvalCases(suite, args.data), args.clip_names)
                     : args.heldout         ? HeldOutCases(pipeline::FindEvalCases(suite, args.data), args.clips)
                                            : pipeline::FindEvalCases(suite, args.data, args.clips, args.every);
  fs::path out_dir = args.out;
  if (args.sheets && out_dir.empty()) out_dir = "faceanime-eval";
  if (!out_dir.empty()) fs::create_directories(out_dir);
  fs::path json_path = args.json;
  if (json_path.empty() && !args.out.empty()) json_path = out_dir / ("eval_" + args.suite + ".json");

  pipeline::EvaluationOptions options;
  options.suite = suite;
  options.max_frames = args.frames;
  options.source_frame = args.source_frame;
  options.source_search_frames = args.source_search;
  options.retarget.analysis.num_threads = args.threads;
  ApplyGeneratorArgs(args.generator, args.threads, options.retarget);
  options.measure.num_threads = args.threads;
  options.retarget.analysis.eyelids_from_pixels = options.measure.eyelids_from_pixels = args.eyelids == "pixels";
  options.recognizer.num_threads = args.threads;
  options.contact_sheets = args.sheets;
  options.per_frame = args.per_frame;
  auto evaluator = pipeline::Evaluator::Create(options);

  // Frames to expect, for the progress bar.
  int total = 0;
  std::vector<int> offsets;
  for (const auto& c : cases) {
    offsets.push_back(total);
    const auto src = pipeline::FrameSource::Open(c.driver);
    int n = src->is_still() ? 1 : src->frame_count();
    if (args.frames > 0 && (n <= 0 || n > args.frames)) n = args.frames;
    total += std::max(n, 0);
  }
  ProgressBar progress("eval " + args.suite, total, args.quiet);
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  int done = 0;

  pipeline::SuiteResult result;
  result.suite = suite;
  result.data_dir = args.data;
  result.methods = pipeline::EvalMethods(suite);
  for (size_t i = 0; i < cases.size(); ++i) {
    pipeline::CaseResult r;
    try {
      r = evaluator->Evaluate(cases[i], static_cast<int>(i), [&](int, int) { progress.Update(++done, elapsed()); });
    } catch (const pipeline::SourceError& e) {
      // One unusable source (no face in that frame) must not end the suite.
      result.skipped.emplace_back(cases[i].name, e.what());
      if (!args.quiet) std::fprintf(stderr, "\nfaceanime eval: skipping %s: %s\n", cases[i].name.c_str(), e.what());
      continue;
    }
    if (args.sheets && !r.sheet.empty()) {
      std::string file = r.name;
      for (char& ch : file) {
        if (ch == '/' || ch == '>' || ch == ' ') ch = '_';
      }
      const fs::path sheet = out_dir / (args.suite + "_" + file + ".png");
      cv::Mat bgr;
      cv::cvtColor(r.sheet, bgr, cv::COLOR_RGB2BGR);
      if (!cv::imwrite(sheet.string(), bgr)) {
        throw std::runtime_error("cannot write '" + sheet.string() + "': check the folder is writable");
      }
      r.sheet.release();
    }
    result.cases.push_back(std::move(r));
  }
  progress.Finish(done, elapsed());
  result.aggregate = pipeline::AggregateCases(result.cases, result.methods);

  std::printf("%s", pipeline::SuiteResultToMarkdown(result).c_str());
  if (!json_path.empty()) {
    std::ofstream f(json_path);
    f << pipeline::SuiteResultToJson(result) << '\n';
    if (!f) throw std::runtime_error("cannot write '" + json_path.string() + "': check the folder is writable");
    if (!args.quiet) std::fprintf(stderr, "wrote %s\n", json_path.string().c_str());
  }
  return 0;
}

}  // namespace faceanime::cli
