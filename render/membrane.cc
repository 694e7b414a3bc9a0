#include "render/membrane.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <deque>
#include <vector>

#include <opencv2/core.hpp>

namespace faceanime::render {
namespace {

// One Gauss-Seidel sweep over the free pixels (w == 0): each becomes the mean
// of its 4-neighbours inside the image.
template <int C>
void RelaxSweep(cv::Mat& v, const cv::Mat& w) {
  const int rows = v.rows, cols = v.cols;
  for (int y = 0; y < rows; ++y) {
    float* vr = v.ptr<float>(y);
    const float* up = y > 0 ? v.ptr<float>(y - 1) : nullptr;
    const float* down = y + 1 < rows ? v.ptr<float>(y + 1) : nullptr;
    const float* wr = w.ptr<float>(y);
    for (int x = 0; x < cols; ++x) {
      if (wr[x] > 0.f) continue;
      if (up && down && x > 0 && x + 1 < cols) {
        for (int c = 0; c < C; ++c) {
          vr[x * C + c] = 0.25f * (vr[(x - 1) * C + c] + vr[(x + 1) * C + c] + up[x * C + c] + down[x * C + c]);
        }
        continue;
      }
      float sum[C] = {};
      int count = 0;
      auto add = [&](const float* p) {
        for (int c = 0; c < C; ++c) sum[c] += p[c];
        ++count;
      };
      if (x > 0) add(vr + (x - 1) * C);
      if (x + 1 < cols) add(vr + (x + 1) * C);
      if (up) add(up + x * C);
      if (down) add(down + x * C);
      if (count == 0) continue;
      for (int c = 0; c < C; ++c) vr[x * C + c] = sum[c] / count;
    }
  }
}

// Per-thread pyramid storage (values, weights per coarser level), reused
// between calls: no allocation per frame once grown. A deque: growing it
// keeps references to the finer levels valid.
struct Pyramid {
  std::deque<cv::Mat> values, weights;
};

// Per-column bilinear taps of the pull (upsampling from the coarser level).
struct Taps {
  std::vector<int> i0, i1;
  std::vector<float> a;
};

// One level: `v` (C channels) and weights `w` in [0, 1]; pixels with w == 0
// are free, the others are (partly) fixed. `level`: depth below the finest.
template <int C>
void SolveLevel(cv::Mat& v, const cv::Mat& w, int sweeps, Pyramid& pyramid, size_t level) {
  const int rows = v.rows, cols = v.cols;
  bool any_free = false;
  for (int y = 0; y < rows && !any_free; ++y) {
    const float* wr = w.ptr<float>(y);
    for (int x = 0; x < cols; ++x) {
      if (wr[x] < 1.f) {
        any_free = true;
        break;
      }
    }
  }
  if (!any_free) return;
  if (rows > 1 || cols > 1) {
    // Push: weighted 2x2 averages.
    const int crow = (rows + 1) / 2, ccol = (cols + 1) / 2;
    if (pyramid.values.size() <= level) {
      pyramid.values.resize(level + 1);
      pyramid.weights.resize(level + 1);
    }
    cv::Mat& cvals = pyramid.values[level];
    cv::Mat& cw = pyramid.weights[level];
    cvals.create(crow, ccol, v.type());
    cvals.setTo(cv::Scalar::all(0));
    cw.create(crow, ccol, CV_32F);
    cw.setTo(cv::Scalar::all(0));
    for (int y = 0; y < rows; ++y) {
      const float* vr = v.ptr<float>(y);
      const float* wr = w.ptr<float>(y);
      float* cvr = cvals.ptr<float>(y / 2);
      float* cwr = cw.ptr<float>(y / 2);
      for (int x = 0; x < cols; ++x) {
        const float wt = wr[x];
        if (wt <= 0.f) continue;
        cwr[x / 2] += wt;
        for (int c = 0; c < C; ++c) cvr[(x / 2) * C + c] += wt * vr[x * C + c];
      }
    }
    for (int y = 0; y < crow; ++y) {
      float* cvr = cvals.ptr<float>(y);
      float* cwr = cw.ptr<float>(y);
      for (int x = 0; x < ccol; ++x) {
        if (cwr[x] > 0.f) {
          for (int c = 0; c < C; ++c) cvr[x * C + c] /= cwr[x];
          cwr[x] = std::min(1.f, cwr[x]);
        }
      }
    }
    // Coarser levels are cheap: relax them more (cascadic multigrid).
    SolveLevel<C>(cvals, cw, std::min(2 * sweeps + 2, 32), pyramid, level + 1);
    // Pull: blend the bilinear upsampling into the free part of each pixel.
    // The column taps are the same on every row.
    thread_local Taps taps;
    taps.i0.resize(cols);
    taps.i1.resize(cols);
    taps.a.resize(cols);
    for (int x = 0; x < cols; ++x) {
      const float fx = std::clamp(0.5f * x - 0.25f, 0.f, static_cast<float>(ccol - 1));
      const int x0 = static_cast<int>(fx);
      taps.i0[x] = x0 * C;
      taps.i1[x] = std::min(x0 + 1, ccol - 1) * C;
      taps.a[x] = fx - x0;
    }
    for (int y = 0; y < rows; ++y) {
      float* vr = v.ptr<float>(y);
      const float* wr = w.ptr<float>(y);
      const float fy = std::clamp(0.5f * y - 0.25f, 0.f, static_cast<float>(crow - 1));
      const int y0 = static_cast<int>(fy), y1 = std::min(y0 + 1, crow - 1);
      const float ay = fy - y0;
      const float* c0 = cvals.ptr<float>(y0);
      const float* c1 = cvals.ptr<float>(y1);
      for (int x = 0; x < cols; ++x) {
        const float wt = wr[x];
        if (wt >= 1.f) continue;
        const int i0 = taps.i0[x], i1 = taps.i1[x];
        const float ax = taps.a[x];
        for (int c = 0; c < C; ++c) {
          const float top = (1 - ax) * c0[i0 + c] + ax * c0[i1 + c];
          const float bottom = (1 - ax) * c1[i0 + c] + ax * c1[i1 + c];
          const float up = (1 - ay) * top + ay * bottom;
          vr[x * C + c] = wt * vr[x * C + c] + (1 - wt) * up;
        }
      }
    }
  }
  // Relax: Gauss-Seidel on the free pixels (discrete Laplace equation).
  for (int s = 0; s < sweeps; ++s) RelaxSweep<C>(v, w);
}

}  // namespace

void FillMembrane(const cv::Mat& known, cv::Mat* values, const MembraneOptions& options) {
  if (values == nullptr || values->depth() != CV_32F || values->channels() > 4) {
    throw std::invalid_argument("FillMembrane: values must be CV_32FC1..4");
  }
  if (known.type() != CV_8U || known.size() != values->size()) {
    throw std::invalid_argument("FillMembrane: known must be CV_8U of the values' size");
  }
  if (options.sweeps_per_level < 0) throw std::invalid_argument("FillMembrane: sweeps_per_level < 0");
  if (values->empty()) return;
  if (cv::countNonZero(known) == 0) {
    values->setTo(cv::Scalar::all(0));
    return;
  }
  thread_local Pyramid pyramid;
  thread_local cv::Mat w;
  // known != 0 -> 1, else 0 (what (known != 0) / 255 gives, without the temporary).
  w.create(known.size(), CV_32F);
  for (int y = 0; y < known.rows; ++y) {
    const uint8_t* k = known.ptr<uint8_t>(y);
    float* wr = w.ptr<float>(y);
    for (int x = 0; x < known.cols; ++x) wr[x] = k[x] != 0 ? 1.f : 0.f;
  }
  switch (values->channels()) {
    case 1: SolveLevel<1>(*values, w, options.sweeps_per_level, pyramid, 0); break;
    case 2: SolveLevel<2>(*values, w, options.sweeps_per_level, pyramid, 0); break;
    case 3: SolveLevel<3>(*values, w, options.sweeps_per_level, pyramid, 0); break;
    default: SolveLevel<4>(*values, w, options.sweeps_per_level, pyramid, 0); break;
  }
}

}  // namespace faceanime::render
