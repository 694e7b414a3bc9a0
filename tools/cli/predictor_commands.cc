#include "tools/cli/predictor_commands.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "face3d/data_paths.h"
#include "pipeline/face_analyzer.h"
#include "pipeline/fit_record.h"
#include "pipeline/frame_source.h"
#include "predict/dynamics_predictor.h"
#include "predict/predictor_evaluation.h"
#include "predict/predictor_training.h"
#include "tools/cli/progress.h"

namespace faceanime::cli {
namespace {

namespace fs = std::filesystem;

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Shortest run of consecutive faces used (shorter runs are tracker restarts).
constexpr int kMinRunFrames = 20;

struct GridData {
  std::vector<std::string> train_names, held_out_names;
  std::vector<predict::DynamicsSequence> train, held_out;  // Runs of faces.
  int train_frames = 0, held_out_frames = 0;
};

void AddDataOptions(CLI::App* cmd, PredictorDataArgs& args) {
  cmd->add_option("--grid", args.grid, "Folder of GRID clips (*.mpg), e.g. ../shared/data/grid/s1")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--cache", args.cache,
                  "Fit cache (one `faceanime fit` JSONL per clip); default <data dir>/predictor-data/<grid folder>");
  cmd->add_option("--clips", args.clips, "Use only the first N clips in name order (0: all)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--threads", args.threads, "Network threads for fitting uncached clips")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_flag("-q,--quiet", args.quiet, "No progress on stderr");
}

// Tracks every clip with the face3d tracker (as `faceanime fit`), caching
// the JSONL, and splits them into training and held-out runs
// (predict::IsHeldOutClip on the sorted name order).
GridData LoadGrid(const PredictorDataArgs& args, const face3d::MorphableModel*& model_out,
                  std::unique_ptr<pipeline::FaceAnalyzer>& analyzer) {
  std::vector<fs::path> clips;
  for (const auto& e : fs::directory_iterator(args.grid)) {
    if (e.is_regular_file() && e.path().extension() == ".mpg") clips.push_back(e.path());
  }
  std::sort(clips.begin(), clips.end());
  if (clips.empty()) throw std::invalid_argument("--grid '" + args.grid + "' holds no *.mpg clips");
  if (args.clips > 0 && static_cast<int>(clips.size()) > args.clips) clips.resize(args.clips);
  const fs::path cache = args.cache.empty()
                             ? FaceanimeDataDir() / "predictor-data" / fs::absolute(args.grid).filename()
                             : fs::path(args.cache);
  fs::create_directories(cache);

  pipeline::FaceAnalyzerOptions options;
  options.num_threads = args.threads;
  analyzer = pipeline::FaceAnalyzer::Create(options);
  model_out = &analyzer->model();
  const auto& names = analyzer->model().expression_names();

  GridData data;
  ProgressBar progress("grid", static_cast<int>(clips.size()), args.quiet);
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < clips.size(); ++i) {
    const fs::path jsonl = cache / (clips[i].stem().string() + ".jsonl");
    if (!fs::exists(jsonl)) {
      analyzer->Reset();
      auto source = pipeline::FrameSource::Open(clips[i]);
      const fs::path tmp = jsonl.string() + ".tmp";
      std::ofstream out(tmp);
      if (!out) throw std::runtime_error("cannot write '" + tmp.string() + "'");
      while (auto frame = source->Next()) {
        pipeline::FitRecord record;
        record.pts_ns = frame->pts_ns;
        record.frame = frame->index;
        record.face = analyzer->AnalyzeFrame(ViewOf(frame->bgr, PixelFormat::kBgr), frame->pts_ns);
        out << pipeline::ToJsonLine(record, names) << '\n';
      }
      out.close();
      if (!out) throw std::runtime_error("writing '" + tmp.string() + "' failed");
      fs::rename(tmp, jsonl);
    }
    std::vector<std::optional<face3d::FaceParams>> track;
    for (const auto& r : pipeline::ReadFitFile(jsonl, names)) {
      track.push_back(r.face ? std::optional(r.face->params) : std::nullopt);
    }
    const bool held = predict::IsHeldOutClip(static_cast<int>(i));
    (held ? data.held_out_names : data.train_names).push_back(clips[i].stem().string());
    for (auto& run : predict::TrackToDynamicsRuns(track, kMinRunFrames)) {
      (held ? data.held_out_frames : data.train_frames) += static_cast<int>(run.size());
      (held ? data.held_out : data.train).push_back(std::move(run));
    }
    progress.Update(static_cast<int>(i + 1), Seconds(t0));
  }
  progress.Finish(static_cast<int>(clips.size()), Seconds(t0));
  return data;
}

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

}  // namespace

CLI::App* AddTrainPredictorCommand(CLI::App& app, TrainPredictorArgs& args) {
  auto* cmd = app.add_subcommand(
      "train-predictor",
      "Train the LSTM dynamics predictor on tracked GRID clips (every 10th clip held out) + procedural motion");
  AddDataOptions(cmd, args.data);
  cmd->add_option("--out", args.out, "Weights file to write")->capture_default_str();
  cmd->add_option("--steps", args.steps, "Optimiser steps")->capture_default_str()->check(CLI::Range(1, 1000000));
  cmd->add_option("--batch", args.batch, "Windows per step")->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->add_option("--hidden", args.hidden, "LSTM width")->capture_default_str()->check(CLI::Range(8, 4096));
  cmd->add_option("--procedural", args.procedural, "Procedural sequences (10 s each)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--procedural-share", args.procedural_share, "Share of training windows from procedural motion")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--seed", args.seed, "Training seed (same seed and data, same weights)")->capture_default_str();
  return cmd;
}

int RunTrainPredictor(const TrainPredictorArgs& args) {
  const face3d::MorphableModel* model = nullptr;
  std::unique_ptr<pipeline::FaceAnalyzer> analyzer;
  const GridData data = LoadGrid(args.data, model, analyzer);
  std::fprintf(stderr, "grid: %zu training clips (%zu runs, %d frames); held out %zu clips (%d frames): %s\n",
               data.train_names.size(), data.train.size(), data.train_frames, data.held_out_names.size(),
               data.held_out_frames, Join(data.held_out_names).c_str());
  const auto procedural = predict::ProceduralTrainingSet(*model, args.procedural, 250, 1000);
  std::fprintf(stderr, "procedural: %d sequences x 250 frames (seeds 1000..%d), share %.2f of windows\n",
               args.procedural, 1000 + args.procedural - 1, args.procedural_share);
  predict::PredictorTrainingOptions o;
  o.out = args.out;
  o.steps = args.steps;
  o.batch = args.batch;
  o.hidden = args.hidden;
  o.procedural_share = args.procedural_share;
  o.seed = args.seed;
  o.log_every = std::max(1, std::min(100, args.steps / 20));
  const auto t0 = std::chrono::steady_clock::now();
  predict::TrainPredictor(data.train, procedural, *model, o, [&](const predict::PredictorTrainingLog& l) {
    std::fprintf(stderr,
                 "step %5d  loss %8.4f  nll %8.4f  coef %.4f  vertex %.5f cm2  free %.4f  target %.5f cm2  "
                 "smooth %.4f  (%.0f s)\n",
                 l.step, l.loss, l.nll, l.coef, l.vertex, l.free, l.target, l.smooth, Seconds(t0));
  });
  std::fprintf(stderr, "trained %d steps in %.0f s\n", args.steps, Seconds(t0));
  std::printf("%s\n", fs::absolute(args.out).c_str());
  return 0;
}

CLI::App* AddEvalPredictorCommand(CLI::App& app, EvalPredictorArgs& args) {
  auto* cmd = app.add_subcommand(
      "eval-predictor",
      "Evaluate the dynamics predictor on the held-out GRID clips: forecasting vs baselines, target-driven, "
      "video prediction and online figures (Markdown)");
  AddDataOptions(cmd, args.data);
  cmd->add_option("--weights", args.weights, "Weights file (default: the committed ones)");
  cmd->add_option("--json", args.json, "Also write the figures as JSON");
  cmd->add_option("--seeds", args.seeds, "Video-prediction seeds per held-out sequence")
      ->capture_default_str()
      ->check(CLI::Range(2, 1000));
  return cmd;
}

int RunEvalPredictor(const EvalPredictorArgs& args) {
  const face3d::MorphableModel* model = nullptr;
  std::unique_ptr<pipeline::FaceAnalyzer> analyzer;
  const GridData data = LoadGrid(args.data, model, analyzer);
  if (data.held_out.empty()) throw std::invalid_argument("no held-out sequence (use more --clips)");
  const auto predictor = predict::DynamicsPredictor::Load({.weights = args.weights});
  predict::PredictorEvalOptions o;
  o.seeds = args.seeds;
  const auto t0 = std::chrono::steady_clock::now();
  const auto eval = predict::EvaluatePredictor(*predictor, *model, data.held_out, o);
  std::printf("Held-out GRID clips (%zu): %s\n\n", data.held_out_names.size(), Join(data.held_out_names).c_str());
  std::printf("%s", eval.Markdown().c_str());
  if (!args.data.quiet) std::fprintf(stderr, "evaluated in %.0f s\n", Seconds(t0));
  if (!args.json.empty()) {
    std::ofstream out(args.json);
    out << eval.Json();
    if (!out) throw std::runtime_error("cannot write '" + args.json + "'");
  }
  return 0;
}

}  // namespace faceanime::cli
