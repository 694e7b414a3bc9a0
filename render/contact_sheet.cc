#include "render/contact_sheet.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

namespace faceanime::render {

cv::Mat MakeContactSheet(std::span<const cv::Mat> images, std::span<const std::string> labels,
                         const ContactSheetOptions& options) {
  if (images.empty()) throw std::invalid_argument("MakeContactSheet: no images");
  if (labels.size() > images.size()) throw std::invalid_argument("MakeContactSheet: more labels than images");
  if (options.columns < 1 || options.cell_height < 8 || options.padding < 0) {
    throw std::invalid_argument("MakeContactSheet: bad options");
  }
  std::vector<cv::Mat> cells;
  int cell_width = 1;
  for (const cv::Mat& image : images) {
    if (image.empty() || image.depth() != CV_8U ||
        (image.channels() != 1 && image.channels() != 3 && image.channels() != 4)) {
      throw std::invalid_argument("MakeContactSheet: images must be CV_8UC1/3/4 and non-empty");
    }
    cv::Mat colour;
    if (image.channels() == 1) {
      cv::cvtColor(image, colour, cv::COLOR_GRAY2BGR);
    } else if (image.channels() == 4) {
      cv::cvtColor(image, colour, cv::COLOR_BGRA2BGR);  // Drops alpha; keeps order.
    } else {
      colour = image;
    }
    const int width = std::max(1, static_cast<int>(std::lround(
                                      static_cast<double>(image.cols) * options.cell_height / image.rows)));
    cv::Mat scaled;
    cv::resize(colour, scaled, cv::Size(width, options.cell_height), 0, 0,
               width < image.cols ? cv::INTER_AREA : cv::INTER_LINEAR);
    cell_width = std::max(cell_width, width);
    cells.push_back(scaled);
  }
  const int count = static_cast<int>(cells.size());
  const int cols = std::min(options.columns, count);
  const int rows = (count + cols - 1) / cols;
  const int pad = options.padding;
  cv::Mat sheet(rows * options.cell_height + (rows + 1) * pad, cols * cell_width + (cols + 1) * pad,
                CV_8UC3, options.background);
  const int strip = std::clamp(options.cell_height / 12, 12, 28);
  const double font_scale = strip / 30.0;
  for (int i = 0; i < count; ++i) {
    const int x = pad + (i % cols) * (cell_width + pad) + (cell_width - cells[i].cols) / 2;
    const int y = pad + (i / cols) * (options.cell_height + pad);
    cv::Mat cell = sheet(cv::Rect(x, y, cells[i].cols, cells[i].rows));
    cells[i].copyTo(cell);
    if (i < static_cast<int>(labels.size()) && !labels[i].empty()) {
      cv::Mat band = cell(cv::Rect(0, 0, cell.cols, std::min(strip, cell.rows)));
      band.convertTo(band, -1, 0.35);  // Darken under the text.
      cv::putText(cell, labels[i], cv::Point(3, strip - std::max(2, strip / 5)), cv::FONT_HERSHEY_SIMPLEX,
                  font_scale, cv::Scalar::all(255), 1, cv::LINE_AA);
    }
  }
  return sheet;
}

}  // namespace faceanime::render
