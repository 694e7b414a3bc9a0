#include "render/contact_sheet.h"

#include <gtest/gtest.h>
#include <opencv2/core.hpp>

namespace faceanime::render {
namespace {

TEST(ContactSheetTest, LaysOutScaledCellsRowByRow) {
  const cv::Mat red(50, 100, CV_8UC3, cv::Scalar(255, 0, 0));
  const cv::Mat grey(100, 100, CV_8UC1, cv::Scalar(128));
  const cv::Mat blue(25, 25, CV_8UC3, cv::Scalar(0, 0, 255));
  const std::vector<cv::Mat> images = {red, grey, blue};
  const std::vector<std::string> labels = {"red", "", "blue"};
  const cv::Mat sheet = MakeContactSheet(images, labels, {.columns = 2, .cell_height = 100, .padding = 4});
  // Cells are 100 high and 200 wide (the red image scaled), 2 columns, 2 rows.
  ASSERT_EQ(sheet.type(), CV_8UC3);
  EXPECT_EQ(sheet.cols, 2 * 200 + 3 * 4);
  EXPECT_EQ(sheet.rows, 2 * 100 + 3 * 4);
  // Below the label strip, the first cell shows the red image unchanged.
  EXPECT_EQ(sheet.at<cv::Vec3b>(4 + 60, 4 + 100), cv::Vec3b(255, 0, 0));
  // The grey cell (centred in its column) is expanded to three channels.
  EXPECT_EQ(sheet.at<cv::Vec3b>(4 + 50, 4 + 200 + 4 + 100), cv::Vec3b(128, 128, 128));
  // Second row, first column: blue scaled to 100x100, centred.
  EXPECT_EQ(sheet.at<cv::Vec3b>(4 + 100 + 4 + 70, 4 + 100), cv::Vec3b(0, 0, 255));
  // The label strip darkens the cell top and carries white text.
  const cv::Mat strip = sheet(cv::Rect(4, 4, 200, 10));
  double hi;
  cv::minMaxLoc(strip.reshape(1), nullptr, &hi);
  EXPECT_GT(hi, 200);
  EXPECT_LT(sheet.at<cv::Vec3b>(4 + 2, 4 + 190)[0], 128);
}

TEST(ContactSheetTest, RejectsNoImagesAndUnsupportedTypes) {
  EXPECT_THROW(MakeContactSheet({}), std::invalid_argument);
  const std::vector<cv::Mat> floats = {cv::Mat(4, 4, CV_32F)};
  EXPECT_THROW(MakeContactSheet(floats), std::invalid_argument);
}

}  // namespace
}  // namespace faceanime::render
