// `faceanime eval SUITE --data DIR`: the quality suites of
// pipeline/evaluation.h (self, cross, pairs) with their baselines. Prints a
// Markdown table on stdout, a progress bar on stderr; writes JSON and, with
// --sheets, one contact sheet PNG per case (source / driver / outputs).
#ifndef FACEANIME_TOOLS_CLI_EVAL_COMMAND_H_
#define FACEANIME_TOOLS_CLI_EVAL_COMMAND_H_

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "pipeline/evaluation.h"
#include "tools/cli/generator_args.h"

namespace faceanime::cli {

struct EvalArgs {
  std::string suite;         // self, cross, pairs.
  std::string data;          // Data folder.
  std::string out;           // Output folder (JSON, sheets); empty: none unless --sheets.
  std::string json;          // JSON path (default: OUT/eval_SUITE.json when --out is given).
  int clips = 0;             // Cases (0: all).
  int every = 1;             // Every N-th case of the sorted list.
  int frames = 0;            // Driver frames per case (0: all).
  int source_frame = 0;      // self: the clip's frame used as the source.
  int source_search = 25;    // Later frames tried when it shows no face (0: none).
  bool sheets = false;
  bool per_frame = false;    // Per-frame values in the JSON.
  // Network threads. Default 1: the evaluator runs several analyzers one
  // after another, and OpenMP teams spin badly on a busy 2-core machine.
  int threads = 1;
  std::string eyelids = "pixels";  // --eyelids pixels|landmarks.
  bool quiet = false;
  GeneratorArgs generator;  // The generator under evaluation.
  // Only the cases held out from training (HeldOutCases): the evaluation a
  // trained predictor or neural generator must be judged on.
  bool heldout = false;
  // Only the cases with these names (e.g. "swav1a"), in listing order; empty:
  // no filter.
  std::vector<std::string> clip_names;
};

// The held-out cases of a suite's full sorted listing (pipeline::FindEvalCases
// with no limit): case i where predict::IsHeldOutClip(i) (0, 10, 20, ...), the
// rule `faceanime gen-data` and `train-predictor` split by; at most
// `max_cases` of them (0: all).
std::vector<pipeline::EvalCase> HeldOutCases(const std::vector<pipeline::EvalCase>& all, int max_cases);

// The cases of `all` whose name is one of `names`, in the order of `all`.
// Throws std::invalid_argument naming the first name that matches no case.
std::vector<pipeline::EvalCase> NamedCases(const std::vector<pipeline::EvalCase>& all,
                                           const std::vector<std::string>& names);

CLI::App* AddEvalCommand(CLI::App& app, EvalArgs& args);
int RunEval(const EvalArgs& args);

}  // namespace faceanime::cli

#endif  // FACEANIME_TOOLS_CLI_EVAL_COMMAND_H_
