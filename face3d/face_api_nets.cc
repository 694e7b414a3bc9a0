// LibTorch reimplementation of the face-api.js networks (see face_api_nets.h).
// The only torch translation unit of the face-api nets.
#include "face3d/face_api_nets.h"

#include <malloc.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <stdexcept>
#include <utility>

#include <torch/torch.h>

#include "face3d/face_api_recognition_net.h"
#include "face3d/tfjs_weights.h"

namespace faceanime::face3d::internal {
namespace {

namespace F = torch::nn::functional;

// Copies a TF.js tensor into a float torch tensor of the same shape.
torch::Tensor ToTorch(const TfjsTensor& t) {
  return torch::from_blob(const_cast<float*>(t.values.data()), t.shape, torch::kFloat).clone();
}

// TF conv filter [kh, kw, in, out] -> torch [out, in, kh, kw].
torch::Tensor ConvFilter(const TfjsTensor& t) {
  return ToTorch(t).permute({3, 2, 0, 1}).contiguous(at::MemoryFormat::ChannelsLast);
}
// TF depthwise filter [kh, kw, C, 1] -> torch grouped conv weight [C, 1, kh, kw].
torch::Tensor DepthwiseFilter(const TfjsTensor& t) {
  return ToTorch(t).permute({2, 3, 0, 1}).contiguous(at::MemoryFormat::ChannelsLast);
}

// All convolutions go straight to oneDNN (at::mkldnn_convolution), not
// at::conv2d: for small 1x1 convolutions at::conv2d picks an im2col + BLAS
// sgemm path, and in binaries that also link Ceres (whose libceres needs
// ATLAS's libf77blas) that sgemm_ resolves to ATLAS's, about 3x slower.
torch::Tensor Conv(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                   int64_t stride, int64_t pad_h, int64_t pad_w, int64_t groups) {
  return at::mkldnn_convolution(x, weight, bias, {pad_h, pad_w}, {stride, stride}, {1, 1}, groups);
}

// conv2d with TF "same" padding (groups > 1 for depthwise convolutions).
torch::Tensor ConvSame(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                       int64_t stride, int64_t groups = 1) {
  const auto [top, bottom] = recognition::SamePadding(x.size(2), weight.size(2), stride);
  const auto [left, right] = recognition::SamePadding(x.size(3), weight.size(3), stride);
  if (top == bottom && left == right) return Conv(x, weight, bias, stride, top, left, groups);
  const torch::Tensor padded = F::pad(x, F::PadFuncOptions({left, right, top, bottom}));
  return Conv(padded, weight, bias, stride, 0, 0, groups);
}

// tf.separableConv2d(x, depthwise, pointwise, stride, 'same') + bias.
struct SeparableConvImpl : torch::nn::Module {
  SeparableConvImpl(const TfjsWeights& w, const std::string& prefix, int64_t in, int64_t out,
                    int64_t stride)
      : stride(stride) {
    depthwise = register_buffer(
        "depthwise", DepthwiseFilter(w.Get(prefix + "/depthwise_filter", {3, 3, in, 1})));
    pointwise = register_buffer(
        "pointwise", ConvFilter(w.Get(prefix + "/pointwise_filter", {1, 1, in, out})));
    bias = register_buffer("bias", ToTorch(w.Get(prefix + "/bias", {out})));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    const torch::Tensor dw = ConvSame(x, depthwise, {}, stride, depthwise.size(0));
    return Conv(dw, pointwise, bias, 1, 0, 0, 1);
  }
  int64_t stride;
  torch::Tensor depthwise, pointwise, bias;
};
TORCH_MODULE(SeparableConv);

// face-api's denseBlock3/denseBlock4: conv0 (a regular 3x3 conv in the first
// block, else separable; stride 2) then separable convs whose inputs are the
// ReLU of the running sum of the previous outputs.
struct DenseBlockImpl : torch::nn::Module {
  DenseBlockImpl(const TfjsWeights& w, const std::string& prefix, int64_t in, int64_t out,
                 int num_convs, bool first_layer) {
    if (first_layer) {
      conv0_filters = register_buffer("conv0_filters",
                                      ConvFilter(w.Get(prefix + "/conv0/filters", {3, 3, in, out})));
      conv0_bias = register_buffer("conv0_bias", ToTorch(w.Get(prefix + "/conv0/bias", {out})));
    } else {
      conv0_separable = register_module("conv0", SeparableConv(w, prefix + "/conv0", in, out, 2));
    }
    for (int i = 1; i < num_convs; ++i) {
      convs.push_back(register_module("conv" + std::to_string(i),
                                      SeparableConv(w, prefix + "/conv" + std::to_string(i), out, out, 1)));
    }
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor out1 = conv0_separable ? conv0_separable->forward(x)
                                         : ConvSame(x, conv0_filters, conv0_bias, 2);
    out1 = torch::relu(out1);
    torch::Tensor sum = out1;
    for (SeparableConv& conv : convs) {
      const torch::Tensor next = conv->forward(torch::relu(sum));
      sum = sum + next;
    }
    return torch::relu(sum);
  }
  torch::Tensor conv0_filters, conv0_bias;
  SeparableConv conv0_separable{nullptr};
  std::vector<SeparableConv> convs;
};
TORCH_MODULE(DenseBlock);

// FaceFeatureExtractor (4 blocks of 4 convs, 32..256 channels, avgPool 7) or
// TinyFaceFeatureExtractor (3 blocks of 3 convs, 32..128 channels, avgPool 14),
// followed by face-api's fully connected classifier ("fc").
struct FaceProcessorNetImpl : torch::nn::Module {
  FaceProcessorNetImpl(const TfjsWeights& w, bool tiny, int64_t num_outputs, bool softmax)
      : softmax(softmax) {
    const int num_blocks = tiny ? 3 : 4;
    const int convs_per_block = tiny ? 3 : 4;
    int64_t in = 3;
    for (int b = 0; b < num_blocks; ++b) {
      const int64_t out = 32 << b;
      const std::string name = "dense" + std::to_string(b);
      blocks.push_back(register_module(name, DenseBlock(w, name, in, out, convs_per_block, b == 0)));
      in = out;
    }
    pool = tiny ? 14 : 7;
    fc_weights = register_buffer("fc_weights", ToTorch(w.Get("fc/weights", {in, num_outputs})));
    fc_bias = register_buffer("fc_bias", ToTorch(w.Get("fc/bias", {num_outputs})));
  }
  torch::Tensor forward(torch::Tensor x) {
    for (DenseBlock& block : blocks) x = block->forward(x);
    x = at::avg_pool2d(x, {pool, pool}, {2, 2});  // TF avgPool 'valid'.
    x = x.flatten(1);
    x = at::addmm(fc_bias, x, fc_weights);
    return softmax ? torch::softmax(x, 1) : x;
  }
  bool softmax;
  int64_t pool = 7;
  std::vector<DenseBlock> blocks;
  torch::Tensor fc_weights, fc_bias;
};
TORCH_MODULE(FaceProcessorNet);

// faceRecognitionNet: face_api_recognition_net.h, with the TF.js weights and
// the oneDNN convolution.
recognition::RecognitionNet LoadRecognitionNet(const TfjsWeights& w) {
  return recognition::RecognitionNet(
      [&w](const std::string& name, const std::vector<int64_t>& shape) { return ToTorch(w.Get(name, shape)); },
      [](const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias, int64_t stride,
         int64_t pad_h, int64_t pad_w) { return Conv(x, weight, bias, stride, pad_h, pad_w, 1); });
}

template <typename Net>
class TorchFaceApiNet final : public FaceApiNet {
 public:
  TorchFaceApiNet(Net net, int input_size, int output_size, int num_threads)
      : net_(std::move(net)), input_size_(input_size), output_size_(output_size),
        num_threads_(num_threads) {
    net_->eval();
  }
  int input_size() const override { return input_size_; }
  int output_size() const override { return output_size_; }

  std::vector<std::vector<float>> RunBatch(const std::vector<cv::Mat>& rgbs) const override {
    if (rgbs.empty()) return {};
    const int64_t n = static_cast<int64_t>(rgbs.size());
    c10::InferenceMode guard;
    // NHWC float batch; face-api's normalize: (rgb - mean) / 255.
    torch::Tensor nhwc = torch::empty({n, input_size_, input_size_, 3}, torch::kFloat);
    for (int64_t b = 0; b < n; ++b) {
      const cv::Mat& rgb = rgbs[b];
      if (rgb.type() != CV_8UC3 || rgb.rows != input_size_ || rgb.cols != input_size_) {
        throw std::invalid_argument("FaceApiNet::Run: expected a " + std::to_string(input_size_) +
                                    "x" + std::to_string(input_size_) + " CV_8UC3 RGB image");
      }
      float* dst = nhwc[b].data_ptr<float>();
      for (int y = 0; y < input_size_; ++y) {
        const uint8_t* src = rgb.ptr<uint8_t>(y);  // Respects the row stride.
        for (int x = 0; x < input_size_; ++x, src += 3, dst += 3) {
          for (int c = 0; c < 3; ++c) dst[c] = (static_cast<float>(src[c]) - recognition::kFaceApiMeanRgb[c]) / 255.0f;
        }
      }
    }
    if (at::get_num_threads() != num_threads_) at::set_num_threads(num_threads_);
    // A channels-last NCHW view: oneDNN's fast convolution path.
    const torch::Tensor out = net_->forward(nhwc.permute({0, 3, 1, 2})).contiguous();
    std::vector<std::vector<float>> outputs(n);
    for (int64_t b = 0; b < n; ++b) {
      const float* row = out.data_ptr<float>() + b * out.size(1);
      outputs[b].assign(row, row + out.size(1));
    }
    return outputs;
  }

 private:
  mutable Net net_;  // forward() is not const in LibTorch; it holds no run state.
  int input_size_;
  int output_size_;
  int num_threads_;
};

}  // namespace

std::string FaceApiManifestName(FaceApiNetKind kind) {
  switch (kind) {
    case FaceApiNetKind::kLandmark68: return "face_landmark_68_model-weights_manifest.json";
    case FaceApiNetKind::kLandmark68Tiny: return "face_landmark_68_tiny_model-weights_manifest.json";
    case FaceApiNetKind::kExpression: return "face_expression_model-weights_manifest.json";
    case FaceApiNetKind::kRecognition: return "face_recognition_model-weights_manifest.json";
  }
  return {};
}

void ExportRecognitionNet(const std::filesystem::path& model_dir, const std::filesystem::path& out) {
  const TfjsWeights weights = TfjsWeights::Load(model_dir / FaceApiManifestName(FaceApiNetKind::kRecognition));
  try {
    torch::save(LoadRecognitionNet(weights), out.string());
  } catch (const c10::Error& e) {
    throw std::runtime_error("cannot write the recognition net to '" + out.string() + "': " + e.what_without_backtrace());
  }
}

std::unique_ptr<FaceApiNet> FaceApiNet::Load(FaceApiNetKind kind, const std::filesystem::path& model_dir,
                                             int num_threads) {
  if (num_threads < 1) throw std::invalid_argument("FaceApiNet: num_threads must be >= 1");
  static std::once_flag malloc_tuned;
  std::call_once(malloc_tuned, [] {
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 16 << 20);
  });
  const TfjsWeights weights = TfjsWeights::Load(model_dir / FaceApiManifestName(kind));
  c10::InferenceMode guard;
  switch (kind) {
    case FaceApiNetKind::kLandmark68:
    case FaceApiNetKind::kLandmark68Tiny:
      return std::make_unique<TorchFaceApiNet<FaceProcessorNet>>(
          FaceProcessorNet(weights, kind == FaceApiNetKind::kLandmark68Tiny, 136, false), 112, 136,
          num_threads);
    case FaceApiNetKind::kExpression:
      return std::make_unique<TorchFaceApiNet<FaceProcessorNet>>(
          FaceProcessorNet(weights, false, 7, true), 112, 7, num_threads);
    case FaceApiNetKind::kRecognition:
      return std::make_unique<TorchFaceApiNet<recognition::RecognitionNet>>(LoadRecognitionNet(weights), 150, 128,
                                                                            num_threads);
  }
  throw std::invalid_argument("FaceApiNet: unknown kind");
}

}  // namespace faceanime::face3d::internal
