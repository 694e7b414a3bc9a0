#include "tools/bench/bench_frames.h"

#include <filesystem>
#include <stdexcept>
#include <string>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace faceanime::bench {

const cv::Mat& AstronautVgaBgr() {
  static const cv::Mat frame = [] {
    const auto path = std::filesystem::path(FACEANIME_SOURCE_DIR) / "assets" / "astronaut.png";
    const cv::Mat portrait = cv::imread(path.string(), cv::IMREAD_COLOR);
    if (portrait.empty()) throw std::runtime_error("cannot read " + path.string());
    cv::Mat out(480, 640, CV_8UC3, cv::Scalar::all(0)), scaled;
    cv::resize(portrait, scaled, {480, 480}, 0, 0, cv::INTER_AREA);
    scaled.copyTo(out(cv::Rect(80, 0, 480, 480)));
    return out;
  }();
  return frame;
}

}  // namespace faceanime::bench
