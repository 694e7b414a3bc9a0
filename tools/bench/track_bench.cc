// One tracked frame, all in, on a 640x480 (VGA webcam) BGR frame:
// FaceTracker::Track without re-detection = box from the previous frame's
// landmarks + crop/convert/resize + the 68-point net (+ its mirrored crop for
// the confidence, the default) + the One-Euro filter. The first frame (the
// BlazeFace detection) is done before timing; a timed frame that re-detects
// fails the benchmark. Full and tiny nets, one LibTorch/OpenCV thread (the
// argument; 2 threads on a loaded 2-core machine measured 1121 ms: OpenMP
// barrier waits, see Landmarker::Options::num_threads).
// Target (issue 4): median <= 10 ms. Report medians:
//   build/tools/bench/faceanime_bench --benchmark_filter='BM_TrackFrame'
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// Needs the face models (tools/setup).
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include <benchmark/benchmark.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "face3d/face_detector.h"
#include "face3d/face_tracker.h"
#include "face3d/landmarker.h"
#include "tools/bench/bench_frames.h"

namespace {

using faceanime::PixelFormat;
using namespace faceanime::face3d;

void BM_TrackFrame(benchmark::State& state, bool tiny) {
  const int threads = static_cast<int>(state.range(0));
  const cv::Mat& frame = faceanime::bench::AstronautVgaBgr();
  const auto view = faceanime::ViewOf(frame, PixelFormat::kBgr);
  const FaceDetector detector = FaceDetector::Create({.num_threads = threads});
  const auto landmarker = Landmarker::Create({.tiny = tiny, .num_threads = threads});
  const LandmarkerSource source(*landmarker);
  FaceTracker tracker = FaceTracker::Create({}, detector, source);
  constexpr int64_t kFrameNs = 33'333'333;  // 30 fps.
  int64_t t = 0;
  const auto first = tracker.Track(view, t);
  if (!first || !first->redetected) {
    state.SkipWithError("no face detected on the benchmark frame");
    return;
  }
  int redetections = 0;
  for (auto _ : state) {
    t += kFrameNs;
    const auto face = tracker.Track(view, t);
    if (!face || face->redetected) ++redetections;
    benchmark::DoNotOptimize(face);
  }
  if (redetections > 0) {
    state.SkipWithError(("timed frames re-detected or lost the face: " + std::to_string(redetections)).c_str());
  }
  state.counters["threads"] = static_cast<double>(threads);
}
BENCHMARK_CAPTURE(BM_TrackFrame, Full, false)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TrackFrame, Tiny, true)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
