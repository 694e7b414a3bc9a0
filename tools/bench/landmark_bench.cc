// 68-point landmarks per face on a 640x480 (VGA webcam) BGR frame: square crop
// + RGB conversion + resize + face-api landmark net (+ the mirrored crop for
// the confidence when flip_check is on), full and tiny nets, with the LibTorch
// thread count as the benchmark argument. Also the recognition and expression
// nets per face. Report medians:
//   build/tools/bench/faceanime_bench --benchmark_filter='Landmarks|Embed|Expression'
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// Needs the face models (tools/setup).
#include <filesystem>
#include <stdexcept>
#include <string>

#include <benchmark/benchmark.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "face3d/expression_classifier.h"
#include "face3d/face_recognizer.h"
#include "face3d/landmarker.h"
#include "tools/bench/bench_frames.h"

namespace {

using faceanime::PixelFormat;
using faceanime::face3d::ExpressionClassifier;
using faceanime::face3d::FaceRecognizer;
using faceanime::face3d::Landmarker;

// Her face box in the 640x480 frame of bench_frames.h (from the 512x512 original's box by eye).

Eigen::AlignedBox2d FaceBox() {
  const double s = 480.0 / 512.0;
  return Eigen::AlignedBox2d(Eigen::Vector2d(80 + 168 * s, 62 * s), Eigen::Vector2d(80 + 284 * s, 190 * s));
}

void BM_Landmarks(benchmark::State& state, bool tiny, bool flip_check) {
  const auto landmarker = Landmarker::Create(
      {.tiny = tiny, .num_threads = static_cast<int>(state.range(0)), .flip_check = flip_check});
  const auto view = faceanime::ViewOf(faceanime::bench::AstronautVgaBgr(), PixelFormat::kBgr);
  faceanime::face3d::LandmarkResult result{};
  for (auto _ : state) {
    result = landmarker->Detect(view, FaceBox());
    // The whole struct (a memory operand): DoNotOptimize on a lone double
    // may take a register constraint that loses the value with GCC.
    benchmark::DoNotOptimize(result);
  }
  if (flip_check && result.confidence < 0.5) {
    state.SkipWithError(
        ("low confidence on the benchmark face: " + std::to_string(result.confidence)).c_str());
  }
  state.counters["threads"] = static_cast<double>(state.range(0));
}
BENCHMARK_CAPTURE(BM_Landmarks, Full, false, true)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Landmarks, FullNoFlip, false, false)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Landmarks, Tiny, true, true)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Landmarks, TinyNoFlip, true, false)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_Embed(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const auto landmarker = Landmarker::Create({.num_threads = threads});
  const auto recognizer = FaceRecognizer::Create({.num_threads = threads});
  const auto view = faceanime::ViewOf(faceanime::bench::AstronautVgaBgr(), PixelFormat::kBgr);
  const auto landmarks = landmarker->Detect(view, FaceBox()).points;
  for (auto _ : state) benchmark::DoNotOptimize(recognizer->Embed(view, landmarks));
}
BENCHMARK(BM_Embed)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_Expression(benchmark::State& state) {
  const auto classifier = ExpressionClassifier::Create({.num_threads = static_cast<int>(state.range(0))});
  const auto view = faceanime::ViewOf(faceanime::bench::AstronautVgaBgr(), PixelFormat::kBgr);
  for (auto _ : state) benchmark::DoNotOptimize(classifier->Classify(view, FaceBox()));
}
BENCHMARK(BM_Expression)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
