// A grid of images with optional captions, for looking at results (eval
// tools, tests, reports).
#ifndef FACEANIME_RENDER_CONTACT_SHEET_H_
#define FACEANIME_RENDER_CONTACT_SHEET_H_

#include <span>
#include <string>

#include <opencv2/core/mat.hpp>

namespace faceanime::render {

struct ContactSheetOptions {
  int columns = 3;          // Images per row, >= 1 (default 3).
  int cell_height = 256;    // Every image is scaled to this height, >= 8 (default 256).
  int padding = 4;          // Pixels between cells, >= 0 (default 4).
  cv::Scalar background{32, 32, 32};  // Grey, so channel order does not matter.
};

// Lays `images` out row by row. Each image is CV_8UC1, CV_8UC3 or CV_8UC4
// (grey is expanded, alpha dropped); colour order is passed through, so give
// all images in one order (e.g. all RGB) and read the sheet in that order.
// Cells are cell_height high and as wide as the widest scaled image; images keep
// their aspect ratio. `labels` (optional, at most one per image) are written in
// white on a dark strip at the top of each cell. Returns CV_8UC3. Throws
// std::invalid_argument for no images, an unsupported type or bad options.
cv::Mat MakeContactSheet(std::span<const cv::Mat> images, std::span<const std::string> labels = {},
                         const ContactSheetOptions& options = {});

}  // namespace faceanime::render

#endif  // FACEANIME_RENDER_CONTACT_SHEET_H_
