#include "face3d/expression_classifier.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "face3d/face_api_nets.h"
#include "face3d/tfjs_weights.h"

namespace faceanime::face3d {

ExpressionClassifier::ExpressionClassifier(const Options& options,
                                           std::unique_ptr<internal::FaceApiNet> net)
    : options_(options), net_(std::move(net)) {}
ExpressionClassifier::~ExpressionClassifier() = default;

std::unique_ptr<ExpressionClassifier> ExpressionClassifier::Create() { return Create(Options{}); }

std::unique_ptr<ExpressionClassifier> ExpressionClassifier::Create(const Options& options) {
  Options resolved = options;
  if (resolved.model_dir.empty()) resolved.model_dir = DefaultFaceApiModelDir();
  if (resolved.num_threads < 1) {
    throw std::invalid_argument("ExpressionClassifier: num_threads must be >= 1");
  }
  if (!(resolved.crop_scale > 0) || !std::isfinite(resolved.crop_scale)) {
    throw std::invalid_argument("ExpressionClassifier: crop_scale must be > 0");
  }
  auto net = internal::FaceApiNet::Load(internal::FaceApiNetKind::kExpression, resolved.model_dir,
                                        resolved.num_threads);
  return std::unique_ptr<ExpressionClassifier>(new ExpressionClassifier(resolved, std::move(net)));
}

ExpressionClassifier::Probabilities ExpressionClassifier::Classify(
    const ImageView& image, const Eigen::AlignedBox2d& face_box) const {
  const SquareCrop crop = SquareCropAround(face_box, options_.crop_scale);
  const std::vector<float> out = net_->Run(CropToRgb(image, crop, kInputSize));
  Probabilities probabilities;
  std::copy(out.begin(), out.end(), probabilities.begin());
  return probabilities;
}

}  // namespace faceanime::face3d
