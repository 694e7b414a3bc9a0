#include "face3d/face_recognizer.h"

#include <cmath>
#include <stdexcept>
#include <utility>

#include <opencv2/imgproc.hpp>

#include "face3d/face_api_nets.h"
#include "face3d/tfjs_weights.h"

namespace faceanime::face3d {

FaceRecognizer::FaceRecognizer(std::unique_ptr<internal::FaceApiNet> net) : net_(std::move(net)) {}
FaceRecognizer::~FaceRecognizer() = default;

std::unique_ptr<FaceRecognizer> FaceRecognizer::Create() { return Create(Options{}); }

std::unique_ptr<FaceRecognizer> FaceRecognizer::Create(const Options& options) {
  if (options.num_threads < 1) throw std::invalid_argument("FaceRecognizer: num_threads must be >= 1");
  const std::filesystem::path dir = options.model_dir.empty() ? DefaultFaceApiModelDir() : options.model_dir;
  return std::unique_ptr<FaceRecognizer>(new FaceRecognizer(
      internal::FaceApiNet::Load(internal::FaceApiNetKind::kRecognition, dir, options.num_threads)));
}

void FaceRecognizer::ExportTorchWeights(const std::filesystem::path& out, const std::filesystem::path& model_dir) {
  internal::ExportRecognitionNet(model_dir.empty() ? DefaultFaceApiModelDir() : model_dir, out);
}

SquareCrop FaceRecognizer::AlignedCrop(const Landmarks68& landmarks) {
  const Eigen::Vector2d left_eye = LandmarkMean(landmarks, 36, 42);
  const Eigen::Vector2d right_eye = LandmarkMean(landmarks, 42, 48);
  const Eigen::Vector2d mouth = LandmarkMean(landmarks, 48, 68);
  const double eye_to_mouth = 0.5 * ((mouth - left_eye).norm() + (mouth - right_eye).norm());
  const Eigen::Vector2d centre = (left_eye + right_eye + mouth) / 3.0;
  SquareCrop crop;
  crop.side = std::max(1, static_cast<int>(std::floor(eye_to_mouth / 0.45)));
  crop.x0 = static_cast<int>(std::floor(centre.x() - 0.5 * crop.side));
  crop.y0 = static_cast<int>(std::floor(centre.y() - 0.43 * crop.side));
  return crop;
}

FaceRecognizer::Descriptor FaceRecognizer::Embed(const ImageView& image,
                                                 const Landmarks68& landmarks) const {
  for (const Eigen::Vector2d& p : landmarks) {
    if (!p.allFinite()) throw std::invalid_argument("FaceRecognizer::Embed: non-finite landmark");
  }
  return Run(CropToRgb(image, AlignedCrop(landmarks), kInputSize));
}

FaceRecognizer::Descriptor FaceRecognizer::EmbedChip(const ImageView& chip) const {
  if (chip.empty()) throw std::invalid_argument("FaceRecognizer::EmbedChip: empty image");
  // padToSquare(isCenterImage = true): round(diff / 2) zero rows/columns
  // after the image, the rest before it.
  const int side = std::max(chip.width, chip.height);
  const int diff_x = side - chip.width;
  const int diff_y = side - chip.height;
  SquareCrop crop;
  crop.side = side;
  crop.x0 = -(diff_x - static_cast<int>(std::lround(0.5 * diff_x)));
  crop.y0 = -(diff_y - static_cast<int>(std::lround(0.5 * diff_y)));
  return Run(CropToRgb(chip, crop, kInputSize));
}

FaceRecognizer::Descriptor FaceRecognizer::Run(const cv::Mat& rgb150) const {
  const std::vector<float> out = net_->Run(rgb150);
  Descriptor descriptor;
  std::copy(out.begin(), out.end(), descriptor.begin());
  return descriptor;
}

double FaceRecognizer::Distance(const Descriptor& a, const Descriptor& b) {
  double sum = 0.0;
  for (int i = 0; i < kDescriptorSize; ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    sum += d * d;
  }
  return std::sqrt(sum);
}

}  // namespace faceanime::face3d
