#include "tools/cli/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace faceanime::cli {

ProgressBar::ProgressBar(std::string label, int total, bool quiet)
    : label_(std::move(label)), total_(total), enabled_(!quiet && isatty(STDERR_FILENO)), quiet_(quiet) {}

std::string ProgressBar::Format(const std::string& label, int done, int total, double elapsed_s, int width) {
  char buf[256];
  const double fps = elapsed_s > 0 ? done / elapsed_s : 0.0;
  if (total <= 0) {
    std::snprintf(buf, sizeof(buf), "%s %d frames  %.1f fps", label.c_str(), done, fps);
    return buf;
  }
  const double frac = std::min(1.0, static_cast<double>(done) / total);
  std::string bar(static_cast<size_t>(width), ' ');
  const int filled = static_cast<int>(std::lround(frac * width));
  for (int i = 0; i < filled; ++i) bar[static_cast<size_t>(i)] = '#';
  const double eta = fps > 0 ? (total - done) / fps : 0.0;
  std::snprintf(buf, sizeof(buf), "%s [%s] %d/%d  %.1f fps  ETA %d:%02d", label.c_str(), bar.c_str(), done, total,
                fps, static_cast<int>(eta) / 60, static_cast<int>(eta) % 60);
  return buf;
}

void ProgressBar::Update(int done, double elapsed_s) {
  if (!enabled_ || (last_draw_s_ >= 0 && elapsed_s - last_draw_s_ < 0.1)) return;
  last_draw_s_ = elapsed_s;
  std::fprintf(stderr, "\r\033[K%s", Format(label_, done, total_, elapsed_s, 30).c_str());
  std::fflush(stderr);
}

void ProgressBar::Finish(int done, double elapsed_s) {
  if (quiet_) return;
  if (enabled_) std::fprintf(stderr, "\r\033[K");
  const double fps = elapsed_s > 0 ? done / elapsed_s : 0.0;
  std::fprintf(stderr, "%s: %d frames in %.1f s (%.1f fps)\n", label_.c_str(), done, elapsed_s, fps);
}

}  // namespace faceanime::cli
