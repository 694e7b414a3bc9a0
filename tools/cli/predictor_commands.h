// `faceanime train-predictor` and `faceanime eval-predictor`: training and
// evaluation of the LSTM dynamics predictor (predict/dynamics_predictor.h) on
// GRID clips tracked with the face3d tracker (the same fit as `faceanime fit`,
// cached as JSONL per clip) plus procedural motion.
#ifndef FACEANIME_TOOLS_CLI_PREDICTOR_COMMANDS_H_
#define FACEANIME_TOOLS_CLI_PREDICTOR_COMMANDS_H_

#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

namespace faceanime::cli {

struct PredictorDataArgs {
  std::string grid;   // Folder of GRID clips (*.mpg).
  std::string cache;  // Fit cache; empty: <data dir>/predictor-data/<grid folder name>.
  int clips = 0;      // Use only the first N clips in name order (0: all).
  int threads = 1;    // Network threads for fitting.
  bool quiet = false;
};

struct TrainPredictorArgs {
  PredictorDataArgs data;
  std::string out = "assets/predictor/dynamics_lstm.pt";
  int steps = 3000;
  int batch = 32;
  int hidden = 160;
  int procedural = 200;        // Procedural sequences (10 s each).
  double procedural_share = 0.3;
  double expression_l1 = 8.0;  // PredictorTrainingOptions::expression_l1_weight.
  uint64_t seed = 1;
};

struct EvalPredictorArgs {
  PredictorDataArgs data;
  std::string weights;  // Empty: DefaultPredictorWeights().
  std::string json;     // Optional JSON output.
  int seeds = 8;        // Video-prediction seeds per held-out clip.
  double randomness = 1.0;  // Of the target-driven and video rollouts.
};

CLI::App* AddTrainPredictorCommand(CLI::App& app, TrainPredictorArgs& args);
int RunTrainPredictor(const TrainPredictorArgs& args);
CLI::App* AddEvalPredictorCommand(CLI::App& app, EvalPredictorArgs& args);
int RunEvalPredictor(const EvalPredictorArgs& args);

}  // namespace faceanime::cli

#endif  // FACEANIME_TOOLS_CLI_PREDICTOR_COMMANDS_H_
