// A one-line progress bar on stderr for file jobs: frames done/total, fps,
// ETA. Draws only when stderr is a terminal and not quiet; the caller passes
// elapsed time (seconds) so the class itself reads no clock.
#ifndef FACEANIME_TOOLS_CLI_PROGRESS_H_
#define FACEANIME_TOOLS_CLI_PROGRESS_H_

#include <chrono>
#include <string>

namespace faceanime::cli {

// Seconds from `t0` to now (steady clock): the elapsed time file jobs pass
// to ProgressBar and print.
inline double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

class ProgressBar {
 public:
  // total <= 0: unknown (no bar, no ETA).
  ProgressBar(std::string label, int total, bool quiet);
  // Redraws at most ~10 times a second of `elapsed_s`.
  void Update(int done, double elapsed_s);
  // Final line (always printed unless quiet, also when not a terminal).
  void Finish(int done, double elapsed_s);

  // The line that Update draws (no escape codes); exposed for tests.
  static std::string Format(const std::string& label, int done, int total, double elapsed_s, int width);

 private:
  std::string label_;
  int total_;
  bool enabled_;
  bool quiet_;
  double last_draw_s_ = -1.0;
};

}  // namespace faceanime::cli

#endif  // FACEANIME_TOOLS_CLI_PROGRESS_H_
