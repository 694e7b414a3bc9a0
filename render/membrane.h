// Smooth scattered-data interpolation on the pixel grid: fills unknown pixels
// with a membrane (Laplace) interpolation of the known ones, solved coarse to
// fine (push-pull pyramid for the initial guess, then Gauss-Seidel sweeps on
// the unknown pixels at every level).
#ifndef FACEANIME_RENDER_MEMBRANE_H_
#define FACEANIME_RENDER_MEMBRANE_H_

#include <opencv2/core/mat.hpp>

namespace faceanime::render {

struct MembraneOptions {
  // Gauss-Seidel sweeps at the finest level (default 3), >= 0; each coarser
  // level gets 2s + 2 (at most 32). More sweeps get closer to the exact
  // harmonic solution, at a linear cost.
  int sweeps_per_level = 3;
};

// Fills the pixels of `values` (CV_32FC1..4, modified in place) where
// `known` (CV_8U, same size) is 0. Known pixels are left unchanged. With no
// known pixel at all, `values` becomes 0. Throws std::invalid_argument on
// mismatched sizes or types.
void FillMembrane(const cv::Mat& known, cv::Mat* values, const MembraneOptions& options = {});

}  // namespace faceanime::render

#endif  // FACEANIME_RENDER_MEMBRANE_H_
