// Between GstVideoFrame and the pipeline's images. Packed RGB-family frames
// are wrapped without copying (strides respected); planar YUV frames are
// converted to RGB once into a reused buffer.
#ifndef FACEANIME_PLUGINS_VIDEO_FRAMES_H_
#define FACEANIME_PLUGINS_VIDEO_FRAMES_H_

#include <gst/video/video.h>

#include <opencv2/core.hpp>

#include "face3d/image.h"

namespace faceanime::plugins {

// The raw video formats the elements accept (caps string).
inline constexpr const char* kRawVideoCaps =
    "video/x-raw, format=(string){ RGB, BGR, RGBA, BGRA, RGBx, BGRx, I420, NV12 }, "
    "width=(int)[ 16, 8192 ], height=(int)[ 16, 8192 ], framerate=(fraction)[ 0/1, MAX ]";

// True for the formats kRawVideoCaps lists.
bool IsSupportedFormat(GstVideoFormat format);

class RgbConverter {
 public:
  // A view of a mapped frame: the frame's own memory for RGB, BGR, RGBA,
  // BGRA, RGBx, BGRx (the x byte is ignored), or an RGB copy for I420/NV12.
  // Valid until the next call or until the frame is unmapped.
  ImageView View(const GstVideoFrame* frame);

 private:
  cv::Mat rgb_;
};

// Writes an 8-bit RGB image of the frame's size into a mapped, writable
// frame of any supported format (alpha set to opaque).
void WriteRgb(const cv::Mat& rgb, GstVideoFrame* frame);

}  // namespace faceanime::plugins

#endif  // FACEANIME_PLUGINS_VIDEO_FRAMES_H_
