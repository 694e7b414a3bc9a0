#include "pipeline/frame_source.h"

#include <cmath>
#include <string>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

namespace faceanime::pipeline {
namespace {

namespace fs = std::filesystem;

class StillSource : public FrameSource {
 public:
  explicit StillSource(cv::Mat image) : image_(std::move(image)) {}
  std::optional<Frame> Next() override {
    if (done_) return std::nullopt;
    done_ = true;
    return Frame{image_, 0, 0};
  }
  bool is_still() const override { return true; }
  int frame_count() const override { return 1; }
  double fps() const override { return 0.0; }
  cv::Size size() const override { return image_.size(); }

 private:
  cv::Mat image_;
  bool done_ = false;
};

class VideoSource : public FrameSource {
 public:
  VideoSource(cv::VideoCapture capture, fs::path path) : capture_(std::move(capture)), path_(std::move(path)) {
    fps_ = capture_.get(cv::CAP_PROP_FPS);
    const double count = capture_.get(cv::CAP_PROP_FRAME_COUNT);
    frame_count_ = count > 0 ? static_cast<int>(std::lround(count)) : -1;
    size_ = cv::Size(static_cast<int>(capture_.get(cv::CAP_PROP_FRAME_WIDTH)),
                     static_cast<int>(capture_.get(cv::CAP_PROP_FRAME_HEIGHT)));
  }

  std::optional<Frame> Next() override {
    Frame frame;
    if (!capture_.read(frame.bgr) || frame.bgr.empty()) return std::nullopt;
    frame.index = index_++;
    // POS_MSEC after read() is the timestamp of the frame just decoded. Some
    // containers report nothing: fall back to index / fps, and never go back.
    const double ms = capture_.get(cv::CAP_PROP_POS_MSEC);
    int64_t pts = static_cast<int64_t>(std::llround(ms * 1e6));
    if ((ms <= 0.0 && frame.index > 0) || pts <= last_pts_) {
      pts = fps_ > 0 ? static_cast<int64_t>(std::llround(frame.index * 1e9 / fps_)) : last_pts_ + 1;
      if (pts <= last_pts_) pts = last_pts_ + 1;
    }
    frame.pts_ns = pts;
    last_pts_ = pts;
    if (frame.bgr.channels() == 1) cv::cvtColor(frame.bgr, frame.bgr, cv::COLOR_GRAY2BGR);
    return frame;
  }
  bool is_still() const override { return false; }
  int frame_count() const override { return frame_count_; }
  double fps() const override { return fps_; }
  cv::Size size() const override { return size_; }

 private:
  cv::VideoCapture capture_;
  fs::path path_;
  double fps_ = 0.0;
  int frame_count_ = -1;
  cv::Size size_;
  int index_ = 0;
  int64_t last_pts_ = -1;
};

bool LooksLikeImage(const fs::path& path) {
  std::string ext = path.extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".webp" || ext == ".tif" ||
         ext == ".tiff" || ext == ".ppm" || ext == ".pgm";
}

}  // namespace

std::unique_ptr<FrameSource> FrameSource::Open(const fs::path& path) {
  const std::string name = path.string();
  const bool is_device = name.rfind("/dev/video", 0) == 0;
  if (!is_device && !fs::exists(path)) throw InputError("input '" + name + "' does not exist");
  if (is_device) {
    cv::VideoCapture cap(name, cv::CAP_V4L2);
    if (!cap.isOpened()) {
      throw InputError("cannot open camera '" + name + "' (is it connected, and readable by this user?)");
    }
    return std::make_unique<VideoSource>(std::move(cap), path);
  }
  if (LooksLikeImage(path)) {
    cv::Mat image = cv::imread(name, cv::IMREAD_COLOR);
    if (image.empty()) throw InputError("cannot decode image '" + name + "' (corrupt or unsupported format)");
    return std::make_unique<StillSource>(std::move(image));
  }
  cv::VideoCapture cap(name, cv::CAP_FFMPEG);
  if (!cap.isOpened()) cap.open(name, cv::CAP_ANY);
  if (!cap.isOpened()) {
    // Maybe an image with an unusual extension.
    cv::Mat image = cv::imread(name, cv::IMREAD_COLOR);
    if (!image.empty()) return std::make_unique<StillSource>(std::move(image));
    throw InputError("cannot decode '" + name + "' as a video or an image (corrupt or unsupported format)");
  }
  return std::make_unique<VideoSource>(std::move(cap), path);
}

}  // namespace faceanime::pipeline
