// Square face crops for the face-api.js networks (landmarks, expression,
// recognition): where the crop lies in the image and how a network's relative
// output coordinates map back to image pixels.
//
// Image space: OpenCV pixels, integer coordinates are pixel centres (pixel i
// covers [i - 0.5, i + 0.5]); see face3d/face_params.h.
#ifndef FACEANIME_FACE3D_FACE_CROP_H_
#define FACEANIME_FACE3D_FACE_CROP_H_

#include <Eigen/Core>
#include <Eigen/Geometry>
#include <opencv2/core/mat.hpp>

#include "face3d/image.h"

namespace faceanime::face3d {

// A square block of whole pixels: columns x0 .. x0 + side - 1 and rows
// y0 .. y0 + side - 1. It may extend past the image (those pixels read as 0,
// black, as face-api's zero padding).
struct SquareCrop {
  int x0 = 0;
  int y0 = 0;
  int side = 0;

  // Image-space point of a crop-relative coordinate (0 = the crop's left/top
  // edge, 1 = its right/bottom edge, as the face-api nets output them):
  // x = x0 - 0.5 + u * side, likewise y.
  Eigen::Vector2d ToImage(const Eigen::Vector2d& relative) const;
  // The inverse of ToImage().
  Eigen::Vector2d ToRelative(const Eigen::Vector2d& image_point) const;
};

// The square crop centred on `box` (image pixels, continuous corners: a box
// over pixels 0..W-1 is [-0.5, W - 0.5]) with side = round(scale *
// max(width, height)), at least 1, snapped to whole pixels.
SquareCrop SquareCropAround(const Eigen::AlignedBox2d& box, double scale);

// Cuts `crop` out of `image` (any PixelFormat and stride; only the crop's
// pixels are read and converted), fills what lies outside the image with 0,
// and resizes to size x size (cv::INTER_AREA when shrinking, cv::INTER_LINEAR
// when enlarging). Returns a continuous CV_8UC3 RGB (R first) Mat.
cv::Mat CropToRgb(const ImageView& image, const SquareCrop& crop, int size);

}  // namespace faceanime::face3d

#endif  // FACEANIME_FACE3D_FACE_CROP_H_
