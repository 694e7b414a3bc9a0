// 128-D face descriptors with face-api.js's FaceRecognitionNet (dlib's
// ResNet-34-like face recognition model), reimplemented in LibTorch and fed
// the npm @vladmandic/face-api 1.7.15 weights (tools/setup fetches them).
// Two photos of one person are typically closer than 0.6 (Euclidean
// distance, face-api's and dlib's threshold); different people farther.
#ifndef FACEANIME_FACE3D_FACE_RECOGNIZER_H_
#define FACEANIME_FACE3D_FACE_RECOGNIZER_H_

#include <array>
#include <filesystem>
#include <memory>

#include <Eigen/Geometry>

#include "face3d/face_crop.h"
#include "face3d/face_params.h"
#include "face3d/image.h"

namespace faceanime::face3d {

namespace internal {
class FaceApiNet;
}  // namespace internal

// Thread safety: Embed() may be called from several threads at once.
class FaceRecognizer {
 public:
  static constexpr int kDescriptorSize = 128;
  static constexpr int kInputSize = 150;  // Pixels, square RGB.
  using Descriptor = std::array<float, kDescriptorSize>;  // Unitless, not normalised.

  struct Options {
    // Folder holding face_recognition_model-weights_manifest.json and its
    // .bin. Default: FaceanimeDataDir()/npm/@vladmandic_face-api@1.7.15/model.
    std::filesystem::path model_dir;
    // LibTorch intra-op threads (>= 1; process-wide, set before each run).
    int num_threads = 1;
  };

  // Throws TfjsWeightsError (a std::runtime_error) naming the missing or
  // corrupt file and tools/setup; std::invalid_argument for invalid options.
  static std::unique_ptr<FaceRecognizer> Create(const Options& options);
  static std::unique_ptr<FaceRecognizer> Create();  // Default options.
  // Writes the network's weights from `model_dir` (empty: the default) as a
  // LibTorch archive of face3d::recognition::RecognitionNet
  // (face_api_recognition_net.h) to `out`, for code that runs the net
  // without face3d (gen/pgfg's identity loss). Throws TfjsWeightsError or
  // std::runtime_error naming the file.
  static void ExportTorchWeights(const std::filesystem::path& out, const std::filesystem::path& model_dir = {});
  ~FaceRecognizer();

  // face-api's dlib-style alignment box for 68 image-space landmarks: with
  // e_l, e_r, m the centres of the left eye (36-41), right eye (42-47) and
  // mouth (48-67), side = floor(mean(|m - e_l|, |m - e_r|) / 0.45) and the
  // box's top-left = floor(c - (0.5, 0.43) * side) where c = (e_l + e_r + m) / 3.
  static SquareCrop AlignedCrop(const Landmarks68& landmarks);

  // The descriptor of the face with `landmarks` (image pixels) in `image`
  // (any PixelFormat and stride): AlignedCrop(), black outside the image,
  // resized to 150x150 RGB.
  Descriptor Embed(const ImageView& image, const Landmarks68& landmarks) const;
  // The descriptor of an already aligned face chip: `chip` (any format) is
  // padded to a square with black, centred (face-api's padToSquare), and
  // resized to 150x150 RGB.
  Descriptor EmbedChip(const ImageView& chip) const;

  // Euclidean distance between two descriptors (face-api's euclideanDistance).
  static double Distance(const Descriptor& a, const Descriptor& b);

 private:
  explicit FaceRecognizer(std::unique_ptr<internal::FaceApiNet> net);
  Descriptor Run(const cv::Mat& rgb150) const;

  std::unique_ptr<internal::FaceApiNet> net_;
};

}  // namespace faceanime::face3d

#endif  // FACEANIME_FACE3D_FACE_RECOGNIZER_H_
