// `faceanime predict`: a still portrait animated by the learned dynamics
// predictor (pipeline/prediction.h), optionally towards a target (a face
// photo, an expression preset or FACS action units); writes H.264 MP4.
#ifndef FACEANIME_TOOLS_CLI_PREDICT_COMMAND_H_
#define FACEANIME_TOOLS_CLI_PREDICT_COMMAND_H_

#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

#include "tools/cli/generator_args.h"

namespace faceanime::cli {

struct PredictArgs {
  std::string source, output;
  std::string target;      // Target face photo.
  std::string expression;  // "happy" or "happy=0.7".
  std::string au;          // "AU12=0.8,AU6=0.5".
  std::string mode = "replace";
  bool no_target_pose = false;
  double seconds = 4.0;
  double target_time = 0.65;
  int fps = 25;
  uint64_t seed = 1;
  std::string weights;
  int crop = 0;
  int threads = 1;
  bool quiet = false;
  GeneratorArgs generator;
};

CLI::App* AddPredictCommand(CLI::App& app, PredictArgs& args);
int RunPredict(const PredictArgs& args);

}  // namespace faceanime::cli

#endif  // FACEANIME_TOOLS_CLI_PREDICT_COMMAND_H_
