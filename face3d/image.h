// Non-owning views of 8-bit images as they arrive from decoders and
// GStreamer buffers: any row stride, several channel orders. Wrapping never
// copies pixels.
#ifndef FACEANIME_FACE3D_IMAGE_H_
#define FACEANIME_FACE3D_IMAGE_H_

#include <cstdint>
#include <string_view>

#include <opencv2/core/mat.hpp>

namespace faceanime {

// Channel order of interleaved 8-bit pixels.
enum class PixelFormat { kGray, kRgb, kBgr, kRgba, kBgra };

int ChannelCount(PixelFormat format);
std::string_view PixelFormatName(PixelFormat format);

// A read-only view of an interleaved 8-bit image. `stride` is the distance in
// bytes between the starts of two rows (>= width * channels).
struct ImageView {
  const uint8_t* data = nullptr;
  int width = 0;
  int height = 0;
  int stride = 0;
  PixelFormat format = PixelFormat::kRgb;

  bool empty() const { return data == nullptr || width <= 0 || height <= 0; }
};

// Wraps `view` as a cv::Mat header over the same pixels (no copy; the Mat
// must not outlive the view's memory). The channel order stays `view.format`.
cv::Mat WrapAsMat(const ImageView& view);

// A view of a continuous or strided cv::Mat of CV_8UC1/3/4 in `format` order.
ImageView ViewOf(const cv::Mat& mat, PixelFormat format);

// Converts any view to a new RGB (3-channel, R first) cv::Mat.
cv::Mat ToRgb(const ImageView& view);

}  // namespace faceanime

#endif  // FACEANIME_FACE3D_IMAGE_H_
