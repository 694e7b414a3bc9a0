#include "face3d/image.h"

#include <stdexcept>

#include <opencv2/imgproc.hpp>

namespace faceanime {

int ChannelCount(PixelFormat format) {
  switch (format) {
    case PixelFormat::kGray: return 1;
    case PixelFormat::kRgb:
    case PixelFormat::kBgr: return 3;
    case PixelFormat::kRgba:
    case PixelFormat::kBgra: return 4;
  }
  return 0;
}

std::string_view PixelFormatName(PixelFormat format) {
  switch (format) {
    case PixelFormat::kGray: return "GRAY8";
    case PixelFormat::kRgb: return "RGB";
    case PixelFormat::kBgr: return "BGR";
    case PixelFormat::kRgba: return "RGBA";
    case PixelFormat::kBgra: return "BGRA";
  }
  return "?";
}

cv::Mat WrapAsMat(const ImageView& view) {
  if (view.empty()) return {};
  const int channels = ChannelCount(view.format);
  if (view.stride < view.width * channels) {
    throw std::invalid_argument("ImageView: stride is smaller than width * channels");
  }
  return cv::Mat(view.height, view.width, CV_8UC(channels), const_cast<uint8_t*>(view.data),
                 static_cast<size_t>(view.stride));
}

ImageView ViewOf(const cv::Mat& mat, PixelFormat format) {
  if (mat.empty()) return {};
  if (mat.depth() != CV_8U || mat.channels() != ChannelCount(format)) {
    throw std::invalid_argument("ViewOf: Mat type does not match pixel format " +
                                std::string(PixelFormatName(format)));
  }
  return {mat.data, mat.cols, mat.rows, static_cast<int>(mat.step[0]), format};
}

cv::Mat ToRgb(const ImageView& view) {
  const cv::Mat src = WrapAsMat(view);
  cv::Mat rgb;
  switch (view.format) {
    case PixelFormat::kGray: cv::cvtColor(src, rgb, cv::COLOR_GRAY2RGB); break;
    case PixelFormat::kRgb: rgb = src.clone(); break;
    case PixelFormat::kBgr: cv::cvtColor(src, rgb, cv::COLOR_BGR2RGB); break;
    case PixelFormat::kRgba: cv::cvtColor(src, rgb, cv::COLOR_RGBA2RGB); break;
    case PixelFormat::kBgra: cv::cvtColor(src, rgb, cv::COLOR_BGRA2RGB); break;
  }
  return rgb;
}

}  // namespace faceanime
