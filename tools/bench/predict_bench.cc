// The LSTM dynamics predictor (predict/dynamics_predictor.h), committed
// weights, one LibTorch thread:
//   BM_PredictorRollout/N   video prediction of N frames (sampled steps);
//                           the counter ms_per_step is the time per predicted frame;
//   BM_PredictorTarget/N    target-driven rollout to frame N (the path, the
//                           smooth correction and the re-read of the path);
//   BM_OnlinePredictorUpdate  one live frame with look-ahead 2 (3 LSTM steps).
// Target (issue 7): <= 0.3 ms per predicted step. Report medians:
//   build/tools/bench/faceanime_bench --benchmark_filter='Predictor'
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <cmath>
#include <memory>

#include <benchmark/benchmark.h>

#include "predict/dynamics_predictor.h"

namespace {

using namespace faceanime::predict;

std::shared_ptr<const DynamicsPredictor> Predictor() {
  static const std::shared_ptr<const DynamicsPredictor> p =
      DynamicsPredictor::Load({.weights = FACEANIME_SOURCE_DIR "/assets/predictor/dynamics_lstm.pt"});
  return p;
}

void BM_PredictorRollout(benchmark::State& state) {
  const auto p = Predictor();
  RolloutRequest r;
  r.num_frames = static_cast<int>(state.range(0));
  for (auto _ : state) {
    ++r.seed;
    benchmark::DoNotOptimize(p->Rollout(r));
  }
  state.counters["ms_per_step"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * (r.num_frames - 1) / 1e3,
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_PredictorRollout)->Arg(100)->Unit(benchmark::kMillisecond);

void BM_PredictorTarget(benchmark::State& state) {
  const auto p = Predictor();
  RolloutRequest r;
  r.num_frames = static_cast<int>(state.range(0)) + 1;
  Dynamics target;
  target.expression[0] = 0.5;
  r.target = PredictionTarget{target, static_cast<int>(state.range(0))};
  for (auto _ : state) {
    ++r.seed;
    benchmark::DoNotOptimize(p->Rollout(r));
  }
  state.counters["ms_per_step"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * (r.num_frames - 1) / 1e3,
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_PredictorTarget)->Arg(50)->Unit(benchmark::kMillisecond);

void BM_OnlinePredictorUpdate(benchmark::State& state) {
  auto online = OnlinePredictor::Create(Predictor(), {.lookahead_frames = 2});
  faceanime::face3d::FaceParams face;
  int64_t t = 0;
  for (auto _ : state) {
    face.pose.rotation.y() = 0.1 * std::sin(t * 1e-9);
    benchmark::DoNotOptimize(online->Update(t, face));
    t += 40'000'000;
  }
}
BENCHMARK(BM_OnlinePredictorUpdate)->Unit(benchmark::kMicrosecond);

}  // namespace
