#include "face3d/face_crop.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

namespace faceanime::face3d {

Eigen::Vector2d SquareCrop::ToImage(const Eigen::Vector2d& relative) const {
  return {x0 - 0.5 + relative.x() * side, y0 - 0.5 + relative.y() * side};
}

Eigen::Vector2d SquareCrop::ToRelative(const Eigen::Vector2d& image_point) const {
  return {(image_point.x() - x0 + 0.5) / side, (image_point.y() - y0 + 0.5) / side};
}

SquareCrop SquareCropAround(const Eigen::AlignedBox2d& box, double scale) {
  if (box.isEmpty() || !box.min().allFinite() || !box.max().allFinite() || !(scale > 0)) {
    throw std::invalid_argument("SquareCropAround: empty or non-finite box, or scale <= 0");
  }
  const Eigen::Vector2d centre = box.center();
  const Eigen::Vector2d size = box.sizes();
  SquareCrop crop;
  crop.side = std::max(1, static_cast<int>(std::lround(scale * std::max(size.x(), size.y()))));
  // The crop's left edge is at centre - side / 2; the first pixel starts there.
  crop.x0 = static_cast<int>(std::lround(centre.x() - 0.5 * crop.side + 0.5));
  crop.y0 = static_cast<int>(std::lround(centre.y() - 0.5 * crop.side + 0.5));
  return crop;
}

cv::Mat CropToRgb(const ImageView& image, const SquareCrop& crop, int size) {
  if (image.empty()) throw std::invalid_argument("CropToRgb: empty image");
  if (crop.side < 1 || size < 1) throw std::invalid_argument("CropToRgb: empty crop or size");
  cv::Mat square(crop.side, crop.side, CV_8UC3, cv::Scalar::all(0));
  // The part of the crop inside the image.
  const int x_begin = std::max(crop.x0, 0);
  const int y_begin = std::max(crop.y0, 0);
  const int x_end = std::min(crop.x0 + crop.side, image.width);
  const int y_end = std::min(crop.y0 + crop.side, image.height);
  if (x_begin < x_end && y_begin < y_end) {
    ImageView inside = image;  // A view of the sub-rectangle: same stride, no copy.
    inside.data = image.data + static_cast<size_t>(y_begin) * image.stride +
                  static_cast<size_t>(x_begin) * ChannelCount(image.format);
    inside.width = x_end - x_begin;
    inside.height = y_end - y_begin;
    ToRgb(inside).copyTo(square(cv::Rect(x_begin - crop.x0, y_begin - crop.y0, inside.width,
                                         inside.height)));
  }
  if (crop.side == size) return square;
  cv::Mat resized;
  cv::resize(square, resized, cv::Size(size, size), 0, 0,
             crop.side > size ? cv::INTER_AREA : cv::INTER_LINEAR);
  return resized;
}

}  // namespace faceanime::face3d
