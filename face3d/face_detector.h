// Face detection: BlazeFace (MediaPipe, front 128 / back 256) and YuNet
// (libfacedetection) run with OpenCV DNN on the CPU, decoded here (SSD anchors
// and weighted NMS for BlazeFace, anchor-free grid for YuNet; no
// cv::FaceDetectorYN).
//
// Coordinates: image space of the input ImageView, OpenCV pixels (+x right,
// +y down, integer coordinates are pixel centres). Any image size is
// letterboxed (aspect kept, centred, zero padding) into the network's square
// input and the results are mapped back.
#ifndef FACEANIME_FACE3D_FACE_DETECTOR_H_
#define FACEANIME_FACE3D_FACE_DETECTOR_H_

#include <array>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include <Eigen/Core>
#include <Eigen/Geometry>

#include "face3d/image.h"

namespace faceanime::face3d {

enum class DetectorModel {
  // BlazeFace short-range ("front camera") model, 128x128 input. Faces that
  // fill roughly 20-100% of the frame (selfie / portrait). Fastest.
  kBlazeFaceFront,
  // BlazeFace "back camera" model, 256x256 input: smaller faces (down to about
  // 10% of the frame).
  kBlazeFaceBack,
  // YuNet-n, 320x320 or 640x640 input (FaceDetectorOptions::yunet_input_size):
  // small and distant faces, several faces per frame.
  kYuNet,
};

std::string_view DetectorModelName(DetectorModel model);

// Index of the keypoints every model provides, in FaceDetection::keypoints.
// "Right"/"left" are the subject's own: in an unmirrored photo of a frontal
// face the right eye has the smaller x.
enum FaceKeypoint : int {
  kRightEye = 0,
  kLeftEye = 1,
  kNoseTip = 2,
  kMouthCenter = 3,  // YuNet: the midpoint of its two mouth corners.
  kNumFaceKeypoints = 4,
};

struct FaceDetection {
  // Face box, image pixels, continuous corners (min = top-left, max =
  // bottom-right; a box over pixels 0..W-1 spans [-0.5, W - 0.5]).
  // Conventions differ slightly per model: BlazeFace's box is about square and
  // spans brows to chin; YuNet's is taller (forehead to chin).
  Eigen::AlignedBox2d box;
  // The common keypoints (FaceKeypoint order), image pixels.
  std::array<Eigen::Vector2d, kNumFaceKeypoints> keypoints = {
      Eigen::Vector2d::Zero(), Eigen::Vector2d::Zero(), Eigen::Vector2d::Zero(), Eigen::Vector2d::Zero()};
  // All keypoints of the model in its own order, image pixels:
  //   BlazeFace (6): right eye, left eye, nose tip, mouth centre,
  //                  right ear tragion, left ear tragion.
  //   YuNet (5):     right eye, left eye, nose tip, right mouth corner,
  //                  left mouth corner.
  std::vector<Eigen::Vector2d> model_keypoints;
  // Confidence in [0, 1] (BlazeFace: sigmoid of the logit; YuNet:
  // sqrt(cls * obj)).
  double score = 0.0;
};

struct FaceDetectorOptions {
  DetectorModel model = DetectorModel::kBlazeFaceFront;
  // The ONNX file. Empty (default): the file tools/setup installs under
  // FaceanimeDataDir() for `model` (DefaultModelPath()).
  std::filesystem::path model_path;
  // YuNet input side, 320 or 640 (default 640: small faces). Selects the
  // default file yunet_n_<size>_<size>.onnx; ignored by BlazeFace.
  int yunet_input_size = 640;
  // Detections below this score are dropped. (0, 1); default 0.5 (MediaPipe's
  // short-range threshold).
  double score_threshold = 0.5;
  // Boxes overlapping more than this IoU are merged (BlazeFace: weighted
  // average as MediaPipe does) or suppressed (YuNet: hard NMS). (0, 1];
  // default 0.3 (MediaPipe).
  double nms_iou_threshold = 0.3;
  // At most this many faces, highest score first. >= 1; default 16.
  int max_faces = 16;
  // OpenCV worker threads (cv::setNumThreads, which is process-wide), set once
  // in Create(). 0 (default): leave OpenCV's setting unchanged. >= 0.
  int num_threads = 0;
};

// Thread safety: Detect() may be called from several threads; calls on one
// detector are serialised internally (OpenCV's Net is not re-entrant).
class FaceDetector {
 public:
  // Validates `options` (std::invalid_argument) and loads the model. Throws
  // std::runtime_error naming the file and the fix (tools/setup) when the file
  // is missing, unreadable or not the expected network.
  static FaceDetector Create(const FaceDetectorOptions& options = {});

  // Where tools/setup installs the model for `options` (model, yunet size).
  static std::filesystem::path DefaultModelPath(const FaceDetectorOptions& options);

  FaceDetector(FaceDetector&&) noexcept;
  FaceDetector& operator=(FaceDetector&&) noexcept;
  ~FaceDetector();

  // All faces in `image` (any size, any PixelFormat, any stride; not copied
  // beyond one resize into the network input), highest score first. Empty when
  // there is no face. Image-space pixels.
  std::vector<FaceDetection> Detect(const ImageView& image) const;

  const FaceDetectorOptions& options() const;
  // The network's square input side in pixels (128, 256, 320 or 640).
  int input_size() const;

 private:
  struct Impl;
  explicit FaceDetector(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Helpers to pick one face from Detect()'s result. std::nullopt when empty.
// The face with the largest box area.
std::optional<FaceDetection> LargestFace(const std::vector<FaceDetection>& faces);
// The face with the highest score.
std::optional<FaceDetection> BestScoringFace(const std::vector<FaceDetection>& faces);
// faces[index], or std::nullopt when out of range.
std::optional<FaceDetection> FaceAt(const std::vector<FaceDetection>& faces, int index);

// Intersection over union of two boxes (0 when either is empty).
double BoxIoU(const Eigen::AlignedBox2d& a, const Eigen::AlignedBox2d& b);

}  // namespace faceanime::face3d

#endif  // FACEANIME_FACE3D_FACE_DETECTOR_H_
