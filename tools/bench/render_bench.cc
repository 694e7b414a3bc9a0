// render micro-benchmarks. Needs the converted model (tools/setup).
//   build/tools/bench/faceanime_bench --benchmark_filter=Render
#include <filesystem>
#include <stdexcept>
#include <vector>

#include <benchmark/benchmark.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "face3d/face_params.h"
#include "face3d/image.h"
#include "face3d/morphable_model.h"
#include "render/face_warper.h"
#include "render/part_mesh.h"
#include "render/rasterizer.h"

namespace {

using faceanime::face3d::Camera;
using faceanime::face3d::FaceParams;
using faceanime::face3d::MorphableModel;
using faceanime::face3d::Part;
namespace render = faceanime::render;

const MorphableModel& Model() {
  static const MorphableModel model = MorphableModel::Load(MorphableModel::DefaultPath());
  return model;
}

// A fitted-looking state: non-zero identity, a few expressions.
FaceParams TypicalParams(double yaw_deg, double jaw_open) {
  FaceParams p;
  for (int i = 0; i < 100; ++i) p.identity[i] = 0.3 * ((i * 37) % 7 - 3) / 3.0;
  p.expression[Model().ExpressionIndex("jawOpen")] = jaw_open;
  p.expression[Model().ExpressionIndex("mouthSmile_L")] = 0.3;
  p.expression[Model().ExpressionIndex("mouthSmile_R")] = 0.3;
  p.expression[Model().ExpressionIndex("eyeBlink_L")] = 0.2;
  p.pose.rotation = faceanime::face3d::RotationFromEuler({yaw_deg, 0, 0});
  return p;
}

// Rasterise face + head and neck (11248 vertices, 22288 triangles) at 256x256,
// framed as in a face crop. Timed: transform, projection, raster (the shape is
// evaluated once, outside the loop).
void BM_RenderRasterizeFaceHead256(benchmark::State& state) {
  const Part parts[] = {Part::kFace, Part::kHeadAndNeck};
  const render::PartMesh mesh = render::PartMesh::Create(Model(), parts);
  FaceParams params = TypicalParams(10, 0.2);
  params.pose.translation = Eigen::Vector3d(0, 2, 50);  // Face about 200 px tall.
  const Camera camera = Camera::ForImage(256, 256);
  const render::Positions model_space = mesh.Evaluate(params);
  const render::Rasterizer raster = render::Rasterizer::Create({});
  render::RasterBuffers buffers;
  for (auto _ : state) {
    const render::Positions cam = render::PartMesh::ToCamera(model_space, params.pose);
    raster.Render(cam, mesh.triangles(), camera, &buffers);
    benchmark::DoNotOptimize(buffers.depth.data);
  }
  state.counters["pixels"] = cv::countNonZero(buffers.mask);
}
BENCHMARK(BM_RenderRasterizeFaceHead256)->Unit(benchmark::kMillisecond)->Repetitions(5)->ReportAggregatesOnly(true);

// The whole classical generator on astronaut.png (512x512): shape evaluation
// (identity cached), two renders at the 256x256 crop, displacement membrane,
// mouth interior, occlusion fill, full-resolution remap and paste-back.
// `upscale` > 1: the portrait resized by it (bicubic), the same face seen
// by the camera of the larger image.
void RenderWarpCrop256(benchmark::State& state, const render::WarpOptions& options, int upscale = 1) {
  const std::filesystem::path path =
      std::filesystem::path(FACEANIME_SOURCE_DIR) / "assets" / "astronaut.png";
  cv::Mat rgb = cv::imread(path.string(), cv::IMREAD_COLOR);
  if (rgb.empty()) throw std::runtime_error("cannot read " + path.string());
  cv::cvtColor(rgb, rgb, cv::COLOR_BGR2RGB);
  if (upscale > 1) cv::resize(rgb, rgb, cv::Size(), upscale, upscale, cv::INTER_CUBIC);
  const Camera camera = Camera::ForImage(rgb.cols, rgb.rows);
  FaceParams source = TypicalParams(0, 0.0);
  source.pose.translation = Eigen::Vector3d(-4.1, -15.8, 72.7);
  FaceParams target = TypicalParams(state.range(0), 0.5);
  target.pose.translation = source.pose.translation;
  const render::FaceWarper warper = render::FaceWarper::Create(Model(), options);
  const faceanime::ImageView view = faceanime::ViewOf(rgb, faceanime::PixelFormat::kRgb);
  for (auto _ : state) {
    cv::Mat out = warper.Warp(view, source, target, camera);
    benchmark::DoNotOptimize(out.data);
  }
  render::WarpDebug debug;
  warper.Warp(view, source, target, camera, &debug);
  state.counters["fold_cells"] = debug.fold_mask.empty() ? 0 : cv::countNonZero(debug.fold_mask);
}
void BM_RenderWarpCrop256(benchmark::State& state) { RenderWarpCrop256(state, {.crop_size = 256}); }
// The same with folds mapped per image pixel as `faceanime edit` maps them
// (WarpOptions::exact_fold_edges from a crop 1.25x coarser than the image,
// bends of 1 px, 2 x 2 samples; the defaults leave this 512-px portrait,
// about 1.4x, bilinear), for A/B in one binary.
void BM_RenderWarpCrop256ExactFolds(benchmark::State& state) {
  RenderWarpCrop256(state, {.crop_size = 256,
                            .exact_fold_edges = true,
                            .fold_min_coarseness = 1.25f,
                            .fold_bend_px = 1.f,
                            .fold_subsamples = 2});
}
// The astronaut at 3x (1536 x 1536, the crop about 4x coarser than the
// image): the defaults (folds per image pixel from 3x on, bends of 3 px,
// one sample), and the same with the folds bilinear, for A/B.
void BM_RenderWarpCrop256LargePortrait(benchmark::State& state) {
  RenderWarpCrop256(state, {.crop_size = 256}, /*upscale=*/3);
}
void BM_RenderWarpCrop256LargePortraitBilinearFolds(benchmark::State& state) {
  RenderWarpCrop256(state, {.crop_size = 256, .exact_fold_edges = false}, /*upscale=*/3);
}
BENCHMARK(BM_RenderWarpCrop256LargePortrait)
    ->Arg(0)
    ->Arg(20)
    ->Unit(benchmark::kMillisecond)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_RenderWarpCrop256LargePortraitBilinearFolds)
    ->Arg(0)
    ->Arg(20)
    ->Unit(benchmark::kMillisecond)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_RenderWarpCrop256ExactFolds)->Arg(0)->Arg(20)->Unit(benchmark::kMillisecond)->Repetitions(5)->ReportAggregatesOnly(true);
// The same without the hair's rigid extension and with the crop centred (the
// warp before 2026-11-22's hair_follows_skull), for A/B in one binary.
void BM_RenderWarpCrop256MembraneOnly(benchmark::State& state) {
  RenderWarpCrop256(state, render::WithoutHairFollowing({.crop_size = 256}));
}
BENCHMARK(BM_RenderWarpCrop256)->Arg(0)->Arg(20)->Unit(benchmark::kMillisecond)->Repetitions(5)->ReportAggregatesOnly(true);
BENCHMARK(BM_RenderWarpCrop256MembraneOnly)
    ->Arg(0)
    ->Arg(20)
    ->Unit(benchmark::kMillisecond)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);

}  // namespace
