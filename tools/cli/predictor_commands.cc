#include "tools/cli/predictor_commands.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <opencv2/imgproc.hpp>

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

// Shortest run of consecutive faces used (shorter runs are tracker restarts).
constexpr int kMinRunFrames = 20;

struct GridData {
  std::vector<std::string> train_names, held_out_names;
  std::vector<fs::path> held_out_clips, held_out_fits;  // Videos and their fit JSONL.
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
    if (held) {
      data.held_out_clips.push_back(clips[i]);
      data.held_out_fits.push_back(jsonl);
    }
    for (auto& run : predict::TrackToDynamicsRuns(track, kMinRunFrames)) {
      (held ? data.held_out_frames : data.train_frames) += static_cast<int>(run.size());
      (held ? data.held_out : data.train).push_back(std::move(run));
    }
    progress.Update(static_cast<int>(i + 1), Seconds(t0));
  }
  progress.Finish(static_cast<int>(clips.size()), Seconds(t0));
  return data;
}

// Eye darkness of one eye in a gray frame: the mean, over the box between
// the eye's corners (height 0.6 x the eye's width, centred on its six
// landmarks), of how much darker than the surrounding skin each pixel is
// ((skin - gray) / skin, clamped to [0, 1]; skin = the 80th percentile of a
// box twice as large). An open eye shows iris, pupil and lashes; a closed
// one, lid skin.
double EyeDarkness(const cv::Mat& gray, const face3d::Landmarks68& l, int first) {
  Eigen::Vector2d c = Eigen::Vector2d::Zero();
  for (int i = 0; i < 6; ++i) c += l[first + i] / 6.0;
  const double w = (l[first + 3] - l[first]).norm();
  if (!(w > 3)) return -1;
  auto box = [&](double half_w, double half_h) {
    const cv::Rect r(static_cast<int>(std::floor(c.x() - half_w)), static_cast<int>(std::floor(c.y() - half_h)),
                     static_cast<int>(std::ceil(2 * half_w)), static_cast<int>(std::ceil(2 * half_h)));
    return r & cv::Rect(0, 0, gray.cols, gray.rows);
  };
  const cv::Rect eye = box(0.5 * w, 0.3 * w), around = box(1.0 * w, 0.6 * w);
  if (eye.area() < 4 || around.area() < 16) return -1;
  std::vector<uint8_t> v;
  for (int y = around.y; y < around.y + around.height; ++y) {
    for (int x = around.x; x < around.x + around.width; ++x) v.push_back(gray.at<uint8_t>(y, x));
  }
  std::nth_element(v.begin(), v.begin() + v.size() * 8 / 10, v.end());
  const double skin = std::max<double>(1, v[v.size() * 8 / 10]);
  double sum = 0;
  for (int y = eye.y; y < eye.y + eye.height; ++y) {
    for (int x = eye.x; x < eye.x + eye.width; ++x) sum += std::clamp((skin - gray.at<uint8_t>(y, x)) / skin, 0.0, 1.0);
  }
  return sum / eye.area();
}

// Blinks in real GRID video, measured from the pixels (the tracker's
// eyeBlink weights and the landmarks' eye aspect ratio never resolve them in
// GRID's 360x288 frames): per frame, the mean EyeDarkness of both eyes at the
// tracked landmarks, divided by the clip's median. An eye closure is a dip
// below `dip` lasting at most 12 frames (longer: a lost eye or a long look
// down), over when the signal recovers above 0.85. Checked by eye on crops of
// bbaf2n and bgin3a: the dips are lid closures (blinks, and lids lowered in
// downward glances, which this does not tell apart).
struct EyeSignals {
  std::vector<std::vector<double>> clips;  // Per clip, per frame; < 0: no face.
  int frames = 0;                          // Frames with a face.

  int CountClosures(double dip) const {
    constexpr double kRecover = 0.85;
    constexpr int kMaxFrames = 12;
    int n = 0;
    for (const auto& s : clips) {
      for (size_t k = 0; k < s.size();) {
        if (s[k] < 0 || s[k] >= dip) {
          ++k;
          continue;
        }
        size_t e = k;
        while (e < s.size() && s[e] >= 0 && s[e] < kRecover) ++e;
        if (e - k <= static_cast<size_t>(kMaxFrames)) ++n;
        k = e;
      }
    }
    return n;
  }
};

EyeSignals MeasureEyeSignals(const std::vector<fs::path>& clips, const std::vector<fs::path>& fits,
                             const std::vector<std::string>& names) {
  EyeSignals r;
  for (size_t i = 0; i < clips.size(); ++i) {
    const auto records = pipeline::ReadFitFile(fits[i], names);
    auto source = pipeline::FrameSource::Open(clips[i]);
    std::vector<double> s;
    cv::Mat gray;
    while (auto frame = source->Next()) {
      const size_t k = s.size();
      double d = -1;
      if (k < records.size() && records[k].face) {
        cv::cvtColor(frame->bgr, gray, cv::COLOR_BGR2GRAY);
        const double a = EyeDarkness(gray, records[k].face->landmarks, 36);
        const double b = EyeDarkness(gray, records[k].face->landmarks, 42);
        if (a >= 0 && b >= 0) d = 0.5 * (a + b);
      }
      s.push_back(d);
    }
    std::vector<double> valid;
    for (double d : s) {
      if (d >= 0) valid.push_back(d);
    }
    if (valid.size() < 10) continue;
    std::nth_element(valid.begin(), valid.begin() + valid.size() / 2, valid.end());
    const double median = std::max(1e-6, valid[valid.size() / 2]);
    for (double& d : s) {
      if (d >= 0) d /= median;
    }
    r.frames += static_cast<int>(valid.size());
    r.clips.push_back(std::move(s));
  }
  return r;
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
  cmd->add_option("--expression-l1", args.expression_l1,
                  "Weight of the L1 term on the expected step's expression weights (larger: towards the "
                  "conditional median)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 100.0));
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
  o.expression_l1_weight = args.expression_l1;
  o.seed = args.seed;
  o.log_every = std::max(1, std::min(100, args.steps / 20));
  const auto t0 = std::chrono::steady_clock::now();
  const auto log = [&](const predict::PredictorTrainingLog& l) {
    std::fprintf(stderr,
                 "step %5d  loss %8.4f  nll %8.4f  coef %.4f  vertex %.5f cm2  free %.4f  target %.5f cm2  "
                 "smooth %.4f  still %.4f  (%.0f s)\n",
                 l.step, l.loss, l.nll, l.coef, l.vertex, l.free, l.target, l.smooth, l.still, Seconds(t0));
  };
  const predict::SamplingCalibration c = predict::TrainPredictor(data.train, procedural, *model, o, log);
  const std::vector<double>& t = c.temperature;
  std::vector<double> expr(t.begin() + 6, t.end());
  std::sort(expr.begin(), expr.end());
  std::fprintf(stderr,
               "trained %d steps in %.0f s; sampling temperatures: rotation %.3g %.3g %.3g, translation %.3g %.3g "
               "%.3g, expression min %.3g median %.3g max %.3g, jawOpen %.3g; noise correlation: rotation %.2g %.2g "
               "%.2g, translation %.2g %.2g %.2g, jawOpen %.2g, %d of 53 expression channels correlated\n",
               args.steps, Seconds(t0), t[0], t[1], t[2], t[3], t[4], t[5], expr.front(), expr[expr.size() / 2],
               expr.back(), t[6 + model->ExpressionIndex("jawOpen")], c.noise_correlation[0], c.noise_correlation[1],
               c.noise_correlation[2], c.noise_correlation[3], c.noise_correlation[4], c.noise_correlation[5],
               c.noise_correlation[6 + model->ExpressionIndex("jawOpen")],
               static_cast<int>(std::count_if(c.noise_correlation.begin() + 6, c.noise_correlation.end(),
                                              [](double r) { return r > 0; })));
  std::printf("%s\n", fs::absolute(args.out).c_str());
  return 0;
}

CLI::App* AddEvalPredictorCommand(CLI::App& app, EvalPredictorArgs& args) {
  auto* cmd = app.add_subcommand(
      "eval-predictor",
      "Evaluate the dynamics predictor on the held-out GRID clips: forecasting vs baselines, target-driven, "
      "video prediction, online and blink-rate figures (real blinks measured from the clips' eye pixels; Markdown)");
  AddDataOptions(cmd, args.data);
  cmd->add_option("--weights", args.weights, "Weights file (default: the committed ones)");
  cmd->add_option("--json", args.json, "Also write the figures as JSON");
  cmd->add_option("--seeds", args.seeds, "Video-prediction seeds per held-out sequence")
      ->capture_default_str()
      ->check(CLI::Range(2, 1000));
  cmd->add_option("--randomness", args.randomness,
                  "Randomness of the target-driven and video-prediction rollouts (RolloutRequest::randomness)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 2.0));
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
  o.randomness = args.randomness;
  const auto t0 = std::chrono::steady_clock::now();
  auto eval = predict::EvaluatePredictor(*predictor, *model, data.held_out, o);
  // Blink rates: the real clips' from the eye pixels (MeasureEyeSignals)
  // next to the tracked and the predicted eyeBlink weights'.
  const EyeSignals eyes = MeasureEyeSignals(data.held_out_clips, data.held_out_fits, model->expression_names());
  const double minutes = eyes.frames / predictor->fps() / 60.0;
  for (double dip : {0.6, 0.7}) {
    char name[96];
    std::snprintf(name, sizeof(name), "real GRID, eye pixels (closures, dip < %.1f x median)", dip);
    eval.blinks.push_back({name, {{"blinks_per_min", minutes > 0 ? eyes.CountClosures(dip) / minutes : 0.0}}});
  }
  eval.blinks.push_back(
      {"real GRID, tracked eyeBlink >= 0.5", {{"blinks_per_min", eval.video[1].values.at("blinks_per_min")}}});
  eval.blinks.push_back(
      {"lstm video prediction, eyeBlink >= 0.5", {{"blinks_per_min", eval.video[0].values.at("blinks_per_min")}}});
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
