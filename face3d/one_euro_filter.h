// One-Euro filter (Casiez, Roussel & Vogel, CHI 2012): a first-order low-pass
// filter whose cutoff frequency rises with the signal's speed, so a still
// signal is smoothed strongly and a moving one follows with little lag.
//
// Time comes in as an argument (nanoseconds, any monotonic clock; the filter
// never reads a clock). Each component of the vector is filtered on its own
// (its own speed and cutoff), as MediaPipe does for landmarks.
#ifndef FACEANIME_FACE3D_ONE_EURO_FILTER_H_
#define FACEANIME_FACE3D_ONE_EURO_FILTER_H_

#include <cstdint>
#include <optional>

#include <Eigen/Core>

namespace faceanime::face3d {

struct OneEuroFilterOptions {
  // Cutoff frequency at zero speed, Hz. Lower: less jitter, more lag when
  // slow. > 0; default 0.5 Hz (with beta below: 1 px of white landmark noise
  // at 30 fps leaves about 0.2 px RMS frame-to-frame motion, and a 20 px step
  // is followed to within 1 px in 4 frames).
  double min_cutoff = 0.5;
  // Cutoff increase per unit of speed: cutoff = min_cutoff + beta * |dx/dt|,
  // in Hz per (signal unit / second); for image landmarks 1 / pixel. Higher:
  // less lag when moving. >= 0; default 0.03 (per pixel: a 100 px/s motion
  // adds 3 Hz).
  double beta = 0.03;
  // Cutoff frequency of the low-pass filter on the speed estimate, Hz. > 0;
  // default 1.0 Hz (the paper's value).
  double d_cutoff = 1.0;
};

class OneEuroFilter {
 public:
  // Validates `options` (std::invalid_argument naming the field).
  static OneEuroFilter Create(const OneEuroFilterOptions& options = {});

  // Filters one sample taken at `timestamp_ns`. The first sample after
  // construction or Reset() passes through unchanged and fixes the dimension
  // (a later sample of another size throws std::invalid_argument). Timestamps
  // may be irregular; a timestamp not after the previous one is ignored (the
  // previous output is returned and the state is unchanged).
  Eigen::VectorXd Filter(const Eigen::VectorXd& value, int64_t timestamp_ns);

  // Forgets the state: the next sample passes through.
  void Reset();

  bool initialized() const { return last_timestamp_ns_.has_value(); }
  const OneEuroFilterOptions& options() const { return options_; }

 private:
  explicit OneEuroFilter(const OneEuroFilterOptions& options) : options_(options) {}

  OneEuroFilterOptions options_;
  std::optional<int64_t> last_timestamp_ns_;
  Eigen::VectorXd x_hat_;   // Filtered value.
  Eigen::VectorXd dx_hat_;  // Filtered speed, units per second.
};

}  // namespace faceanime::face3d

#endif  // FACEANIME_FACE3D_ONE_EURO_FILTER_H_
