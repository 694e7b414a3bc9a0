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

// TF "same" padding for one axis: total = max(0, (ceil(in / s) - 1) * s + k - in),
// split floor(total / 2) before and the rest after (bottom/right).
std::pair<int64_t, int64_t> SamePad(int64_t in, int64_t k, int64_t s) {
  const int64_t out = (in + s - 1) / s;
  const int64_t total = std::max<int64_t>(0, (out - 1) * s + k - in);
  return {total / 2, total - total / 2};
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
  const auto [top, bottom] = SamePad(x.size(2), weight.size(2), stride);
  const auto [left, right] = SamePad(x.size(3), weight.size(3), stride);
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

// faceRecognitionNet convLayer: conv + bias, then the scale layer (x * weights
// + biases), optional ReLU. The scale is folded into the filters at load time.
struct ScaledConvImpl : torch::nn::Module {
  ScaledConvImpl(const TfjsWeights& w, const std::string& prefix, int64_t k, int64_t in, int64_t out,
                 int64_t stride, bool valid, bool relu)
      : stride(stride), valid(valid), relu(relu) {
    const torch::Tensor filters = ConvFilter(w.Get(prefix + "/conv/filters", {k, k, in, out}));
    const torch::Tensor bias = ToTorch(w.Get(prefix + "/conv/bias", {out}));
    const torch::Tensor scale = ToTorch(w.Get(prefix + "/scale/weights", {out}));
    const torch::Tensor shift = ToTorch(w.Get(prefix + "/scale/biases", {out}));
    weight = register_buffer("weight", (filters * scale.view({out, 1, 1, 1})).contiguous());
    this->bias = register_buffer("bias", bias * scale + shift);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor out = valid ? Conv(x, weight, bias, stride, 0, 0, 1)
                              : ConvSame(x, weight, bias, stride);
    return relu ? torch::relu(out) : out;
  }
  int64_t stride;
  bool valid, relu;
  torch::Tensor weight, bias;
};
TORCH_MODULE(ScaledConv);

// residual / residualDown of faceRecognitionNet.
struct ResidualImpl : torch::nn::Module {
  ResidualImpl(const TfjsWeights& w, const std::string& prefix, int64_t in, int64_t out, bool down)
      : down(down) {
    conv1 = register_module("conv1", ScaledConv(w, prefix + "/conv1", 3, in, out, down ? 2 : 1,
                                                /*valid=*/down, /*relu=*/true));
    conv2 = register_module("conv2", ScaledConv(w, prefix + "/conv2", 3, out, out, 1,
                                                /*valid=*/false, /*relu=*/false));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor out = conv2->forward(conv1->forward(x));
    if (!down) return torch::relu(out + x);
    torch::Tensor pooled = at::avg_pool2d(x, {2, 2}, {2, 2});
    if (pooled.size(1) != out.size(1)) {
      pooled = torch::cat({pooled, torch::zeros_like(pooled)}, 1);  // Zero channels after.
    }
    if (pooled.size(2) != out.size(2) || pooled.size(3) != out.size(3)) {
      out = F::pad(out, F::PadFuncOptions({0, 1, 0, 1}));  // A zero column right, row below.
    }
    return torch::relu(pooled + out);
  }
  bool down;
  ScaledConv conv1{nullptr}, conv2{nullptr};
};
TORCH_MODULE(Residual);

struct RecognitionNetImpl : torch::nn::Module {
  explicit RecognitionNetImpl(const TfjsWeights& w) {
    conv32_down = register_module(
        "conv32_down", ScaledConv(w, "conv32_down", 7, 3, 32, 2, /*valid=*/true, /*relu=*/true));
    struct Spec {
      const char* name;
      int64_t in, out;
      bool down;
    };
    const Spec specs[] = {{"conv32_1", 32, 32, false},      {"conv32_2", 32, 32, false},
                          {"conv32_3", 32, 32, false},      {"conv64_down", 32, 64, true},
                          {"conv64_1", 64, 64, false},      {"conv64_2", 64, 64, false},
                          {"conv64_3", 64, 64, false},      {"conv128_down", 64, 128, true},
                          {"conv128_1", 128, 128, false},   {"conv128_2", 128, 128, false},
                          {"conv256_down", 128, 256, true}, {"conv256_1", 256, 256, false},
                          {"conv256_2", 256, 256, false},   {"conv256_down_out", 256, 256, true}};
    for (const Spec& s : specs) {
      layers.push_back(register_module(s.name, Residual(w, s.name, s.in, s.out, s.down)));
    }
    fc = register_buffer("fc", ToTorch(w.Get("fc", {256, 128})));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = conv32_down->forward(x);
    x = at::max_pool2d(x, {3, 3}, {2, 2});  // TF maxPool 'valid'.
    for (Residual& layer : layers) x = layer->forward(x);
    return at::mm(x.mean({2, 3}), fc);
  }
  ScaledConv conv32_down{nullptr};
  std::vector<Residual> layers;
  torch::Tensor fc;
};
TORCH_MODULE(RecognitionNet);

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
          dst[0] = (static_cast<float>(src[0]) - 122.782f) / 255.0f;
          dst[1] = (static_cast<float>(src[1]) - 117.001f) / 255.0f;
          dst[2] = (static_cast<float>(src[2]) - 104.298f) / 255.0f;
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
      return std::make_unique<TorchFaceApiNet<RecognitionNet>>(RecognitionNet(weights), 150, 128,
                                                               num_threads);
  }
  throw std::invalid_argument("FaceApiNet: unknown kind");
}

}  // namespace faceanime::face3d::internal
