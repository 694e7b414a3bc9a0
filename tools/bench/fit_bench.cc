// 3DMM fitting benchmarks on synthetic landmarks from the ICT model.
//   build/tools/bench/faceanime_bench --benchmark_filter=Fit --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
// Targets (2-core machine, median): tracking <= 2 ms/frame, single image
// with identity <= 50 ms.
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "face3d/face_fitter.h"
#include "face3d/video_fitter.h"
#include "tests/face3d/synthetic_face.h"

namespace {

using namespace faceanime::face3d;  // NOLINT: benchmark brevity.

const MorphableModel& Model() {
  static const MorphableModel* model = new MorphableModel(MorphableModel::Load(MorphableModel::DefaultPath()));
  return *model;
}

// Single image, identity estimated (the source portrait).
void BM_FitSingleImageWithIdentity(benchmark::State& state) {
  const FaceFitter fitter = FaceFitter::Create(Model());
  std::mt19937 rng(3);
  std::vector<Landmarks68> inputs;
  for (int i = 0; i < 8; ++i) {
    const FaceParams truth = faceanime::testing::RandomFace(Model(), rng);
    inputs.push_back(faceanime::testing::AddNoise(
        fitter.landmark_model().Project(truth, faceanime::testing::SyntheticCamera()), 1.0, rng));
  }
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(fitter.Fit(inputs[i++ % inputs.size()], faceanime::testing::SyntheticCamera()));
  }
}
BENCHMARK(BM_FitSingleImageWithIdentity)->Unit(benchmark::kMillisecond);

// Single-image fit of noise-free synthetic landmarks (no landmark offsets),
// identity estimated: arg 2 ExactLandmarkFitOptions(); arg 1 that without
// the soft silhouette and the restarts (landmark_sigma_px 0.1,
// inner_landmarks_first, silhouette_consistency_weight 1); arg 0 only
// landmark_sigma_px 0.1.
void BM_FitSingleImageExactLandmarks(benchmark::State& state) {
  FitOptions options = ExactLandmarkFitOptions();
  options.landmark_offsets_cm = ZeroLandmarkOffsets();
  if (state.range(0) <= 1) {
    options.soft_contour_px.clear();
    options.restart_rmse_sigma = 0.0;
  }
  if (state.range(0) == 0) {
    options.inner_landmarks_first = false;
    options.silhouette_consistency_weight = 0.0;
  }
  const FaceFitter fitter = FaceFitter::Create(Model(), options);
  std::mt19937 rng(11);
  std::vector<Landmarks68> inputs;
  for (int i = 0; i < 8; ++i) {
    const FaceParams truth = faceanime::testing::RandomFace(Model(), rng);
    inputs.push_back(fitter.landmark_model().Project(truth, faceanime::testing::SyntheticCamera()));
  }
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(fitter.Fit(inputs[i++ % inputs.size()], faceanime::testing::SyntheticCamera()));
  }
}
BENCHMARK(BM_FitSingleImageExactLandmarks)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);

// Tracking: identity held, pose + expression warm-started, per frame of a
// smoothly moving synthetic face (1 px noise).
void BM_FitTrackFrame(benchmark::State& state) {
  VideoFitOptions options;
  options.identity_frames = 1;
  VideoFitter tracker = VideoFitter::Create(Model(), options);
  std::mt19937 rng(4);
  FaceParams face = faceanime::testing::RandomFace(Model(), rng, 3);
  face.pose.rotation = RotationFromEuler({10, 5, 0});
  const Camera camera = faceanime::testing::SyntheticCamera();
  std::vector<Landmarks68> frames;
  for (int f = 0; f < 200; ++f) {
    FaceParams p = face;
    p.pose.rotation = RotationFromEuler({10 + 10 * std::sin(f * 0.05), 5 * std::sin(f * 0.03), 0});
    frames.push_back(faceanime::testing::AddNoise(tracker.fitter().landmark_model().Project(p, camera), 1.0, rng));
  }
  tracker.Track(frames[0], camera, 0);  // Identity estimate (not timed).
  int64_t f = 1;
  for (auto _ : state) {
    benchmark::DoNotOptimize(tracker.Track(frames[f % frames.size()], camera, f * 40'000'000));
    ++f;
  }
}
BENCHMARK(BM_FitTrackFrame)->Unit(benchmark::kMillisecond);

}  // namespace
