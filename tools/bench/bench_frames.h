// Shared benchmark inputs.
#ifndef FACEANIME_TOOLS_BENCH_BENCH_FRAMES_H_
#define FACEANIME_TOOLS_BENCH_BENCH_FRAMES_H_

#include <opencv2/core.hpp>

namespace faceanime::bench {

// A 640x480 BGR frame (a VGA webcam's size): the bundled astronaut portrait
// scaled to 480 rows and centred, black bars left and right. Loaded once.
const cv::Mat& AstronautVgaBgr();

}  // namespace faceanime::bench

#endif  // FACEANIME_TOOLS_BENCH_BENCH_FRAMES_H_
