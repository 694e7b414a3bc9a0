#include "tools/cli/calibrate_trust_command.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <system_error>

#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "gen/pgfg/networks.h"
#include "pipeline/evaluation.h"
#include "pipeline/frame_source.h"
#include "pipeline/retargeter.h"
#include "predict/predictor_training.h"
#include "tools/cli/progress.h"

namespace faceanime::cli {

namespace fs = std::filesystem;

CLI::App* AddCalibrateTrustCommand(CLI::App& app, CalibrateTrustArgs& args) {
  auto* cmd = app.add_subcommand(
      "calibrate-trust",
      "Measure a neural generator's trust threshold (--neural-trust-error) on its training clips; --write "
      "stores it in the model file");
  cmd->footer(
      "The pipeline's self-check renders the portrait unchanged through the network and measures its error\n"
      "there (grey levels, mean over the mouth region); the network's weight is full up to the threshold and\n"
      "0 from twice it. Each model reproduces even its own training faces to a different error, so the\n"
      "threshold is measured per model: the --percentile (nearest rank) of the errors on frame 0 of the\n"
      "model's training clips (the `gen-data --grid` listing without the held-out clips, predict::\n"
      "IsHeldOutClip). With --write it is stored in the file (entry pgfg_trust_error), and the pipeline's\n"
      "default --neural-trust-error -1 uses it. The committed models: 1.15 (pgfg_128.pt, no entry: the\n"
      "default for files without one), 2.77 (pgfg_256.pt).");
  cmd->add_option("--model", args.model, "Generator file (pgfg_train's RUN/checkpoint/generator.pt)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--grid", args.grid, "The model's training clips (the folder given to gen-data --grid)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--percentile", args.percentile, "Percentile of the training clips' errors")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 100.0));
  cmd->add_option("--clips", args.clips, "First N clips of the listing (0: all), as gen-data --clips")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--write", args.write, "Store the threshold in the model file (rewritten in place)");
  cmd->add_option("--threads", args.threads, "LibTorch threads")->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_flag("-q,--quiet", args.quiet, "No progress on stderr");
  return cmd;
}

double NearestRankPercentile(std::vector<double> values, double percentile) {
  if (values.empty()) throw std::invalid_argument("NearestRankPercentile: no values");
  if (!(percentile > 0.0 && percentile <= 100.0)) {
    throw std::invalid_argument("NearestRankPercentile: percentile must be in (0, 100]");
  }
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<size_t>(std::ceil(percentile / 100.0 * static_cast<double>(values.size())));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

TrustCalibration CalibrateTrust(const CalibrateTrustArgs& args) {
  if (!(args.percentile > 0.0 && args.percentile <= 100.0)) {
    throw std::invalid_argument("calibrate-trust: --percentile must be in (0, 100]");
  }
  if (args.clips < 0) throw std::invalid_argument("calibrate-trust: --clips must be >= 0");
  const auto clips = pipeline::FindEvalCases(pipeline::EvalSuite::kSelf, args.grid);
  const size_t n = args.clips > 0 ? std::min<size_t>(args.clips, clips.size()) : clips.size();
  TrustCalibration out;
  ProgressBar progress("calibrate-trust", static_cast<int>(n), args.quiet);
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < n; ++i) {
    progress.Update(static_cast<int>(i), Seconds(t0));
    if (predict::IsHeldOutClip(static_cast<int>(i))) continue;
    auto source = pipeline::FrameSource::Open(clips[i].source);
    const auto frame = source->Next();
    if (!frame) {
      out.skipped.push_back(clips[i].name);
      continue;
    }
    pipeline::RetargeterOptions options;
    cv::cvtColor(frame->bgr, options.source_rgb, cv::COLOR_BGR2RGB);
    options.generator = "neural";
    options.neural_model = args.model;
    options.neural_threads = args.threads;
    options.neural_region = "mouth";    // The region the self-check belongs to.
    options.neural_trust_error = 1.0;   // Any value > 0: the self-check runs.
    options.on_warning = [](const std::string&) {};
    std::unique_ptr<pipeline::Retargeter> retargeter;
    try {
      retargeter = pipeline::Retargeter::Create(options);
    } catch (const pipeline::SourceError&) {
      out.skipped.push_back(clips[i].name);  // No face in frame 0 (as gen-data skips it).
      continue;
    }
    if (retargeter->generator() != "neural") {
      throw std::runtime_error("calibrate-trust: the neural generator '" + args.model + "' could not be used");
    }
    out.errors.emplace_back(clips[i].name, retargeter->neural_self_check_error());
  }
  progress.Finish(static_cast<int>(n), Seconds(t0));
  if (out.errors.empty()) {
    throw std::runtime_error("calibrate-trust: no training clip under '" + args.grid +
                             "' shows a face in frame 0 (is it the folder the model was trained on?)");
  }
  std::vector<double> values;
  for (const auto& e : out.errors) values.push_back(e.second);
  out.median = NearestRankPercentile(values, 50.0);
  out.threshold = NearestRankPercentile(values, args.percentile);
  return out;
}

void WriteTrustError(const fs::path& model, double value) {
  if (!(value > 0.0 && std::isfinite(value))) {
    throw std::invalid_argument("WriteTrustError: the threshold must be finite and > 0");
  }
  gen::pgfg::PgfgGenerator generator = gen::pgfg::LoadGenerator(model);
  generator->trust_error = value;
  const fs::path tmp = model.string() + ".tmp";
  gen::pgfg::SaveGenerator(generator, tmp);
  std::error_code ec;
  fs::rename(tmp, model, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw std::runtime_error("cannot replace generator file '" + model.string() + "' (is it writable?)");
  }
}

int RunCalibrateTrust(const CalibrateTrustArgs& args) {
  torch::set_num_threads(args.threads);
  const TrustCalibration c = CalibrateTrust(args);
  std::printf("| clip | self-check error (grey levels) |\n|---|---:|\n");
  for (const auto& [name, error] : c.errors) std::printf("| %s | %.3f |\n", name.c_str(), error);
  std::printf("\n%zu training clips (%zu without a face in frame 0, skipped): median %.3f, %.4g%% percentile %.3f\n",
              c.errors.size(), c.skipped.size(), c.median, args.percentile, c.threshold);
  if (args.write) {
    WriteTrustError(args.model, c.threshold);
    std::printf("stored trust_error %.3f in %s (--neural-trust-error -1, the default, uses it)\n", c.threshold,
                args.model.c_str());
  } else {
    std::printf("not stored (--write stores it in %s)\n", args.model.c_str());
  }
  return 0;
}

}  // namespace faceanime::cli
