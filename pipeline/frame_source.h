// Decoded input frames with their timestamps: a still image, a video file,
// or a V4L2 camera (/dev/videoN). Decoding is OpenCV's (FFmpeg backend for
// files, V4L2 for cameras).
#ifndef FACEANIME_PIPELINE_FRAME_SOURCE_H_
#define FACEANIME_PIPELINE_FRAME_SOURCE_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>

#include <opencv2/core.hpp>

namespace faceanime::pipeline {

// Thrown when an input cannot be opened or decoded; what() names the file
// and what to do.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Frame {
  cv::Mat bgr;         // 8-bit, 3 channels, B-G-R order (OpenCV's decoders).
  int64_t pts_ns = 0;  // Presentation time from the container; 0 for a still.
  int index = 0;       // 0-based decode order.
};

class FrameSource {
 public:
  // Opens `path`: an image (anything cv::imread reads), a video file, or a
  // V4L2 device path. Throws InputError naming the path when it does not
  // exist or cannot be decoded.
  static std::unique_ptr<FrameSource> Open(const std::filesystem::path& path);
  virtual ~FrameSource() = default;

  // The next frame, or std::nullopt at the end of the input.
  virtual std::optional<Frame> Next() = 0;

  virtual bool is_still() const = 0;
  // Number of frames if the container says (-1 when unknown, e.g. cameras).
  virtual int frame_count() const = 0;
  virtual double fps() const = 0;  // 0 when unknown.
  virtual cv::Size size() const = 0;
};

}  // namespace faceanime::pipeline

#endif  // FACEANIME_PIPELINE_FRAME_SOURCE_H_
