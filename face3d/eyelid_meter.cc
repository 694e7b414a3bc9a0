#include "face3d/eyelid_meter.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace faceanime::face3d {
namespace {

constexpr int kW = EyelidMeter::kPatchWidth;
constexpr int kH = EyelidMeter::kPatchHeight;
constexpr double kCanonicalEyeWidth = EyelidMeter::kCornerX1 - EyelidMeter::kCornerX0;
// Where a closed upper lid's margin ends, as a fraction of the open gap above
// the lower lid (a closed eye's lash line sits just above the lower lid, as
// on GRID's closed eyes; chosen, not measured on the model).
constexpr double kClosedGapFraction = 0.1;
// Height of the upper-lid skin that a closing lid stretches (canonical
// pixels above the open margin, 1/4 of the eye width): above it the fold
// and the brow stay where they are.
constexpr double kLidSkinHeight = 6.0;
// Height of the lash line above the lid margin (canonical pixels): it moves
// with the margin without stretching.
constexpr double kLashHeight = 1.5;
// Reference blends between two re-syntheses (adaptation).
constexpr int kResynthesisInterval = 8;
// Matching window (canonical pixels): between the corners, from 6 px above
// a typical open upper lid to 4 px below the lower one.
constexpr int kMatchCol0 = 9, kMatchCol1 = 32;  // [col0, col1)
constexpr int kMatchRow0 = 3, kMatchRow1 = 21;  // [row0, row1)
// Patches with less luma spread (grey levels, standard deviation over the
// matching window) than this are textureless: no reading.
constexpr double kMinTextureStd = 2.0;

// Eye 0: landmarks 36-41, eye 1: 42-47. Corners (image-left, image-right),
// upper lid (a, b: left to right), lower lid (a, b: left to right).
struct EyeLandmarks {
  int left, right, upper_a, upper_b, lower_a, lower_b;
};
constexpr std::array<EyeLandmarks, 2> kEyes = {{{36, 39, 37, 38, 41, 40}, {42, 45, 43, 44, 47, 46}}};

// Luma (Rec. 601) of pixel (x, y), integer coordinates inside the image.
inline float Luma(const ImageView& im, int x, int y) {
  const uint8_t* p = im.data + static_cast<size_t>(y) * im.stride + static_cast<size_t>(x) * ChannelCount(im.format);
  switch (im.format) {
    case PixelFormat::kGray: return p[0];
    case PixelFormat::kRgb:
    case PixelFormat::kRgba: return 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
    case PixelFormat::kBgr:
    case PixelFormat::kBgra: return 0.114f * p[0] + 0.587f * p[1] + 0.299f * p[2];
  }
  return 0.f;
}

// Bilinear luma at (x, y), which must lie in [0, w - 1] x [0, h - 1].
inline float SampleLuma(const ImageView& im, double x, double y) {
  const int x0 = std::min(static_cast<int>(x), im.width - 2 < 0 ? 0 : im.width - 2);
  const int y0 = std::min(static_cast<int>(y), im.height - 2 < 0 ? 0 : im.height - 2);
  const int x1 = std::min(x0 + 1, im.width - 1), y1 = std::min(y0 + 1, im.height - 1);
  const float fx = static_cast<float>(x - x0), fy = static_cast<float>(y - y0);
  const float a = Luma(im, x0, y0), b = Luma(im, x1, y0), c = Luma(im, x0, y1), d = Luma(im, x1, y1);
  return (a + (b - a) * fx) * (1 - fy) + (c + (d - c) * fx) * fy;
}

// The similarity frame of one eye: canonical (u, v) -> image.
struct EyeFrame {
  Eigen::Vector2d origin;  // Image position of canonical (kCornerX0, kCornerY).
  Eigen::Vector2d du, dv;  // Image step per canonical pixel along u and v.
  Eigen::Vector2d ToImage(double u, double v) const {
    return origin + (u - EyelidMeter::kCornerX0) * du + (v - EyelidMeter::kCornerY) * dv;
  }
  Eigen::Vector2d ToCanonical(const Eigen::Vector2d& p) const {
    const Eigen::Vector2d q = p - origin;
    const double s2 = du.squaredNorm();
    return {EyelidMeter::kCornerX0 + q.dot(du) / s2, EyelidMeter::kCornerY + q.dot(dv) / s2};
  }
};

// Normalised cross-correlation of a (zero-mean, unit-norm) window template
// with the padded patch at shift (dy, dx).
struct Window {
  std::vector<float> values;  // Row-major over the matching window, zero mean, unit norm.
  bool textured = false;
};

Window MakeWindow(const std::vector<float>& patch, int stride, int row0, int col0) {
  Window w;
  const int rows = kMatchRow1 - kMatchRow0, cols = kMatchCol1 - kMatchCol0;
  w.values.resize(static_cast<size_t>(rows) * cols);
  double sum = 0, sum2 = 0;
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < cols; ++j) {
      const float v = patch[static_cast<size_t>(row0 + i) * stride + col0 + j];
      w.values[static_cast<size_t>(i) * cols + j] = v;
      sum += v;
      sum2 += static_cast<double>(v) * v;
    }
  }
  const double n = static_cast<double>(w.values.size());
  const double mean = sum / n;
  const double var = std::max(0.0, sum2 / n - mean * mean);
  w.textured = std::sqrt(var) >= kMinTextureStd;
  const double norm = std::sqrt(var * n);
  for (float& v : w.values) v = static_cast<float>(norm > 0 ? (v - mean) / norm : 0.0);
  return w;
}

// Float accumulation (vectorises; the windows are a few hundred unit-norm
// values, so the rounding error is ~1e-6).
double Dot(const std::vector<float>& a, const std::vector<float>& b) {
  const float* pa = a.data();
  const float* pb = b.data();
  const size_t n = a.size();
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += pa[i] * pb[i];
    s1 += pa[i + 1] * pb[i + 1];
    s2 += pa[i + 2] * pb[i + 2];
    s3 += pa[i + 3] * pb[i + 3];
  }
  for (; i < n; ++i) s0 += pa[i] * pb[i];
  return static_cast<double>((s0 + s1) + (s2 + s3));
}

// Lid row at canonical column x: the curve through the two corners and the
// two lid points (xa, ya), (xb, yb), y = yc + (x - x0)(x1 - x)(p + q x) (a
// cubic through all four, smooth like a lid; piecewise-linear interpolation
// cut the arc's top).
double LidRow(double x, double xa, double ya, double xb, double yb) {
  const double x0 = EyelidMeter::kCornerX0, x1 = EyelidMeter::kCornerX1, yc = EyelidMeter::kCornerY;
  if (x <= x0 || x >= x1) return yc;
  auto g = [&](double t) { return (t - x0) * (x1 - t); };
  const double ga = g(xa), gb = g(xb);
  // (ya - yc) = ga (p + q xa), (yb - yc) = gb (p + q xb).
  if (ga <= 1e-6 || gb <= 1e-6 || std::abs(xb - xa) < 1e-3) {
    const double ra = ga > 1e-6 ? (ya - yc) / ga : 0.0, rb = gb > 1e-6 ? (yb - yc) / gb : 0.0;
    return yc + g(x) * 0.5 * (ra + rb);
  }
  const double ra = (ya - yc) / ga, rb = (yb - yc) / gb;
  const double q = (rb - ra) / (xb - xa), p = ra - q * xa;
  return yc + g(x) * (p + q * x);
}

}  // namespace

EyelidMeter EyelidMeter::Create(const EyelidMeterOptions& o) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("EyelidMeterOptions: " + what); };
  if (o.reference_frames < 1) fail("reference_frames must be >= 1");
  if (o.reference_stride < 1) fail("reference_stride must be >= 1");
  if (!(o.min_eye_width_px > 0)) fail("min_eye_width_px must be > 0");
  if (o.max_shift_px < 0 || o.max_shift_px > 8) fail("max_shift_px must be in [0, 8]");
  if (o.closure_steps < 3) fail("closure_steps must be >= 3");
  if (o.gaze_steps < 1) fail("gaze_steps must be >= 1");
  if (!(o.max_gaze_down >= 0 && o.max_gaze_down <= 1)) fail("max_gaze_down must be in [0, 1]");
  if (!(o.min_match >= -1 && o.min_match <= 1)) fail("min_match must be in [-1, 1]");
  if (!(o.adapt_rate >= 0 && o.adapt_rate < 1)) fail("adapt_rate must be in [0, 1)");
  if (!(o.adapt_max_closure >= 0 && o.adapt_max_closure <= 1)) fail("adapt_max_closure must be in [0, 1]");
  if (!(o.adapt_min_match >= -1 && o.adapt_min_match <= 1)) fail("adapt_min_match must be in [-1, 1]");
  return EyelidMeter(o);
}

void EyelidMeter::Reset() {
  for (Eye& e : eyes_) e = Eye{};
}

void EyelidMeter::Synthesise(Eye& e) const {
  const int steps = options_.closure_steps;
  const int gazes = options_.gaze_steps;
  e.synth.assign(static_cast<size_t>(steps) * gazes, {});
  std::vector<float> out(static_cast<size_t>(kW) * kH);
  const LidPoints& l = e.lids;
  for (int g = 0; g < gazes; ++g) {
    const double down = gazes > 1 ? options_.max_gaze_down * g / (gazes - 1) : 0.0;
    for (int k = 0; k < steps; ++k) {
      const double c = static_cast<double>(k) / (steps - 1);
      for (int x = 0; x < kW; ++x) {
        const double upper = LidRow(x, l[0], l[1], l[2], l[3]);
        const double lower = LidRow(x, l[4], l[5], l[6], l[7]);
        const double gap = lower - upper;
        const double closed = lower - kClosedGapFraction * gap;
        // Looking down, the eyeball turns down by `down` of the gap and the
        // lid margin follows it; a blink then closes from there.
        const double lowered = upper + down * gap;
        const double margin = lowered + c * (closed - lowered);  // The moved lid margin's row.
        const double anchor = std::max(0.0, upper - kLidSkinHeight);
        for (int y = 0; y < kH; ++y) {
          double src = y;
          if (gap > 0.5) {
            if (y < margin && y >= margin - kLashHeight) {
              src = upper - (margin - y);  // The lash line moves with the margin, unstretched.
            } else if (y < margin && y > anchor && margin > anchor + 1e-6) {
              // The lid skin from kLidSkinHeight above the open margin (fixed:
              // the fold and brow above it stay) down to the lash line
              // stretches down to the moved lash line.
              const double top = upper - kLashHeight, moved = margin - kLashHeight;
              src = moved > anchor + 1e-6 ? anchor + (y - anchor) * (top - anchor) / (moved - anchor) : y;
            } else if (y >= margin && y < lower) {
              src = std::max(upper, y - down * gap);  // The eyeball, turned down.
            }
          }
          const int y0 = std::clamp(static_cast<int>(std::floor(src)), 0, kH - 1);
          const int y1 = std::min(y0 + 1, kH - 1);
          const float f = static_cast<float>(src - y0);
          const float a = e.reference[static_cast<size_t>(y0) * kW + x];
          const float b = e.reference[static_cast<size_t>(y1) * kW + x];
          out[static_cast<size_t>(y) * kW + x] = a + (b - a) * f;
        }
      }
      Window w = MakeWindow(out, kW, kMatchRow0, kMatchCol0);
      e.synth[static_cast<size_t>(g) * steps + k] = w.textured ? std::move(w.values) : std::vector<float>{};
    }
  }
}

std::array<std::optional<EyelidReading>, EyelidMeter::kNumEyes> EyelidMeter::Measure(
    const ImageView& image, const Landmarks68& landmarks) {
  std::array<std::optional<EyelidReading>, kNumEyes> out;
  if (image.empty()) return out;
  for (int eye = 0; eye < kNumEyes; ++eye) out[eye] = MeasureEye(image, landmarks, eye);
  return out;
}

std::optional<EyelidReading> EyelidMeter::MeasureEye(const ImageView& image, const Landmarks68& lm, int eye) {
  const EyeLandmarks& ids = kEyes[eye];
  for (int id : {ids.left, ids.right, ids.upper_a, ids.upper_b, ids.lower_a, ids.lower_b}) {
    if (!lm[id].allFinite()) return std::nullopt;
  }
  const Eigen::Vector2d d = lm[ids.right] - lm[ids.left];
  const double width = d.norm();
  if (!(width >= options_.min_eye_width_px)) return std::nullopt;
  EyeFrame frame;
  frame.origin = lm[ids.left];
  frame.du = d / kCanonicalEyeWidth;
  frame.dv = Eigen::Vector2d(-frame.du.y(), frame.du.x());

  // Sample the padded patch (box prefilter when shrinking).
  const int pad = options_.max_shift_px;
  const int pw = kW + 2 * pad, ph = kH + 2 * pad;
  const double scale = frame.du.norm();  // Image pixels per canonical pixel.
  const int sub = std::clamp(static_cast<int>(std::ceil(scale - 1e-9)), 1, 8);
  // Bounds: the patch is a parallelogram; its corners (with the sub-sample
  // spread) must lie inside the image.
  const double half = 0.5;
  for (double u : {-pad - half, kW - 1 + pad + half}) {
    for (double v : {-pad - half, kH - 1 + pad + half}) {
      const Eigen::Vector2d p = frame.ToImage(u, v);
      if (!(p.x() >= 0 && p.y() >= 0 && p.x() <= image.width - 1 && p.y() <= image.height - 1)) {
        return std::nullopt;
      }
    }
  }
  std::vector<float> patch(static_cast<size_t>(pw) * ph);
  for (int i = 0; i < ph; ++i) {
    for (int j = 0; j < pw; ++j) {
      float acc = 0.f;
      for (int a = 0; a < sub; ++a) {
        for (int b = 0; b < sub; ++b) {
          const double u = j - pad + (b + 0.5) / sub - 0.5, v = i - pad + (a + 0.5) / sub - 0.5;
          const Eigen::Vector2d p = frame.ToImage(u, v);
          acc += SampleLuma(image, std::clamp(p.x(), 0.0, image.width - 1.0), std::clamp(p.y(), 0.0, image.height - 1.0));
        }
      }
      patch[static_cast<size_t>(i) * pw + j] = acc / static_cast<float>(sub * sub);
    }
  }
  LidPoints lids;
  {
    int k = 0;
    for (int id : {ids.upper_a, ids.upper_b, ids.lower_a, ids.lower_b}) {
      const Eigen::Vector2d c = frame.ToCanonical(lm[id]);
      lids[k++] = c.x();
      lids[k++] = c.y();
    }
  }

  // Windows of the frame's patch at every shift.
  const int shifts = 2 * pad + 1;
  std::vector<Window> windows;
  windows.reserve(static_cast<size_t>(shifts) * shifts);
  for (int dy = -pad; dy <= pad; ++dy) {
    for (int dx = -pad; dx <= pad; ++dx) {
      windows.push_back(MakeWindow(patch, pw, kMatchRow0 + pad + dy, kMatchCol0 + pad + dx));
    }
  }
  const Window& centre = windows[static_cast<size_t>(pad) * shifts + pad];
  if (!centre.textured) return std::nullopt;

  Eye& e = eyes_[eye];
  if (!e.ready) {
    if (e.seen++ % options_.reference_stride != 0) return std::nullopt;
    // Register to the first reference patch; keep the unpadded patch at the
    // best shift and the lid points moved into the first patch's frame.
    int best_dy = 0, best_dx = 0;
    if (!e.pending.empty()) {
      const Window anchor = MakeWindow(e.pending.front(), kW, kMatchRow0, kMatchCol0);
      double best = -2;
      for (int dy = -pad; dy <= pad; ++dy) {
        for (int dx = -pad; dx <= pad; ++dx) {
          const double s = Dot(anchor.values, windows[static_cast<size_t>(dy + pad) * shifts + dx + pad].values);
          if (s > best) best = s, best_dy = dy, best_dx = dx;
        }
      }
    }
    std::vector<float> kept(static_cast<size_t>(kW) * kH);
    for (int i = 0; i < kH; ++i) {
      for (int j = 0; j < kW; ++j) kept[static_cast<size_t>(i) * kW + j] = patch[static_cast<size_t>(i + pad + best_dy) * pw + j + pad + best_dx];
    }
    for (int k = 0; k < 8; k += 2) lids[k] -= best_dx, lids[k + 1] -= best_dy;
    e.pending.push_back(std::move(kept));
    e.pending_lids.push_back(lids);
    if (static_cast<int>(e.pending.size()) < options_.reference_frames) return std::nullopt;
    // Per-pixel median; mean lid points.
    const size_t n = e.pending.size();
    e.reference.assign(static_cast<size_t>(kW) * kH, 0.f);
    std::vector<float> values(n);
    for (size_t p = 0; p < e.reference.size(); ++p) {
      for (size_t f = 0; f < n; ++f) values[f] = e.pending[f][p];
      std::nth_element(values.begin(), values.begin() + n / 2, values.end());
      e.reference[p] = values[n / 2];
    }
    e.lids.fill(0.0);
    for (const LidPoints& l : e.pending_lids) {
      for (int k = 0; k < 8; ++k) e.lids[k] += l[k] / static_cast<double>(n);
    }
    e.pending.clear();
    e.pending_lids.clear();
    e.ready = true;
    Synthesise(e);
    return std::nullopt;
  }

  // Match every synthesis (gaze, closure) at every shift: per closure, the
  // best over gazes and shifts.
  const int steps = options_.closure_steps;
  std::vector<double> score(steps, -2.0);
  std::vector<int> best_shift(steps, 0), best_gaze(steps, 0);
  for (int g = 0; g < options_.gaze_steps; ++g) {
    for (int k = 0; k < steps; ++k) {
      const std::vector<float>& s = e.synth[static_cast<size_t>(g) * steps + k];
      if (s.empty()) continue;
      for (size_t w = 0; w < windows.size(); ++w) {
        if (!windows[w].textured) continue;
        const double v = Dot(s, windows[w].values);
        if (v > score[k]) score[k] = v, best_shift[k] = static_cast<int>(w), best_gaze[k] = g;
      }
    }
  }
  const int kbest = static_cast<int>(std::max_element(score.begin(), score.end()) - score.begin());
  const double match = score[kbest];
  if (!(match >= options_.min_match)) return std::nullopt;
  double offset = 0.0;
  if (kbest > 0 && kbest < steps - 1) {
    const double a = score[kbest - 1], b = score[kbest], c = score[kbest + 1];
    const double denom = a - 2 * b + c;
    if (denom < -1e-12) offset = std::clamp(0.5 * (a - c) / denom, -0.5, 0.5);
  }
  EyelidReading reading;
  reading.closure = std::clamp((kbest + offset) / (steps - 1), 0.0, 1.0);
  reading.gaze_down =
      options_.gaze_steps > 1 ? options_.max_gaze_down * best_gaze[kbest] / (options_.gaze_steps - 1) : 0.0;
  reading.match = match;

  if (options_.adapt_rate > 0 && reading.closure <= options_.adapt_max_closure && match >= options_.adapt_min_match) {
    const int w = best_shift[kbest];
    const int dy = w / shifts - pad, dx = w % shifts - pad;
    const float r = static_cast<float>(options_.adapt_rate);
    for (int i = 0; i < kH; ++i) {
      for (int j = 0; j < kW; ++j) {
        float& ref = e.reference[static_cast<size_t>(i) * kW + j];
        ref += r * (patch[static_cast<size_t>(i + pad + dy) * pw + j + pad + dx] - ref);
      }
    }
    // The syntheses follow the reference every kResynthesisInterval blends
    // (a blend changes it by adapt_rate; re-synthesising costs about as much
    // as matching).
    if (++e.blends % kResynthesisInterval == 0) Synthesise(e);
  }
  return reading;
}

}  // namespace faceanime::face3d
