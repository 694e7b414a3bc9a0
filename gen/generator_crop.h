// The square face crop the neural generator works on, shared by the data
// builder (`faceanime gen-data`) and inference (pipeline::Retargeter), so a
// model sees at run time the framing it was trained on.
//
// Geometry (image pixels): the box around both face boxes (source and
// target), a square of side (1 + 2 * margin) x its larger side, centred on
// it. The square may extend past the image: CropResize fills that part with
// black, as the training crops have it.
#ifndef FACEANIME_GEN_GENERATOR_CROP_H_
#define FACEANIME_GEN_GENERATOR_CROP_H_

#include <Eigen/Geometry>
#include <opencv2/core.hpp>

namespace faceanime::gen {

// gen-data's --crop-margin default, and RetargeterOptions::neural_crop_margin's.
inline constexpr double kDefaultGeneratorCropMargin = 0.3;

// The square crop around `source_box` and `target_box` (both non-empty),
// margin >= 0. Never empty (side >= 1).
cv::Rect GeneratorCropRect(const Eigen::AlignedBox2d& source_box, const Eigen::AlignedBox2d& target_box,
                           double margin);

// `image` (any type) inside `rect` (zero outside the image), resized to
// size x size: area averaging when shrinking, bilinear when enlarging.
cv::Mat CropResize(const cv::Mat& image, const cv::Rect& rect, int size);

}  // namespace faceanime::gen

#endif  // FACEANIME_GEN_GENERATOR_CROP_H_
