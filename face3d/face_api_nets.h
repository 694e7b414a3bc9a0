// Internal: the face-api.js networks (vladmandic/face-api 1.7.15, the
// justadudewhohacks/face-api.js architectures) reimplemented in LibTorch.
// Included by face3d's .cc files and tests (not a public header of the
// library's users). The interface is torch-free on purpose
// (all LibTorch code lives in face_api_nets.cc, the one torch translation unit
// of these nets); callers hand in 8-bit RGB crops of the net's input size.
//
// Networks (TF.js weights read with TfjsWeights):
//   * kLandmark68 / kLandmark68Tiny: FaceFeatureExtractor (4 dense blocks of 4
//     separable convs) or TinyFaceFeatureExtractor (3 blocks of 3), average
//     pool, fully connected 136. Output: x0, y0, x1, y1, ... relative to the
//     112x112 input (0 = left/top edge, 1 = right/bottom edge).
//   * kExpression: FaceFeatureExtractor + fully connected 7 + softmax, in
//     face-api's label order (neutral, happy, sad, angry, fearful, disgusted,
//     surprised).
//   * kRecognition: dlib's ResNet-34-like net on 150x150; output the 128-D
//     descriptor (not normalised, as face-api).
// Input normalisation (all nets, face-api's normalize): (rgb - (122.782,
// 117.001, 104.298)) / 255 on 0..255 RGB. Convolutions use TF "same" padding
// (for stride 2 on even sizes the extra row/column is at the bottom/right).
#ifndef FACEANIME_FACE3D_FACE_API_NETS_H_
#define FACEANIME_FACE3D_FACE_API_NETS_H_

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core/mat.hpp>

namespace faceanime::face3d::internal {

enum class FaceApiNetKind { kLandmark68, kLandmark68Tiny, kExpression, kRecognition };

// The manifest file name of `kind` in face-api's model/ folder, e.g.
// "face_landmark_68_model-weights_manifest.json".
std::string FaceApiManifestName(FaceApiNetKind kind);

class FaceApiNet {
 public:
  // Loads the weights of `kind` from `model_dir` (throws TfjsWeightsError
  // naming the missing or corrupt file and tools/setup). `num_threads` >= 1:
  // LibTorch intra-op threads used by Run() (a process-wide LibTorch setting,
  // applied before each run when it differs).
  //
  // The first Load() in a process also raises glibc's malloc thresholds
  // (mallopt M_MMAP_THRESHOLD 4 MiB, M_TRIM_THRESHOLD 16 MiB; process-wide)
  // so that LibTorch's per-run activation buffers (up to ~1.6 MB) are
  // recycled from the heap instead of being mmap'ed and page-faulted on every
  // run, which otherwise about doubles the run time of these small nets.
  static std::unique_ptr<FaceApiNet> Load(FaceApiNetKind kind, const std::filesystem::path& model_dir,
                                          int num_threads);
  virtual ~FaceApiNet() = default;

  virtual int input_size() const = 0;   // 112 or 150 pixels (square).
  virtual int output_size() const = 0;  // 136, 7 or 128.

  // `rgb`: CV_8UC3, R first, input_size() x input_size(), any row stride.
  // Returns the net's output (see the file comment). Thread-safe.
  std::vector<float> Run(const cv::Mat& rgb) const { return RunBatch({rgb}).front(); }
  // Runs several inputs as one batch (cheaper than one by one); one output each.
  virtual std::vector<std::vector<float>> RunBatch(const std::vector<cv::Mat>& rgbs) const = 0;
};

// The recognition net's weights from `model_dir` as a torch::save archive of
// recognition::RecognitionNet (face_api_recognition_net.h) at `out`.
void ExportRecognitionNet(const std::filesystem::path& model_dir, const std::filesystem::path& out);

}  // namespace faceanime::face3d::internal

#endif  // FACEANIME_FACE3D_FACE_API_NETS_H_
