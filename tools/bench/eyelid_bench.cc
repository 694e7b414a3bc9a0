// The eyelid meter (face3d::EyelidMeter) on one tracked frame: the patch
// resampling, the closure syntheses and the shifted cross-correlations of both
// eyes, after the open-eye reference is complete. Frame: the bundled
// astronaut at VGA (640x480 BGR; eyes ~50 px corner to corner, so the patch
// is box-filtered 3x3 per canonical pixel), landmarks from the 68-point net
// once. This is what FaceAnalyzer adds to a tracked frame with
// eyelids_from_pixels (the default): compare with BM_TrackFrame and the
// tracking fit (BM_FitTrackFrame). Report medians:
//   build/tools/bench/faceanime_bench --benchmark_filter='BM_EyelidMeter'
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// Needs the face models (tools/setup).
#include <benchmark/benchmark.h>

#include "face3d/eyelid_meter.h"
#include "face3d/face_detector.h"
#include "face3d/landmarker.h"
#include "tools/bench/bench_frames.h"

namespace {

using namespace faceanime::face3d;

void BM_EyelidMeter(benchmark::State& state, bool adapt) {
  const cv::Mat& frame = faceanime::bench::AstronautVgaBgr();
  const auto view = faceanime::ViewOf(frame, faceanime::PixelFormat::kBgr);
  const FaceDetector detector = FaceDetector::Create({.num_threads = 1});
  const auto face = LargestFace(detector.Detect(view));
  if (!face) {
    state.SkipWithError("no face detected on the benchmark frame");
    return;
  }
  const auto landmarker = Landmarker::Create({.num_threads = 1});
  const Landmarks68 landmarks = landmarker->Detect(view, face->box).points;
  EyelidMeterOptions options;
  options.adapt_rate = adapt ? options.adapt_rate : 0.0;
  EyelidMeter meter = EyelidMeter::Create(options);
  for (int k = 0; k < 100 && !(meter.has_reference(0) && meter.has_reference(1)); ++k) meter.Measure(view, landmarks);
  if (!meter.has_reference(0) || !meter.has_reference(1)) {
    state.SkipWithError("the eyelid reference did not complete on the benchmark frame");
    return;
  }
  int readings = 0;
  for (auto _ : state) {
    const auto r = meter.Measure(view, landmarks);
    readings += r[0].has_value() + r[1].has_value();
    benchmark::DoNotOptimize(r);
  }
  if (readings != 2 * static_cast<int>(state.iterations())) state.SkipWithError("an eye gave no reading");
}
// Adapt: the open frame is blended into the reference and the syntheses
// redone every frame (the cost of a frame read as open); NoAdapt: matching alone.
BENCHMARK_CAPTURE(BM_EyelidMeter, Adapt, true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EyelidMeter, NoAdapt, false)->Unit(benchmark::kMillisecond);

}  // namespace
