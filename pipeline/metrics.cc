#include "pipeline/metrics.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <Eigen/Geometry>
#include <opencv2/imgproc.hpp>

namespace faceanime::metrics {
namespace {

void CheckPair(const cv::Mat& a, const cv::Mat& b) {
  if (a.empty() || a.size() != b.size() || a.type() != b.type() || a.depth() != CV_8U) {
    throw std::invalid_argument("metrics: images must be non-empty 8-bit images of the same size and type");
  }
}

cv::Rect Clip(const cv::Rect& r, cv::Size size) {
  const cv::Rect clipped = r & cv::Rect(0, 0, size.width, size.height);
  if (clipped.area() <= 0) throw std::invalid_argument("metrics: region lies outside the image");
  return clipped;
}

cv::Mat Luma(const cv::Mat& image) {
  cv::Mat f;
  if (image.channels() == 1) {
    image.convertTo(f, CV_64F);
    return f;
  }
  image.convertTo(f, CV_64FC3);
  cv::Mat y;
  cv::transform(f, y, cv::Matx13d(0.299, 0.587, 0.114));
  return y;
}

cv::Rect Bounds(const face3d::Landmarks68& lm, int first, int last, cv::Size size, double margin) {
  double x0 = 1e18, y0 = 1e18, x1 = -1e18, y1 = -1e18;
  for (int i = first; i <= last; ++i) {
    x0 = std::min(x0, lm[i].x());
    y0 = std::min(y0, lm[i].y());
    x1 = std::max(x1, lm[i].x());
    y1 = std::max(y1, lm[i].y());
  }
  const double w = x1 - x0, h = y1 - y0;
  x0 -= margin * w;
  x1 += margin * w;
  y0 -= margin * h;
  y1 += margin * h;
  const cv::Rect r(cv::Point(static_cast<int>(std::floor(x0)), static_cast<int>(std::floor(y0))),
                   cv::Point(static_cast<int>(std::ceil(x1)) + 1, static_cast<int>(std::ceil(y1)) + 1));
  return Clip(r, size);
}

}  // namespace

double L1(const cv::Mat& a, const cv::Mat& b, const cv::Rect& region) {
  CheckPair(a, b);
  const cv::Rect r = Clip(region, a.size());
  const double sum = cv::norm(a(r), b(r), cv::NORM_L1);
  return sum / (static_cast<double>(r.area()) * a.channels());
}

double Psnr(const cv::Mat& a, const cv::Mat& b, const cv::Rect& region) {
  CheckPair(a, b);
  const cv::Rect r = Clip(region, a.size());
  const double sq = cv::norm(a(r), b(r), cv::NORM_L2SQR);
  const double mse = sq / (static_cast<double>(r.area()) * a.channels());
  if (mse <= 0.0) return kPsnrCapDb;
  return std::min(kPsnrCapDb, 10.0 * std::log10(255.0 * 255.0 / mse));
}

double Ssim(const cv::Mat& a, const cv::Mat& b, const cv::Rect& region) {
  CheckPair(a, b);
  const cv::Rect r = Clip(region, a.size());
  // Pad by the window radius where possible so border pixels see real data.
  constexpr int kRadius = 5;
  const cv::Rect padded = Clip(cv::Rect(r.x - kRadius, r.y - kRadius, r.width + 2 * kRadius, r.height + 2 * kRadius),
                               a.size());
  const cv::Mat x = Luma(a(padded)), y = Luma(b(padded));
  constexpr double kC1 = (0.01 * 255) * (0.01 * 255);
  constexpr double kC2 = (0.03 * 255) * (0.03 * 255);
  const cv::Size window(11, 11);
  auto blur = [&](const cv::Mat& m) {
    cv::Mat out;
    cv::GaussianBlur(m, out, window, 1.5, 1.5, cv::BORDER_REFLECT);
    return out;
  };
  const cv::Mat mx = blur(x), my = blur(y);
  const cv::Mat sxx = blur(x.mul(x)) - mx.mul(mx);
  const cv::Mat syy = blur(y.mul(y)) - my.mul(my);
  const cv::Mat sxy = blur(x.mul(y)) - mx.mul(my);
  cv::Mat num = (2 * mx.mul(my) + kC1).mul(2 * sxy + kC2);
  cv::Mat den = (mx.mul(mx) + my.mul(my) + kC1).mul(sxx + syy + kC2);
  cv::Mat map;
  cv::divide(num, den, map);
  const cv::Rect inner(r.x - padded.x, r.y - padded.y, r.width, r.height);
  return cv::mean(map(inner))[0];
}

cv::Rect FaceRegion(const face3d::Landmarks68& landmarks, cv::Size image_size, double margin) {
  return Bounds(landmarks, 0, 67, image_size, margin);
}

cv::Rect MouthRegion(const face3d::Landmarks68& landmarks, cv::Size image_size, double margin) {
  return Bounds(landmarks, 48, 67, image_size, margin);
}

double Akd(const face3d::Landmarks68& p, const face3d::Landmarks68& q, bool align) {
  Eigen::Matrix<double, 2, face3d::kNumLandmarks> P, Q;
  for (int i = 0; i < face3d::kNumLandmarks; ++i) {
    P.col(i) = p[i];
    Q.col(i) = q[i];
  }
  if (align) {
    // Umeyama: the similarity T minimising sum ||P_i - T(Q_i)||^2.
    const Eigen::Matrix3d t = Eigen::umeyama(Q, P, /*with_scaling=*/true);
    Q = (t.topLeftCorner<2, 2>() * Q).colwise() + t.topRightCorner<2, 1>();
  }
  return (P - Q).colwise().norm().mean();
}

double Aed(std::span<const double> a, std::span<const double> b) {
  if (a.size() != b.size() || a.empty()) throw std::invalid_argument("metrics::Aed: sizes differ or are zero");
  double sum = 0.0;
  for (size_t i = 0; i < a.size(); ++i) sum += std::abs(a[i] - b[i]);
  return sum / static_cast<double>(a.size());
}

double LandmarkJitter(const std::vector<face3d::Landmarks68>& frames) {
  if (frames.size() < 3) return 0.0;
  double sum = 0.0;
  size_t count = 0;
  for (size_t t = 1; t + 1 < frames.size(); ++t) {
    for (int i = 0; i < face3d::kNumLandmarks; ++i) {
      sum += (frames[t + 1][i] - 2.0 * frames[t][i] + frames[t - 1][i]).squaredNorm();
      ++count;
    }
  }
  return std::sqrt(sum / static_cast<double>(count));
}

double EmbeddingDistance(std::span<const float> a, std::span<const float> b) {
  if (a.size() != b.size() || a.empty()) {
    throw std::invalid_argument("metrics::EmbeddingDistance: sizes differ or are zero");
  }
  double sum = 0.0;
  for (size_t i = 0; i < a.size(); ++i) sum += static_cast<double>(a[i] - b[i]) * (a[i] - b[i]);
  return std::sqrt(sum);
}

}  // namespace faceanime::metrics
