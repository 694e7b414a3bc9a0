// Calibrates face3d::DefaultLandmarkOffsets: where the face-api 68-point net
// places its points relative to ICT-FaceKit's landmark vertices.
//
//   build/tools/calibrate_landmarks [--shared ../shared] > offsets.txt
//
// Data (none of it the London set, which tests/face3d/london_fit_test.cc
// evaluates on): every 5th frame of the 5 GRID clips in data/grid/speakers
// and of every 10th clip of data/grid/s1 (6 speakers), and
// images/grace_hopper.jpg; images/astronaut.png is left out (a broad smile,
// not a neutral face). Only frames with the mouth closed are used (mean
// inner-lip gap, landmarks 61-67 / 63-65 / 62-66, below 0.08 inter-ocular
// distances), so the calibration faces are close to neutral.
//
// Method: fit every frame (FaceAnalyzer's detection and landmarks, the
// single-image fit with the expression held near neutral by a 1000x L1
// prior), back-project each landmark's image residual into model space
// (camera-plane offset at the point's depth, rotated into the model frame),
// average per speaker and then over speakers (each person counts once),
// add that to the offsets and repeat until the mean update is below
// 0.003 cm (at most 40 rounds). The result is made left-right symmetric
// (averaged with the mirrored offset of the mirrored landmark; the
// annotation convention is symmetric, the noise is not) and printed as 68
// lines "x y z" (cm, model space) to paste into face3d/landmark_offsets.cc.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "face3d/face_fitter.h"
#include "face3d/landmarker.h"
#include "face3d/morphable_model.h"
#include "pipeline/face_analyzer.h"

namespace {

using faceanime::face3d::Camera;
using faceanime::face3d::FaceFitter;
using faceanime::face3d::FitOptions;
using faceanime::face3d::FitResult;
using faceanime::face3d::InnerLipGap;
using faceanime::face3d::InterOcularDistance;
using faceanime::face3d::kNumLandmarks;
using faceanime::face3d::Landmarks68;
using faceanime::face3d::LandmarkOffsets;
using faceanime::face3d::Landmarker;
using faceanime::face3d::ZeroLandmarkOffsets;

constexpr double kMaxLipGapIod = 0.08;
constexpr double kExpressionL1 = 1000.0;
constexpr double kStopUpdateCm = 0.003;
constexpr int kMaxRounds = 40;
constexpr int kFrameStride = 5;
constexpr int kClipStride = 10;

struct Sample {
  std::string person;
  Landmarks68 landmarks;
  Camera camera;
};

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path shared = "../shared";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--shared") == 0 && i + 1 < argc) {
      shared = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--shared DIR]\n", argv[0]);
      return 2;
    }
  }
  if (!std::filesystem::is_directory(shared / "data" / "grid" / "speakers")) {
    std::fprintf(stderr, "calibrate_landmarks: %s has no data/grid/speakers (pass --shared DIR)\n",
                 shared.string().c_str());
    return 1;
  }
  faceanime::pipeline::FaceAnalyzerOptions analyzer_options;
  analyzer_options.num_threads = 1;
  const auto analyzer = faceanime::pipeline::FaceAnalyzer::Create(analyzer_options);

  std::vector<Sample> samples;
  int seen = 0;
  auto add = [&](const std::string& person, const cv::Mat& bgr) {
    ++seen;
    const auto obs = analyzer->AnalyzeStill(faceanime::ViewOf(bgr, faceanime::PixelFormat::kBgr));
    if (!obs || InnerLipGap(obs->landmarks) > kMaxLipGapIod * InterOcularDistance(obs->landmarks)) return;
    samples.push_back({person, obs->landmarks, obs->camera});
  };
  add("grace_hopper", cv::imread((shared / "images" / "grace_hopper.jpg").string(), cv::IMREAD_COLOR));
  std::vector<std::pair<std::string, std::filesystem::path>> clips;
  for (const auto& e : std::filesystem::directory_iterator(shared / "data" / "grid" / "speakers")) {
    clips.push_back({e.path().stem().string(), e.path()});
  }
  std::vector<std::filesystem::path> s1;
  if (std::filesystem::is_directory(shared / "data" / "grid" / "s1")) {
    for (const auto& e : std::filesystem::directory_iterator(shared / "data" / "grid" / "s1")) s1.push_back(e.path());
  }
  std::sort(s1.begin(), s1.end());
  std::sort(clips.begin(), clips.end());
  for (size_t i = 0; i < s1.size(); i += kClipStride) clips.push_back({"s1", s1[i]});
  for (const auto& [person, path] : clips) {
    cv::VideoCapture capture(path.string());
    cv::Mat frame;
    for (int f = 0; capture.read(frame); ++f) {
      if (f % kFrameStride == 0) add(person, frame);
    }
  }
  std::map<std::string, int> per_person;
  for (const auto& s : samples) ++per_person[s.person];
  std::fprintf(stderr, "calibrate_landmarks: %zu of %d frames with a closed mouth, %zu people\n", samples.size(), seen,
               per_person.size());
  if (per_person.size() < 2) {
    std::fprintf(stderr, "calibrate_landmarks: too few people to calibrate on\n");
    return 1;
  }

  const auto model = faceanime::face3d::MorphableModel::Load(faceanime::face3d::MorphableModel::DefaultPath());
  LandmarkOffsets offsets = ZeroLandmarkOffsets();
  for (int round = 0; round < kMaxRounds; ++round) {
    FitOptions options;
    options.expression_l1_weight = kExpressionL1;
    options.landmark_offsets_cm = offsets;
    const FaceFitter fitter = FaceFitter::Create(model, options);
    std::map<std::string, std::pair<LandmarkOffsets, int>> sums;
    double rmse = 0.0;
    for (const Sample& s : samples) {
      const FitResult fit = fitter.Fit(s.landmarks, s.camera);
      rmse += fit.rmse_px;
      auto& [sum, n] = sums.try_emplace(s.person, ZeroLandmarkOffsets(), 0).first->second;
      const Eigen::Matrix3d r = fit.params.pose.ModelToCameraRotation();
      const auto rows = fitter.landmark_model().SelectRows(fit.params, s.camera, &s.landmarks);
      for (int k = 0; k < kNumLandmarks; ++k) {
        const Eigen::Vector3d x =
            fitter.landmark_model().RowPosition(rows[k], fit.params.identity, fit.params.expression);
        const Eigen::Vector3d p = r * x + fit.params.pose.translation;
        const Eigen::Vector2d projected = s.camera.Project(p);
        const Eigen::Vector2d d = (s.landmarks[k] - projected) * p.z() / s.camera.focal;  // cm, camera plane.
        sum[k] += r.transpose() * Eigen::Vector3d(d.x(), d.y(), 0.0);
      }
      ++n;
    }
    double update = 0.0;
    for (int k = 0; k < kNumLandmarks; ++k) {
      Eigen::Vector3d mean = Eigen::Vector3d::Zero();
      for (const auto& [person, sn] : sums) mean += sn.first[k] / sn.second;
      mean /= static_cast<double>(sums.size());
      mean.z() = 0.0;  // Depth is not observed.
      offsets[k] += mean;
      update += mean.norm() / kNumLandmarks;
    }
    std::fprintf(stderr, "round %d: mean RMSE %.3f px, mean update %.4f cm\n", round,
                 rmse / static_cast<double>(samples.size()), update);
    if (update < kStopUpdateCm) break;
  }
  LandmarkOffsets symmetric;
  for (int k = 0; k < kNumLandmarks; ++k) {
    Eigen::Vector3d mirrored = offsets[Landmarker::kMirror[k]];
    mirrored.x() = -mirrored.x();
    symmetric[k] = 0.5 * (offsets[k] + mirrored);
  }
  for (const auto& o : symmetric) std::printf("%.4f %.4f %.4f\n", o.x(), o.y(), o.z());
  return 0;
}
