#include "face3d/one_euro_filter.h"

#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

namespace faceanime::face3d {
namespace {

// Smoothing factor of an exponential filter with cutoff `cutoff_hz` sampled
// every `dt_s` seconds: alpha = 1 / (1 + tau / dt), tau = 1 / (2 pi fc).
double Alpha(double cutoff_hz, double dt_s) {
  const double tau = 1.0 / (2.0 * std::numbers::pi * cutoff_hz);
  return 1.0 / (1.0 + tau / dt_s);
}

}  // namespace

OneEuroFilter OneEuroFilter::Create(const OneEuroFilterOptions& options) {
  if (!(options.min_cutoff > 0.0) || !std::isfinite(options.min_cutoff)) {
    throw std::invalid_argument("OneEuroFilterOptions: min_cutoff must be > 0 Hz");
  }
  if (!(options.beta >= 0.0) || !std::isfinite(options.beta)) {
    throw std::invalid_argument("OneEuroFilterOptions: beta must be >= 0");
  }
  if (!(options.d_cutoff > 0.0) || !std::isfinite(options.d_cutoff)) {
    throw std::invalid_argument("OneEuroFilterOptions: d_cutoff must be > 0 Hz");
  }
  return OneEuroFilter(options);
}

void OneEuroFilter::Reset() {
  last_timestamp_ns_.reset();
  x_hat_.resize(0);
  dx_hat_.resize(0);
}

Eigen::VectorXd OneEuroFilter::Filter(const Eigen::VectorXd& value, int64_t timestamp_ns) {
  if (!last_timestamp_ns_) {
    x_hat_ = value;
    dx_hat_ = Eigen::VectorXd::Zero(value.size());
    last_timestamp_ns_ = timestamp_ns;
    return x_hat_;
  }
  if (value.size() != x_hat_.size()) {
    throw std::invalid_argument("OneEuroFilter: sample has " + std::to_string(value.size()) +
                                " components, the filter was started with " +
                                std::to_string(x_hat_.size()));
  }
  if (timestamp_ns <= *last_timestamp_ns_) return x_hat_;
  const double dt = static_cast<double>(timestamp_ns - *last_timestamp_ns_) * 1e-9;
  last_timestamp_ns_ = timestamp_ns;

  const double alpha_d = Alpha(options_.d_cutoff, dt);
  for (Eigen::Index i = 0; i < value.size(); ++i) {
    const double dx = (value[i] - x_hat_[i]) / dt;
    dx_hat_[i] += alpha_d * (dx - dx_hat_[i]);
    const double cutoff = options_.min_cutoff + options_.beta * std::abs(dx_hat_[i]);
    x_hat_[i] += Alpha(cutoff, dt) * (value[i] - x_hat_[i]);
  }
  return x_hat_;
}

}  // namespace faceanime::face3d
