// Face detection at 640x480 (a VGA webcam frame): BlazeFace front/back and
// YuNet (320 and 640 inputs), letterboxing + network + decoding, with the
// OpenCV thread count as the benchmark argument (cv::setNumThreads).
//   build/tools/bench/faceanime_bench --benchmark_filter=Detect
// Needs the face models (tools/setup).
#include <filesystem>
#include <stdexcept>

#include <benchmark/benchmark.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "face3d/face_detector.h"
#include "tools/bench/bench_frames.h"

namespace {

using faceanime::PixelFormat;
using faceanime::face3d::DetectorModel;
using faceanime::face3d::FaceDetector;
using faceanime::face3d::FaceDetectorOptions;

void BM_Detect(benchmark::State& state, DetectorModel model, int yunet_size) {
  FaceDetectorOptions options;
  options.model = model;
  options.yunet_input_size = yunet_size;
  options.num_threads = static_cast<int>(state.range(0));
  const FaceDetector detector = FaceDetector::Create(options);
  const auto view = faceanime::ViewOf(faceanime::bench::AstronautVgaBgr(), PixelFormat::kBgr);
  size_t faces = 0;
  for (auto _ : state) {
    faces = detector.Detect(view).size();
    benchmark::DoNotOptimize(faces);
  }
  if (faces != 1) state.SkipWithError("expected exactly one face in the benchmark frame");
  state.counters["threads"] = static_cast<double>(state.range(0));
}

BENCHMARK_CAPTURE(BM_Detect, BlazeFaceFront, DetectorModel::kBlazeFaceFront, 0)
    ->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Detect, BlazeFaceBack, DetectorModel::kBlazeFaceBack, 0)
    ->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Detect, YuNet320, DetectorModel::kYuNet, 320)
    ->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Detect, YuNet640, DetectorModel::kYuNet, 640)
    ->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
