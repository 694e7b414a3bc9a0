// 7-class facial expression probabilities with face-api.js's
// FaceExpressionNet, reimplemented in LibTorch and fed the npm
// @vladmandic/face-api 1.7.15 weights (tools/setup fetches them).
#ifndef FACEANIME_FACE3D_EXPRESSION_CLASSIFIER_H_
#define FACEANIME_FACE3D_EXPRESSION_CLASSIFIER_H_

#include <array>
#include <filesystem>
#include <memory>
#include <string_view>

#include <Eigen/Geometry>

#include "face3d/face_crop.h"
#include "face3d/image.h"

namespace faceanime::face3d {

namespace internal {
class FaceApiNet;
}  // namespace internal

// Thread safety: Classify() may be called from several threads at once.
class ExpressionClassifier {
 public:
  static constexpr int kNumExpressions = 7;
  static constexpr int kInputSize = 112;  // Pixels, square RGB.
  // Class order of the probabilities (face-api's FACE_EXPRESSION_LABELS).
  enum Expression { kNeutral, kHappy, kSad, kAngry, kFearful, kDisgusted, kSurprised };
  static constexpr std::array<std::string_view, kNumExpressions> kNames = {
      "neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"};
  using Probabilities = std::array<float, kNumExpressions>;  // Softmax, sums to 1.

  struct Options {
    // Folder holding face_expression_model-weights_manifest.json and its
    // .bin. Default: FaceanimeDataDir()/npm/@vladmandic_face-api@1.7.15/model.
    std::filesystem::path model_dir;
    // LibTorch intra-op threads (>= 1; process-wide, set before each run).
    int num_threads = 1;
    // Square crop side = crop_scale * max(box width, height), centred on the
    // box (> 0; default 1.0 = face-api's square-padded detection box).
    double crop_scale = 1.0;
  };

  // Throws TfjsWeightsError (a std::runtime_error) naming the missing or
  // corrupt file and tools/setup; std::invalid_argument for invalid options.
  static std::unique_ptr<ExpressionClassifier> Create(const Options& options);
  static std::unique_ptr<ExpressionClassifier> Create();  // Default options.
  ~ExpressionClassifier();

  // Expression probabilities of the face in `face_box` (image pixels,
  // continuous corners as in Landmarker::Detect) of `image` (any PixelFormat
  // and stride): a square crop (black outside the image) resized to 112x112.
  Probabilities Classify(const ImageView& image, const Eigen::AlignedBox2d& face_box) const;

  const Options& options() const { return options_; }

 private:
  ExpressionClassifier(const Options& options, std::unique_ptr<internal::FaceApiNet> net);

  Options options_;
  std::unique_ptr<internal::FaceApiNet> net_;
};

}  // namespace faceanime::face3d

#endif  // FACEANIME_FACE3D_EXPRESSION_CLASSIFIER_H_
