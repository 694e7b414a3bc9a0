// `faceanime calibrate-trust`: the neural generator's trust threshold
// (pipeline::RetargeterOptions::neural_trust_error), measured for one model
// file and optionally stored in it.
//
// Why per model: the pipeline's self-check renders a portrait unchanged and
// measures the network's error there; a face the network cannot reproduce is
// one it does not know. How well a network reproduces even its own training
// faces differs between models (the committed 128 model: median 0.92 grey
// levels on its training clips; the 256 model: 2.46), so one fixed threshold
// turns one model on where the other stays off. The threshold is the
// `percentile`th percentile (nearest rank) of the self-check errors on
// frame 0 of the model's training clips (the gen-data listing of `grid`,
// without the clips predict::IsHeldOutClip holds out): default 81, the rule
// that gave the 128 model's 1.15.
#ifndef FACEANIME_TOOLS_CLI_CALIBRATE_TRUST_COMMAND_H_
#define FACEANIME_TOOLS_CLI_CALIBRATE_TRUST_COMMAND_H_

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

namespace faceanime::cli {

struct CalibrateTrustArgs {
  std::string model;        // Generator file (pgfg::SaveGenerator's format).
  std::string grid;         // The model's training clips (gen-data --grid).
  double percentile = 81;   // In (0, 100].
  int clips = 0;            // First N clips of the listing (0: all), as gen-data --clips.
  bool write = false;       // Store the threshold in the model file.
  int threads = 1;          // LibTorch threads.
  bool quiet = false;
};

struct TrustCalibration {
  std::vector<std::pair<std::string, double>> errors;  // (clip, self-check error), listing order.
  std::vector<std::string> skipped;                    // Training clips without a face in frame 0.
  double median = 0.0;
  double threshold = 0.0;  // The percentile.
};

CLI::App* AddCalibrateTrustCommand(CLI::App& app, CalibrateTrustArgs& args);

// Measures (no writing). Throws std::invalid_argument for bad arguments or a
// folder without clips, std::runtime_error when no training clip shows a
// face, and the generator's errors for a missing or corrupt model file.
TrustCalibration CalibrateTrust(const CalibrateTrustArgs& args);

// The value at `percentile` (in (0, 100]) of `values` by nearest rank: the
// smallest value with at least that share of `values` at or below it.
// std::invalid_argument when `values` is empty.
double NearestRankPercentile(std::vector<double> values, double percentile);

// Rewrites the generator file `model` with trust_error `value` (> 0 and
// finite), through a temporary file renamed over it: the weights and options
// are unchanged. Throws std::runtime_error naming the file.
void WriteTrustError(const std::filesystem::path& model, double value);

// Prints the table and the threshold; with args.write stores it. Returns 0.
int RunCalibrateTrust(const CalibrateTrustArgs& args);

}  // namespace faceanime::cli

#endif  // FACEANIME_TOOLS_CLI_CALIBRATE_TRUST_COMMAND_H_
