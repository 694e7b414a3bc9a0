// `faceanime eyelids`: per-frame eyelid closure of a video from the eye
// pixels (face3d::EyelidMeter) next to the landmark fit's eyeBlink, as a
// tab-separated table, with an optional contact sheet of every frame's eyes.
#ifndef FACEANIME_TOOLS_CLI_EYELIDS_COMMAND_H_
#define FACEANIME_TOOLS_CLI_EYELIDS_COMMAND_H_

#include <string>

#include <CLI/CLI.hpp>

namespace faceanime::cli {

struct EyelidsArgs {
  std::string input;   // Video file.
  std::string output;  // .tsv; empty: stdout.
  std::string sheet;   // Contact sheet PNG; empty: none.
  int threads = 1;
};

CLI::App* AddEyelidsCommand(CLI::App& app, EyelidsArgs& args);

// Writes the table: frame, fit_blink_R, fit_blink_L, closure_R, closure_L,
// match_R, match_L, gaze_down_R, gaze_down_L ("-": no face or no reading).
// Eye R is landmarks 36-41 (the subject's right, image left). Throws
// std::runtime_error naming the file for a still image, an unreadable
// video or an unwritable output. Returns 0.
int RunEyelids(const EyelidsArgs& args);

}  // namespace faceanime::cli

#endif  // FACEANIME_TOOLS_CLI_EYELIDS_COMMAND_H_
