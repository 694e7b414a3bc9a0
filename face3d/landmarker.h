// 68-point facial landmarks with face-api.js's landmark networks
// (FaceLandmark68Net, or FaceLandmark68TinyNet), reimplemented in LibTorch and
// fed the npm @vladmandic/face-api 1.7.15 weights (tools/setup fetches them).
//
// Points are in image space (OpenCV pixels, integer coordinates are pixel
// centres), Multi-PIE 68-point order (0-16 jaw from the subject's right, i.e.
// image left for a frontal face; 17-26 brows; 27-35 nose; 36-47 eyes; 48-67
// mouth).
#ifndef FACEANIME_FACE3D_LANDMARKER_H_
#define FACEANIME_FACE3D_LANDMARKER_H_

#include <array>
#include <filesystem>
#include <memory>

#include <Eigen/Core>
#include <Eigen/Geometry>

#include "face3d/face_crop.h"
#include "face3d/face_params.h"
#include "face3d/image.h"
#include "face3d/landmark_types.h"

namespace faceanime::face3d {

namespace internal {
class FaceApiNet;
}  // namespace internal

// Thread safety: Detect() may be called from several threads at once.
class Landmarker {
 public:
  struct Options {
    // Folder holding face_landmark_68[_tiny]_model-weights_manifest.json and
    // its .bin. Default: FaceanimeDataDir()/npm/@vladmandic_face-api@1.7.15/model.
    std::filesystem::path model_dir;
    // false: FaceLandmark68Net (~357 KB, more accurate); true: the tiny net
    // (~75 KB, about 3x faster, less precise on the jaw and mouth).
    bool tiny = false;
    // LibTorch intra-op threads (>= 1). LibTorch's thread count is process-wide;
    // it is set to this before each Detect() when it differs. The net is small
    // (~5 ms on one core): on a machine whose cores are busy with other work,
    // more than 1 thread can be far slower (OpenMP barrier waits).
    int num_threads = 1;
    // The square crop fed to the net is centred on the face box with side =
    // crop_scale * max(box width, box height) (> 0; default 1.0 = face-api,
    // which pads the detector's box to a square). Parts outside the image
    // are black (0), as in face-api.
    double crop_scale = 1.0;
    // Also run the net on the mirrored crop (as one batch of two; ~1.5x the
    // time) and score how well the two predictions agree (see
    // FlipDisagreement). Without it the confidence rests on the shape alone,
    // which cannot tell a face from a flat dark crop (the net then outputs a
    // plausible average face). The points are always the unmirrored
    // prediction, as face-api's.
    bool flip_check = true;
  };

  // The plausibility measures behind LandmarkResult::confidence.
  struct Diagnostics {
    double shape_residual = 0.0;     // ShapeResidual() of the points.
    double flip_disagreement = 0.0;  // FlipDisagreement(); NaN when flip_check is off.
    double contrast = 0.0;           // Standard deviation of the crop's luma, 0-255 levels.
  };

  // Loads the weights. Throws TfjsWeightsError (a std::runtime_error) naming
  // the missing or corrupt file and tools/setup; std::invalid_argument for
  // invalid options.
  static std::unique_ptr<Landmarker> Create(const Options& options);
  static std::unique_ptr<Landmarker> Create();  // Default options.
  ~Landmarker();

  // Landmarks of the face inside `face_box` (image pixels, continuous corners:
  // a box over pixels 0..W-1 spans [-0.5, W - 0.5]; from any detector).
  // `image`: any PixelFormat and stride; only the crop is read (see
  // CropFor()). Returns full-image pixels and a confidence in [0, 1]:
  //   confidence = ShapeConfidence(points)
  //              * FlipConfidence(flip_disagreement, tiny)  (with flip_check)
  //              * min(1, contrast / kMinContrast)
  // (a crop without visible structure holds no face, whatever the net says).
  // Fills `diagnostics` when not null.
  LandmarkResult Detect(const ImageView& image, const Eigen::AlignedBox2d& face_box,
                        Diagnostics* diagnostics = nullptr) const;

  // The square crop Detect() feeds the net for `face_box`.
  SquareCrop CropFor(const Eigen::AlignedBox2d& face_box) const;

  // Shape plausibility: the residual of the 68 points after the best
  // similarity transform (rotation, uniform scale, translation; no mirroring)
  // onto kMeanShape, relative to the points' own spread:
  //   r = sqrt(1 - |sum_i conj(m_i) z_i|^2 / (sum_i |m_i|^2 * sum_i |z_i|^2)),
  // with z_i, m_i the centred points and mean shape as complex numbers. r is
  // 0 for a perfect similar copy of the mean face and 1 for points
  // uncorrelated with it; invariant to position, scale and in-plane rotation.
  static double ShapeResidual(const Landmarks68& points);
  // Maps the residual to [0, 1]: 1 for r <= kResidualGood, 0 for r >=
  // kResidualBad, linear between. Measured with the full net on the London
  // face set (144 frontal photos, neutral and smiling): r 0.065-0.17, median
  // 0.09; on crops with no face (background, noise, flat grey): mostly
  // 0.2-0.97, but a flat dark crop yields the net's "average face" (r ~
  // 0.13), which only the flip check exposes.
  static double ShapeConfidence(const Landmarks68& points);
  static constexpr double kResidualGood = 0.12;
  static constexpr double kResidualBad = 0.30;

  // Mirror consistency: with p_i the prediction on the crop and q_i the
  // prediction on the horizontally mirrored crop, mirrored back (x -> 1 - x,
  // 68-point left/right permutation), both crop-relative,
  //   e = sqrt(sum_i |p_i - q_i|^2 / sum_i |p_i - mean(p)|^2).
  // A face gives two consistent predictions (London set, 144 photos: e
  // 0.04-0.10 full net, 0.035-0.14 tiny); a crop with no face gives two
  // unrelated guesses (flat, noise, background crops: e >= 0.34 full, >= 0.14
  // tiny, the tiny net's lowest being flat black).
  static double FlipDisagreement(const std::array<Eigen::Vector2d, kNumLandmarks>& p,
                                 const std::array<Eigen::Vector2d, kNumLandmarks>& q_mirrored);
  // 1 for e <= good, 0 for e >= bad, linear between; (good, bad) =
  // (kFlipGood, kFlipBad) for the full net, (kTinyFlipGood, kTinyFlipBad) for
  // the tiny one. NaN gives 0.
  static double FlipConfidence(double flip_disagreement, bool tiny);
  static constexpr double kFlipGood = 0.12;
  static constexpr double kFlipBad = 0.35;
  static constexpr double kTinyFlipGood = 0.10;
  static constexpr double kTinyFlipBad = 0.22;
  // Luma standard deviation (0-255) below which the confidence is scaled
  // down linearly (London faces: 35-71).
  static constexpr double kMinContrast = 8.0;
  // kMirror[i]: the landmark that point i becomes in a mirrored face.
  static const std::array<int, kNumLandmarks> kMirror;

  // The mean face shape used by ShapeResidual(): the 68 landmark vertices of
  // the ICT-FaceKit neutral face seen frontally (x = model X, y = -model Y),
  // centred, unit RMS radius; image axes (x right, y down).
  static const std::array<Eigen::Vector2d, kNumLandmarks>& MeanShape();

  const Options& options() const { return options_; }

 private:
  Landmarker(const Options& options, std::unique_ptr<internal::FaceApiNet> net);

  Options options_;
  std::unique_ptr<internal::FaceApiNet> net_;
};

}  // namespace faceanime::face3d

#endif  // FACEANIME_FACE3D_LANDMARKER_H_
