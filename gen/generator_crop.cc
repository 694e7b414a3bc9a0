#include "gen/generator_crop.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

namespace faceanime::gen {

cv::Rect GeneratorCropRect(const Eigen::AlignedBox2d& source_box, const Eigen::AlignedBox2d& target_box,
                           double margin) {
  if (source_box.isEmpty() || target_box.isEmpty()) throw std::invalid_argument("GeneratorCropRect: empty face box");
  if (!(margin >= 0)) throw std::invalid_argument("GeneratorCropRect: margin must be >= 0");
  Eigen::AlignedBox2d box = source_box;
  box.extend(target_box);
  const Eigen::Vector2d centre = box.center();
  const double side = (1 + 2 * margin) * box.sizes().maxCoeff();
  const int s = std::max(1, static_cast<int>(std::lround(side)));
  return cv::Rect(static_cast<int>(std::lround(centre.x() - side / 2)),
                  static_cast<int>(std::lround(centre.y() - side / 2)), s, s);
}

cv::Mat CropResize(const cv::Mat& image, const cv::Rect& rect, int size) {
  cv::Mat canvas(rect.size(), image.type(), cv::Scalar::all(0));
  const cv::Rect inside = rect & cv::Rect(0, 0, image.cols, image.rows);
  if (inside.area() > 0) image(inside).copyTo(canvas(inside - rect.tl()));
  if (rect.width == size && rect.height == size) return canvas;
  cv::Mat out;
  cv::resize(canvas, out, cv::Size(size, size), 0, 0, rect.width > size ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

}  // namespace faceanime::gen
