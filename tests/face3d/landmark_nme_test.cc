// Issue 4 acceptance: landmark accuracy (NME) against exact ground truth.
// Heads drawn from the ICT model (random identity, expression, pose up to
// +-30 deg yaw) are rendered with the project's rasteriser (render/): Gouraud
// shading of a skin tone, procedural features that move with the surface
// (dark brows, red lips, white eyeballs with dark iris and pupil, dark
// nostrils, mouth interior from the model's own socket/teeth/tongue parts),
// 2x supersampled, composited on a textured background. The ground-truth 68
// points are LandmarkModel::Project (fixed vertices for the inner points,
// silhouette selection for the jaw contour). The face box comes from the
// BlazeFace detector on the rendered image (the test counts how often it
// finds the head); the Landmarker gets the detector's box.
//
// NME = mean over the 68 points of |predicted - truth| / the inter-ocular
// distance (outer eye corners 36/45 of the truth). It includes the
// definitional gap between the ICT landmark vertices and the Multi-PIE
// annotation convention the nets were trained on (e.g. the brow line, the
// jaw contour), so it is an upper bound on the nets' own error.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "face3d/face_detector.h"
#include "face3d/face_fitter.h"
#include "face3d/landmarker.h"
#include "render/part_mesh.h"
#include "render/rasterizer.h"
#include "tests/face3d/synthetic_face.h"
#include "tests/test_support.h"

namespace faceanime::face3d {
namespace {

constexpr int kImageSize = 512;
constexpr int kNumRenders = 40;

using Vec3f = Eigen::Vector3f;

// Distance from p to segment ab.
float SegmentDistance(const Vec3f& p, const Vec3f& a, const Vec3f& b) {
  const Vec3f ab = b - a;
  const float t = std::clamp((p - a).dot(ab) / ab.squaredNorm(), 0.0f, 1.0f);
  return (p - (a + t * ab)).norm();
}

// Point-in-polygon in the model's XY plane (even-odd rule).
bool InsideXY(const Vec3f& p, const std::vector<Vec3f>& polygon) {
  bool inside = false;
  for (size_t i = 0, j = polygon.size() - 1; i < polygon.size(); j = i++) {
    const Vec3f& a = polygon[i];
    const Vec3f& b = polygon[j];
    if ((a.y() > p.y()) != (b.y() > p.y()) &&
        p.x() < (b.x() - a.x()) * (p.y() - a.y()) / (b.y() - a.y()) + a.x()) {
      inside = !inside;
    }
  }
  return inside;
}

// A face-like coloured head: the mesh, per-vertex albedo (RGB 0-1), rendered
// with a directional light.
class FaceRenderer {
 public:
  explicit FaceRenderer(const MorphableModel& model)
      : model_(model),
        mesh_(render::PartMesh::Create(model, kParts)),
        raster_(render::Rasterizer::Create({})) {
    auto neutral = [&](int vertex) {
      const float* p = model.neutral() + 3 * vertex;
      return Vec3f(p[0], p[1], p[2]);
    };
    const auto& lm = model.landmark_vertices();
    std::vector<Vec3f> outer_lip;
    for (int i = 48; i < 60; ++i) outer_lip.push_back(neutral(lm[i]));
    // Eyeball centres (mean of each eyeball's vertices) for the iris.
    Vec3f centre[2] = {Vec3f::Zero(), Vec3f::Zero()};
    int count[2] = {0, 0};
    std::vector<int> vertex_part(mesh_.num_vertices(), -1);
    for (int t = 0; t < mesh_.num_triangles(); ++t) {
      for (int c = 0; c < 3; ++c) vertex_part[mesh_.triangles()[t][c]] = static_cast<int>(mesh_.triangle_parts()[t]);
    }
    for (int m = 0; m < mesh_.num_vertices(); ++m) {
      const int eye = vertex_part[m] == static_cast<int>(Part::kEyeballLeft)    ? 0
                      : vertex_part[m] == static_cast<int>(Part::kEyeballRight) ? 1
                                                                                : -1;
      if (eye < 0) continue;
      centre[eye] += neutral(mesh_.vertex_ids()[m]);
      ++count[eye];
    }
    for (int e = 0; e < 2; ++e) centre[e] /= std::max(count[e], 1);

    const Vec3f skin(0.86f, 0.66f, 0.55f), brow(0.20f, 0.13f, 0.09f), lip(0.72f, 0.32f, 0.33f);
    albedo_.resize(3 * mesh_.num_vertices());
    for (int m = 0; m < mesh_.num_vertices(); ++m) {
      const Vec3f p = neutral(mesh_.vertex_ids()[m]);
      const Part part = static_cast<Part>(vertex_part[m]);
      Vec3f c = skin;
      switch (part) {
        case Part::kFace: {
          float d_brow = 1e9f;
          for (int i = 17; i < 26; ++i) {
            if (i == 21) continue;  // 21-22 spans the glabella.
            d_brow = std::min(d_brow, SegmentDistance(p, neutral(lm[i]), neutral(lm[i + 1])));
          }
          if (d_brow < 0.45f) c = brow;
          if (p.z() > neutral(lm[48]).z() - 1.0f && InsideXY(p, outer_lip)) c = lip;
          const float d_nostril =
              std::min((p - neutral(lm[32])).norm(), (p - neutral(lm[34])).norm());
          if (d_nostril < 0.35f) c = 0.55f * skin;
          break;
        }
        case Part::kEyeballLeft:
        case Part::kEyeballRight: {
          const Vec3f dir = (p - centre[part == Part::kEyeballLeft ? 0 : 1]).normalized();
          c = dir.z() > 0.97f ? Vec3f(0.04f, 0.03f, 0.03f)
              : dir.z() > 0.86f ? Vec3f(0.30f, 0.20f, 0.12f)
                                : Vec3f(0.92f, 0.90f, 0.88f);
          break;
        }
        case Part::kEyeSocketLeft:
        case Part::kEyeSocketRight: c = Vec3f(0.25f, 0.15f, 0.13f); break;
        case Part::kMouthSocket: c = Vec3f(0.35f, 0.10f, 0.11f); break;
        case Part::kGumsAndTongue: c = Vec3f(0.75f, 0.38f, 0.40f); break;
        case Part::kTeeth: c = Vec3f(0.93f, 0.91f, 0.84f); break;
        default: break;
      }
      for (int k = 0; k < 3; ++k) albedo_[3 * m + k] = c[k];
    }
  }

  // RGB CV_8UC3 of the camera's size: the head over `background`.
  cv::Mat Render(const FaceParams& params, const Camera& camera, const cv::Mat& background) const {
    // 2x supersampling: low-res pixel centre x maps to 2x + 0.5.
    Camera hi = camera;
    hi.focal *= 2;
    hi.cx = 2 * camera.cx + 0.5;
    hi.cy = 2 * camera.cy + 0.5;
    hi.width *= 2;
    hi.height *= 2;
    render::RasterBuffers buffers;
    const render::Positions cam = raster_.Render(mesh_, params, hi, &buffers);
    // Vertex normals (camera space, outward), then Lambert + ambient.
    std::vector<Vec3f> normals(mesh_.num_vertices(), Vec3f::Zero());
    for (const auto& t : mesh_.triangles()) {
      const Vec3f a = cam.row(t[0]).transpose(), b = cam.row(t[1]).transpose(), c = cam.row(t[2]).transpose();
      const Vec3f n = (b - a).cross(c - a);
      for (int k = 0; k < 3; ++k) normals[t[k]] += n;
    }
    const Vec3f light = Vec3f(-0.3f, -0.4f, -1.0f).normalized();  // Towards the light: above-left of the camera.
    std::vector<float> shaded(3 * mesh_.num_vertices());
    for (int m = 0; m < mesh_.num_vertices(); ++m) {
      const float lambert = std::max(0.0f, normals[m].normalized().dot(light));
      const float s = 255.0f * (0.35f + 0.65f * lambert);
      for (int k = 0; k < 3; ++k) shaded[3 * m + k] = s * albedo_[3 * m + k];
    }
    const cv::Mat colour = render::InterpolateAttribute(buffers, mesh_.triangles(), shaded.data(), 3);
    cv::Mat bg_hi, out_hi;
    cv::resize(background, bg_hi, {hi.width, hi.height}, 0, 0, cv::INTER_LINEAR);
    bg_hi.convertTo(out_hi, CV_32FC3);
    colour.copyTo(out_hi, buffers.mask);
    cv::Mat out;
    cv::resize(out_hi, out, {camera.width, camera.height}, 0, 0, cv::INTER_AREA);
    out.convertTo(out, CV_8UC3);
    return out;
  }

 private:
  static constexpr Part kParts[] = {Part::kFace,          Part::kHeadAndNeck,    Part::kMouthSocket,
                                    Part::kEyeSocketLeft, Part::kEyeSocketRight, Part::kGumsAndTongue,
                                    Part::kTeeth,         Part::kEyeballLeft,    Part::kEyeballRight};
  const MorphableModel& model_;
  render::PartMesh mesh_;
  render::Rasterizer raster_;
  std::vector<float> albedo_;
};

// A smooth textured RGB background (gradients and waves).
cv::Mat Background(int seed) {
  cv::Mat out(kImageSize, kImageSize, CV_8UC3);
  for (int y = 0; y < kImageSize; ++y) {
    for (int x = 0; x < kImageSize; ++x) {
      out.at<cv::Vec3b>(y, x) =
          cv::Vec3b(cv::saturate_cast<uint8_t>(110 + 50 * std::sin(0.03 * x + seed) + 30 * std::cos(0.05 * y)),
                    cv::saturate_cast<uint8_t>(120 + 0.1 * x + 40 * std::sin(0.02 * (x + y) + 2 * seed)),
                    cv::saturate_cast<uint8_t>(100 + 0.15 * y + 40 * std::cos(0.04 * x - seed)));
    }
  }
  return out;
}

// Random identity N(0, 0.8^2), 3 landmark-moving expressions in [0, 0.7],
// yaw +-30, pitch +-15, roll +-10 deg, 45-55 cm away (face ~150 px wide).
FaceParams RandomRenderFace(const MorphableModel& model, std::mt19937& rng) {
  FaceParams p;
  std::normal_distribution<double> normal(0.0, 0.8);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  auto uniform = [&](double lo, double hi) { return lo + (hi - lo) * unit(rng); };
  for (double& w : p.identity) w = normal(rng);
  std::vector<int> moving = testing::LandmarkMovingExpressions(model);
  std::shuffle(moving.begin(), moving.end(), rng);
  for (int i = 0; i < 3; ++i) p.expression[moving[i]] = uniform(0, 0.7);
  p.pose.rotation = RotationFromEuler({uniform(-30, 30), uniform(-15, 15), uniform(-10, 10)});
  p.pose.translation = Eigen::Vector3d(uniform(-3, 3), uniform(-3, 3), uniform(45, 55));
  return p;
}

// Over landmarks [first, 68): 0 = all 68, 17 = the 51 inner points (no jaw).
double Nme(const Landmarks68& predicted, const Landmarks68& truth, int first = 0) {
  const double iod = (truth[36] - truth[45]).norm();
  double sum = 0.0;
  for (int i = first; i < kNumLandmarks; ++i) sum += (predicted[i] - truth[i]).norm();
  return sum / (kNumLandmarks - first) / iod;
}

double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(std::round(q * (v.size() - 1)))];
}

struct Scene {
  FaceParams params;
  cv::Mat rgb;
  Landmarks68 truth;
  // The same heads' landmarks with the fitter's calibrated offsets
  // (DefaultLandmarkOffsets: fitted on GRID frames, not on renders).
  Landmarks68 truth_calibrated;
  std::optional<FaceDetection> face;
};

// The rendered scenes, made once per process.
const std::vector<Scene>& Scenes() {
  static const std::vector<Scene> scenes = [] {
    const MorphableModel& model = testing::TestModel();
    const LandmarkModel landmarks = LandmarkModel::Create(model);
    const LandmarkModel calibrated = LandmarkModel::Create(model, DefaultLandmarkOffsets());
    const FaceRenderer renderer(model);
    const FaceDetector detector = FaceDetector::Create();
    const Camera camera = Camera::ForImage(kImageSize, kImageSize);
    std::mt19937 rng(2024);
    std::vector<Scene> out;
    for (int i = 0; i < kNumRenders; ++i) {
      Scene s;
      s.params = RandomRenderFace(model, rng);
      s.rgb = renderer.Render(s.params, camera, Background(i));
      s.truth = landmarks.Project(s.params, camera);
      s.truth_calibrated = calibrated.Project(s.params, camera);
      s.face = LargestFace(detector.Detect(ViewOf(s.rgb, PixelFormat::kRgb)));
      out.push_back(std::move(s));
    }
    return out;
  }();
  return scenes;
}

struct NmeFigures {
  std::vector<double> nme;        // All 68 points.
  std::vector<double> inner_nme;  // Points 17-67.
  std::vector<double> calibrated_nme;  // All 68 points against truth_calibrated.
  int detected = 0;
};

NmeFigures Measure(bool tiny) {
  Landmarker::Options options;
  options.tiny = tiny;
  const auto landmarker = Landmarker::Create(options);
  NmeFigures out;
  for (const Scene& s : Scenes()) {
    if (!s.face) continue;
    ++out.detected;
    const Landmarks68 points = landmarker->Detect(ViewOf(s.rgb, PixelFormat::kRgb), s.face->box).points;
    out.nme.push_back(Nme(points, s.truth));
    out.inner_nme.push_back(Nme(points, s.truth, 17));
    out.calibrated_nme.push_back(Nme(points, s.truth_calibrated));
  }
  return out;
}

double Mean(const std::vector<double>& v) {
  double sum = 0.0;
  for (double x : v) sum += x;
  return sum / std::max<size_t>(v.size(), 1);
}

void Report(const char* name, const NmeFigures& f) {
  std::printf(
      "%s net: detected %d/%d renders; NME (inter-ocular) mean %.4f median %.4f p90 %.4f max %.4f; "
      "inner 51 points mean %.4f; against the calibrated landmark offsets mean %.4f\n",
      name, f.detected, kNumRenders, Mean(f.nme), Percentile(f.nme, 0.5), Percentile(f.nme, 0.9),
      Percentile(f.nme, 1.0), Mean(f.inner_nme), Mean(f.calibrated_nme));
  ::testing::Test::RecordProperty(std::string(name) + "_nme_mean", std::to_string(Mean(f.nme)));
}

TEST(LandmarkNmeTest, TheDetectorFindsTheRenderedHeads) {
  int detected = 0;
  for (const Scene& s : Scenes()) {
    if (!s.face) continue;
    ++detected;
    // The detection covers the true face: the box holds the nose tip.
    EXPECT_TRUE(s.face->box.contains(s.truth[30]));
  }
  // Measured: 40 of 40.
  EXPECT_GE(detected, kNumRenders * 9 / 10);
}

TEST(LandmarkNmeTest, FullNetNmeOnRenderedIctHeads) {
  const NmeFigures f = Measure(/*tiny=*/false);
  Report("full", f);
  ASSERT_FALSE(f.nme.empty());
  // Measured (seed 2024, 40 renders): mean 0.0732, median 0.0697, p90
  // 0.0902, max 0.1379; the 51 inner points alone: mean 0.0495.
  EXPECT_LT(Mean(f.nme), 0.10);
  EXPECT_LT(Percentile(f.nme, 0.5), 0.095);
  EXPECT_LT(Percentile(f.nme, 1.0), 0.20);  // No gross failure.
}

// The landmark offsets calibrated on GRID frames (DefaultLandmarkOffsets)
// describe the net's convention on these renders too, data they were not
// made from: measured NME mean 0.0732 -> 0.0649 (full net), 0.0849 ->
// 0.0778 (tiny).
TEST(LandmarkNmeTest, CalibratedLandmarkOffsetsBringTheModelCloserToTheNet) {
  for (const bool tiny : {false, true}) {
    const NmeFigures f = Measure(tiny);
    ASSERT_FALSE(f.nme.empty());
    EXPECT_LT(Mean(f.calibrated_nme), 0.95 * Mean(f.nme)) << (tiny ? "tiny" : "full");
  }
}

TEST(LandmarkNmeTest, TinyNetNmeOnRenderedIctHeads) {
  const NmeFigures f = Measure(/*tiny=*/true);
  Report("tiny", f);
  ASSERT_FALSE(f.nme.empty());
  // Measured: mean 0.0849, median 0.0778, p90 0.1101, max 0.1828
  // (the 51 inner points alone: mean 0.0601).
  EXPECT_LT(Mean(f.nme), 0.115);
  EXPECT_LT(Percentile(f.nme, 0.5), 0.105);
  EXPECT_LT(Percentile(f.nme, 1.0), 0.25);
}

}  // namespace
}  // namespace faceanime::face3d
