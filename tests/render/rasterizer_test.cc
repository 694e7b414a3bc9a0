#include "render/rasterizer.h"

#include <cmath>
#include <cstring>
#include <random>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>

#include "render/part_mesh.h"
#include "tests/test_support.h"

namespace faceanime::render {
namespace {

using face3d::Camera;
using face3d::Part;
using face3d::Triangle;

Camera SmallCamera(int size) { return Camera::ForImage(size, size); }

// Camera-space vertices of a model-space triangle facing +Z (towards the
// viewer), CCW seen from the front, placed by a zero-rotation pose.
Positions FrontFacingTriangle() {
  Positions model(3, 3);
  model << -5, -4, 0,  //
      5, -4, 0,        //
      0, 5, 0;
  face3d::Pose pose;
  pose.translation = Eigen::Vector3d(0, 0, 50);
  return PartMesh::ToCamera(model, pose);
}

TEST(RasterizerTest, FrontFacesAreDrawnAndBackFacesCulled) {
  const Camera camera = SmallCamera(64);
  const Positions cam = FrontFacingTriangle();
  const std::vector<Triangle> front = {{0, 1, 2}};
  const std::vector<Triangle> back = {{0, 2, 1}};
  RasterBuffers buffers;
  Rasterizer::Create({}).Render(cam, front, camera, &buffers);
  const int area = cv::countNonZero(buffers.mask);
  EXPECT_NEAR(area, 0.5 * 10 * 9 * (64.0 / 50) * (64.0 / 50), 10);  // Projected area, px.
  Rasterizer::Create({}).Render(cam, back, camera, &buffers);
  EXPECT_EQ(cv::countNonZero(buffers.mask), 0);
  Rasterizer::Create({.cull_back_faces = false}).Render(cam, back, camera, &buffers);
  EXPECT_EQ(cv::countNonZero(buffers.mask), area);
}

// A triangulated grid with jittered vertices, some exactly on pixel centres,
// drawn one triangle at a time: every pixel inside the grid's outline is drawn
// exactly once (top-left rule: no cracks, no double hits on shared edges).
TEST(RasterizerTest, SharedEdgesHaveNoCracksOrDoubleHits) {
  const int size = 48, cells = 6;
  Camera camera = SmallCamera(size);
  camera.focal = 1.0;  // Camera-space (x, y) at z = 1 are pixel offsets.
  camera.cx = camera.cy = 0.0;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> jitter(-1.7f, 1.7f);
  const int n = cells + 1;
  Positions cam(n * n, 3);
  for (int j = 0; j < n; ++j) {
    for (int i = 0; i < n; ++i) {
      float x = 4.f + 7.f * i, y = 4.f + 7.f * j;
      const bool interior = i > 0 && j > 0 && i < cells && j < cells;
      // Interior vertices: half jittered off-grid, half on exact pixel centres.
      if (interior && (i + j) % 2 == 0) {
        x += jitter(rng);
        y += jitter(rng);
      }
      cam.row(j * n + i) << x, y, 1.f;
    }
  }
  std::vector<Triangle> triangles;
  for (int j = 0; j < cells; ++j) {
    for (int i = 0; i < cells; ++i) {
      const int a = j * n + i, b = a + 1, c = a + n, d = c + 1;
      // Front faces appear counter-clockwise on screen (y down): a, c, b.
      if ((i + j) % 2) {
        triangles.push_back({a, c, b});
        triangles.push_back({b, c, d});
      } else {
        triangles.push_back({a, c, d});
        triangles.push_back({a, d, b});
      }
    }
  }
  const Rasterizer raster = Rasterizer::Create({});
  cv::Mat hits(size, size, CV_32S, cv::Scalar::all(0));
  RasterBuffers buffers;
  for (const Triangle& t : triangles) {
    raster.Render(cam, std::span<const Triangle>(&t, 1), camera, &buffers);
    cv::Mat one;
    buffers.mask.convertTo(one, CV_32S, 1.0 / 255.0);
    hits += one;
  }
  // The outline is the square [4, 46] x [4, 46]; its own top/left edges are
  // on pixel centres (drawn), bottom/right edges too (not drawn).
  int inside = 0;
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) {
      const bool in = x >= 4 && x < 46 && y >= 4 && y < 46;
      ASSERT_EQ(hits.at<int>(y, x), in ? 1 : 0) << "pixel " << x << "," << y;
      inside += in;
    }
  }
  EXPECT_EQ(inside, 42 * 42);
}

TEST(RasterizerTest, PerspectiveCorrectBarycentricsRecoverTheSurfacePoint) {
  const Camera camera = SmallCamera(96);
  Positions cam(3, 3);
  cam << -20, -15, 40,  //
      25, -10, 90,      //
      0, 30, 60;
  std::vector<Triangle> tris = {{0, 1, 2}};
  RasterBuffers buffers;
  Rasterizer::Create({.cull_back_faces = false}).Render(cam, tris, camera, &buffers);
  const cv::Mat position = InterpolateAttribute(buffers, tris, cam.data(), 3);
  int checked = 0;
  for (int y = 0; y < camera.height; ++y) {
    for (int x = 0; x < camera.width; ++x) {
      if (!buffers.mask.at<uint8_t>(y, x)) continue;
      const cv::Vec3f p = position.at<cv::Vec3f>(y, x);
      // Vertices snap to 1/16 pixel (error <= 1/32 per axis), hence 0.05.
      EXPECT_NEAR(camera.focal * p[0] / p[2] + camera.cx, x, 0.05);
      EXPECT_NEAR(camera.focal * p[1] / p[2] + camera.cy, y, 0.05);
      EXPECT_NEAR(buffers.depth.at<float>(y, x), p[2], 1e-3f * p[2]);
      ++checked;
    }
  }
  EXPECT_GT(checked, 500);
}

TEST(RasterizerTest, DepthTestKeepsTheNearestSurfaceInAnyOrder) {
  const Camera camera = SmallCamera(64);
  Positions cam(6, 3);
  cam << -10, -10, 50, -10, 10, 50, 10, 0, 50,  // Near.
      -10, -10, 80, -10, 10, 80, 10, 0, 80;     // Far, same footprint at 80/50.
  for (bool near_first : {true, false}) {
    std::vector<Triangle> tris;
    if (near_first) tris = {{0, 2, 1}, {3, 5, 4}};
    else tris = {{3, 5, 4}, {0, 2, 1}};
    RasterBuffers buffers;
    Rasterizer::Create({.cull_back_faces = false}).Render(cam, tris, camera, &buffers);
    const int near_id = near_first ? 0 : 1;
    const cv::Point centre(32, 32);
    EXPECT_EQ(buffers.triangle.at<int>(centre), near_id);
    EXPECT_NEAR(buffers.depth.at<float>(centre), 50.f, 1e-3f);
  }
}

TEST(RasterizerTest, RendersTheModelFaceWithTheNoseTipInFront) {
  const auto& model = faceanime::testing::TestModel();
  const Part parts[] = {Part::kFace, Part::kHeadAndNeck};
  const PartMesh mesh = PartMesh::Create(model, parts);
  EXPECT_EQ(mesh.num_vertices(), 11248);
  face3d::FaceParams params;
  params.pose.translation = Eigen::Vector3d(0, 0, 60);
  const Camera camera = SmallCamera(256);
  RasterBuffers front, both;
  Rasterizer::Create({}).Render(mesh, params, camera, &front);
  Rasterizer::Create({.cull_back_faces = false}).Render(mesh, params, camera, &both);
  // The nose tip (landmark 30, model z = 13.1) is the nearest point.
  const int nose = model.landmark_vertices()[30];
  const face3d::Vertices v = model.EvaluateSubset(std::vector<int>{nose}, {}, {});
  const auto xy = face3d::Project(v, params.pose, camera);
  const cv::Point p(static_cast<int>(std::lround(xy(0, 0))), static_cast<int>(std::lround(xy(0, 1))));
  EXPECT_NEAR(front.depth.at<float>(p), 60.f - v(0, 2), 0.2f);
  EXPECT_EQ(mesh.triangle_parts()[front.triangle.at<int>(p)], Part::kFace);
  // Culling removes only surfaces seen from behind: without it nothing is
  // lost, and only a little (the inside of the head, seen through the eye and
  // mouth openings) is added.
  EXPECT_EQ(cv::countNonZero(front.mask & ~both.mask), 0);
  EXPECT_LT(cv::countNonZero(both.mask & ~front.mask), 0.02 * cv::countNonZero(front.mask));
  EXPECT_GT(cv::countNonZero(front.mask), 8000);
  double min_depth;
  cv::minMaxLoc(front.depth, &min_depth);
  EXPECT_NEAR(min_depth, 60.f - v(0, 2), 0.3);
}

TEST(RasterizerTest, UvsOfEachPartLieInItsUdimTile) {
  const auto& model = faceanime::testing::TestModel();
  const Part parts[] = {Part::kFace, Part::kHeadAndNeck};
  const PartMesh mesh = PartMesh::Create(model, parts);
  face3d::FaceParams params;
  params.pose.translation = Eigen::Vector3d(0, 0, 60);
  params.pose.rotation = face3d::RotationFromEuler({40, 0, 0});  // Shows the head's side.
  RasterBuffers buffers;
  Rasterizer::Create({}).Render(mesh, params, SmallCamera(200), &buffers);
  const cv::Mat uv = InterpolateUv(buffers, mesh, model);
  int face = 0, head = 0;
  for (int y = 0; y < uv.rows; ++y) {
    for (int x = 0; x < uv.cols; ++x) {
      const int t = buffers.triangle.at<int>(y, x);
      if (t < 0) continue;
      const cv::Vec2f c = uv.at<cv::Vec2f>(y, x);
      const int tile = mesh.triangle_parts()[t] == Part::kFace ? 0 : 1;
      ASSERT_GE(c[0], tile - 1e-4f);
      ASSERT_LE(c[0], tile + 1 + 1e-4f);
      ASSERT_GE(c[1], -1e-4f);
      ASSERT_LE(c[1], 1 + 1e-4f);
      (tile == 0 ? face : head) += 1;
    }
  }
  EXPECT_GT(face, 1000);
  EXPECT_GT(head, 200);
}

TEST(RasterizerTest, PartMeshEvaluationMatchesTheModelAndTracksIdentity) {
  const auto& model = faceanime::testing::TestModel();
  const Part parts[] = {Part::kFace};
  const PartMesh mesh = PartMesh::Create(model, parts);
  face3d::FaceParams params;
  params.identity[0] = 1.5;
  params.expression[model.ExpressionIndex("jawOpen")] = 0.6;
  // PartMesh evaluation matches the model's own evaluation.
  const Positions mine = mesh.Evaluate(params);
  const face3d::Vertices ref = model.EvaluateSubset(mesh.vertex_ids(), params.identity, params.expression);
  EXPECT_LT((mine - ref).cwiseAbs().maxCoeff(), 1e-4f);
  params.identity[0] = -0.5;  // Identity cache must notice the change.
  const face3d::Vertices ref2 = model.EvaluateSubset(mesh.vertex_ids(), params.identity, params.expression);
  EXPECT_LT((mesh.Evaluate(params) - ref2).cwiseAbs().maxCoeff(), 1e-4f);
}

TEST(RasterizerTest, DepthOnlyRenderGivesTheSameZBuffer) {
  const auto& model = faceanime::testing::TestModel();
  const Part parts[] = {Part::kFace, Part::kHeadAndNeck, Part::kTeeth};
  const PartMesh mesh = PartMesh::Create(model, parts);
  face3d::FaceParams params;
  params.pose.rotation = face3d::RotationFromEuler({25, -10, 5});
  params.pose.translation = Eigen::Vector3d(1, -2, 55);
  const Positions cam = PartMesh::ToCamera(mesh.Evaluate(params), params.pose);
  for (const bool cull : {true, false}) {
    const Rasterizer raster = Rasterizer::Create({.cull_back_faces = cull});
    RasterBuffers full;
    raster.Render(cam, mesh.triangles(), SmallCamera(200), &full);
    cv::Mat depth(3, 3, CV_32F, cv::Scalar(7));  // Stale contents are cleared.
    raster.RenderDepth(cam, mesh.triangles(), SmallCamera(200), &depth);
    ASSERT_EQ(depth.size(), full.depth.size());
    EXPECT_GT(cv::countNonZero(full.mask), 5000);
    // Bit-identical, +inf where empty.
    EXPECT_EQ(std::memcmp(depth.data, full.depth.data, depth.total() * sizeof(float)), 0) << "cull " << cull;
  }
  cv::Mat depth;
  EXPECT_THROW(Rasterizer::Create({}).RenderDepth(cam, mesh.triangles(), Camera{}, &depth), std::invalid_argument);
}

TEST(RasterizerTest, RejectsBadOptionsAndEmptyCameras) {
  EXPECT_THROW(Rasterizer::Create({.near_cm = 0.f}), std::invalid_argument);
  RasterBuffers buffers;
  EXPECT_THROW(Rasterizer::Create({}).Render(FrontFacingTriangle(), std::vector<Triangle>{{0, 1, 2}}, Camera{}, &buffers),
               std::invalid_argument);
}

}  // namespace
}  // namespace faceanime::render
