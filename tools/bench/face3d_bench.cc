// face3d micro-benchmarks. Needs the converted model (tools/setup).
//   build/tools/bench/faceanime_bench --benchmark_filter=Model
#include <vector>

#include <benchmark/benchmark.h>

#include "face3d/morphable_model.h"

namespace {

using faceanime::face3d::MorphableModel;

// Cold-ish load: map, checksum, parse metadata (the file stays in page cache).
void BM_ModelLoad(benchmark::State& state) {
  const auto path = MorphableModel::DefaultPath();
  for (auto _ : state) {
    MorphableModel model = MorphableModel::Load(path);
    benchmark::DoNotOptimize(model.num_vertices());
  }
}
BENCHMARK(BM_ModelLoad)->Unit(benchmark::kMillisecond)->UseRealTime();

// Full-mesh evaluation with all 153 coefficients non-zero.
void BM_ModelEvaluateFull(benchmark::State& state) {
  static const MorphableModel model = MorphableModel::Load(MorphableModel::DefaultPath());
  std::vector<double> identity(100, 0.1), expression(53, 0.2);
  for (auto _ : state) benchmark::DoNotOptimize(model.Evaluate(identity, expression).data());
}
BENCHMARK(BM_ModelEvaluateFull)->Unit(benchmark::kMillisecond);

}  // namespace
