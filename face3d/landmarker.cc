#include "face3d/landmarker.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <stdexcept>
#include <utility>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "face3d/face_api_nets.h"
#include "face3d/tfjs_weights.h"

namespace faceanime::face3d {
namespace {

// ICT-FaceKit (MIT licence) neutral face, landmark vertices (x, -y), centred
// and scaled to unit RMS radius. Generated from the converted model;
// landmarker_test checks it against MorphableModel::neutral().
constexpr double kMeanShapeTable[kNumLandmarks][2] = {
    {-1.3438, -0.7184}, {-1.3279, -0.3196}, {-1.2661, 0.0368}, {-1.1966, 0.3826},
    {-1.0446, 0.7714}, {-0.7852, 1.0854}, {-0.5568, 1.2141}, {-0.2805, 1.2771},
    {-0.0000, 1.3336}, {0.2805, 1.2771}, {0.5568, 1.2141}, {0.7852, 1.0854},
    {1.0446, 0.7714}, {1.1966, 0.3826}, {1.2661, 0.0368}, {1.3279, -0.3196},
    {1.3438, -0.7184}, {-1.0613, -0.9962}, {-0.9002, -1.1382}, {-0.6923, -1.1890},
    {-0.4407, -1.1774}, {-0.2139, -1.1257}, {0.2139, -1.1257}, {0.4407, -1.1774},
    {0.6923, -1.1890}, {0.9002, -1.1382}, {1.0613, -0.9962}, {-0.0000, -0.7302},
    {-0.0000, -0.5282}, {-0.0000, -0.3416}, {-0.0000, -0.1215}, {-0.2287, 0.1615},
    {-0.1099, 0.1602}, {-0.0000, 0.1722}, {0.1099, 0.1602}, {0.2287, 0.1615},
    {-0.8138, -0.6738}, {-0.7061, -0.7546}, {-0.5076, -0.7658}, {-0.3365, -0.6409},
    {-0.4981, -0.6104}, {-0.7037, -0.6080}, {0.3366, -0.6410}, {0.5076, -0.7658},
    {0.7061, -0.7546}, {0.8138, -0.6738}, {0.7037, -0.6080}, {0.4981, -0.6104},
    {-0.4626, 0.5949}, {-0.3106, 0.4593}, {-0.1329, 0.3946}, {-0.0000, 0.4056},
    {0.1329, 0.3946}, {0.3106, 0.4593}, {0.4626, 0.5949}, {0.3287, 0.6929},
    {0.1888, 0.7377}, {-0.0000, 0.7514}, {-0.1888, 0.7377}, {-0.3287, 0.6929},
    {-0.4032, 0.5895}, {-0.1818, 0.5542}, {-0.0000, 0.5591}, {0.1818, 0.5542},
    {0.4032, 0.5895}, {0.1951, 0.5694}, {-0.0000, 0.5730}, {-0.1951, 0.5694},
};

}  // namespace

Landmarker::Landmarker(const Options& options, std::unique_ptr<internal::FaceApiNet> net)
    : options_(options), net_(std::move(net)) {}

Landmarker::~Landmarker() = default;

std::unique_ptr<Landmarker> Landmarker::Create() { return Create(Options{}); }

std::unique_ptr<Landmarker> Landmarker::Create(const Options& options) {
  Options resolved = options;
  if (resolved.model_dir.empty()) resolved.model_dir = DefaultFaceApiModelDir();
  if (resolved.num_threads < 1) throw std::invalid_argument("Landmarker: num_threads must be >= 1");
  if (!(resolved.crop_scale > 0) || !std::isfinite(resolved.crop_scale)) {
    throw std::invalid_argument("Landmarker: crop_scale must be > 0");
  }
  auto net = internal::FaceApiNet::Load(resolved.tiny ? internal::FaceApiNetKind::kLandmark68Tiny
                                                      : internal::FaceApiNetKind::kLandmark68,
                                        resolved.model_dir, resolved.num_threads);
  return std::unique_ptr<Landmarker>(new Landmarker(resolved, std::move(net)));
}

SquareCrop Landmarker::CropFor(const Eigen::AlignedBox2d& face_box) const {
  return SquareCropAround(face_box, options_.crop_scale);
}

const std::array<int, kNumLandmarks> Landmarker::kMirror = {
    16, 15, 14, 13, 12, 11, 10, 9,  8,  7,  6,  5,  4,  3,  2,  1,  0,   // Jaw.
    26, 25, 24, 23, 22, 21, 20, 19, 18, 17,                              // Brows.
    27, 28, 29, 30, 35, 34, 33, 32, 31,                                  // Nose.
    45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,                      // Eyes.
    54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55,                      // Outer lips.
    64, 63, 62, 61, 60, 67, 66, 65};                                     // Inner lips.

LandmarkResult Landmarker::Detect(const ImageView& image, const Eigen::AlignedBox2d& face_box,
                                  Diagnostics* diagnostics) const {
  const SquareCrop crop = CropFor(face_box);
  std::vector<cv::Mat> inputs = {CropToRgb(image, crop, net_->input_size())};
  if (options_.flip_check) {
    inputs.emplace_back();
    cv::flip(inputs[0], inputs[1], 1);
  }
  const std::vector<std::vector<float>> out = net_->RunBatch(inputs);
  std::array<Eigen::Vector2d, kNumLandmarks> relative;
  LandmarkResult result;
  for (int i = 0; i < kNumLandmarks; ++i) {
    relative[i] = {out[0][2 * i], out[0][2 * i + 1]};
    result.points[i] = crop.ToImage(relative[i]);
  }
  const double residual = ShapeResidual(result.points);
  double flip = std::numeric_limits<double>::quiet_NaN();
  result.confidence = std::clamp((kResidualBad - residual) / (kResidualBad - kResidualGood), 0.0, 1.0);
  if (options_.flip_check) {
    std::array<Eigen::Vector2d, kNumLandmarks> mirrored_back;
    for (int i = 0; i < kNumLandmarks; ++i) {
      const int j = kMirror[i];
      mirrored_back[i] = {1.0 - out[1][2 * j], out[1][2 * j + 1]};
    }
    flip = FlipDisagreement(relative, mirrored_back);
    result.confidence *= FlipConfidence(flip, options_.tiny);
  }
  cv::Mat luma;
  cv::cvtColor(inputs[0], luma, cv::COLOR_RGB2GRAY);
  cv::Scalar mean, stddev;
  cv::meanStdDev(luma, mean, stddev);
  const double contrast = stddev[0];
  result.confidence *= std::min(1.0, contrast / kMinContrast);
  if (diagnostics != nullptr) *diagnostics = {residual, flip, contrast};
  return result;
}

double Landmarker::FlipDisagreement(const std::array<Eigen::Vector2d, kNumLandmarks>& p,
                                    const std::array<Eigen::Vector2d, kNumLandmarks>& q_mirrored) {
  Eigen::Vector2d centre = Eigen::Vector2d::Zero();
  for (const Eigen::Vector2d& x : p) centre += x;
  centre /= kNumLandmarks;
  double spread = 0.0;
  double error = 0.0;
  for (int i = 0; i < kNumLandmarks; ++i) {
    spread += (p[i] - centre).squaredNorm();
    error += (p[i] - q_mirrored[i]).squaredNorm();
  }
  if (!(spread > 0) || !std::isfinite(error)) return std::numeric_limits<double>::infinity();
  return std::sqrt(error / spread);
}

double Landmarker::FlipConfidence(double flip_disagreement, bool tiny) {
  if (std::isnan(flip_disagreement)) return 0.0;
  const double good = tiny ? kTinyFlipGood : kFlipGood;
  const double bad = tiny ? kTinyFlipBad : kFlipBad;
  return std::clamp((bad - flip_disagreement) / (bad - good), 0.0, 1.0);
}

const std::array<Eigen::Vector2d, kNumLandmarks>& Landmarker::MeanShape() {
  static const auto* shape = [] {
    auto* s = new std::array<Eigen::Vector2d, kNumLandmarks>;
    for (int i = 0; i < kNumLandmarks; ++i) (*s)[i] = {kMeanShapeTable[i][0], kMeanShapeTable[i][1]};
    return s;
  }();
  return *shape;
}

double Landmarker::ShapeResidual(const Landmarks68& points) {
  const auto& mean = MeanShape();
  Eigen::Vector2d centre = Eigen::Vector2d::Zero();
  Eigen::Vector2d mean_centre = Eigen::Vector2d::Zero();
  for (int i = 0; i < kNumLandmarks; ++i) {
    centre += points[i];
    mean_centre += mean[i];
  }
  centre /= kNumLandmarks;
  mean_centre /= kNumLandmarks;
  std::complex<double> cross = 0.0;
  double norm_z = 0.0;
  double norm_m = 0.0;
  for (int i = 0; i < kNumLandmarks; ++i) {
    const Eigen::Vector2d zd = points[i] - centre;
    const Eigen::Vector2d md = mean[i] - mean_centre;
    const std::complex<double> z(zd.x(), zd.y());
    const std::complex<double> m(md.x(), md.y());
    cross += std::conj(m) * z;
    norm_z += std::norm(z);
    norm_m += std::norm(m);
  }
  if (!(norm_z > 0) || !std::isfinite(norm_z)) return 1.0;  // Degenerate: all points equal / NaN.
  const double rho2 = std::norm(cross) / (norm_z * norm_m);
  return std::sqrt(std::clamp(1.0 - rho2, 0.0, 1.0));
}

double Landmarker::ShapeConfidence(const Landmarks68& points) {
  const double r = ShapeResidual(points);
  return std::clamp((kResidualBad - r) / (kResidualBad - kResidualGood), 0.0, 1.0);
}

}  // namespace faceanime::face3d
