// face-api.js's face recognition network (vladmandic/face-api 1.7.15: dlib's
// ResNet-34-like net on 150x150 RGB, 128-D descriptor, not normalised) as a
// LibTorch module. Header-only and LibTorch-only on purpose: face3d runs it
// for inference (face_api_nets.cc, weights from the TF.js files, oneDNN
// convolutions), and the generator's trainer (gen/pgfg, which must build
// against LibTorch alone) runs the same module differentiably for its
// identity loss, with the weights exported into its data cache
// (ExportRecognitionNet in face_api_nets.h).
//
// Input: N x 3 x 150 x 150 float, RGB, face-api's normalisation
// (rgb - kFaceApiMeanRgb) / 255 on 0..255 values (see NormalizeForRecognition).
// Output: N x 128.
// Layers: convLayer = conv + bias, then the scale layer (x * weights +
// biases) folded into the filters, optional ReLU; residual / residualDown
// blocks; TF "same" padding (for stride 2 on even sizes the extra row/column
// is at the bottom/right) and "valid" for the down-sampling convolutions.
#ifndef FACEANIME_FACE3D_FACE_API_RECOGNITION_NET_H_
#define FACEANIME_FACE3D_FACE_API_RECOGNITION_NET_H_

#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace faceanime::face3d::recognition {

// face-api's normalize() mean (R, G, B) on 0..255 values, for all its nets.
inline constexpr float kFaceApiMeanRgb[3] = {122.782f, 117.001f, 104.298f};
inline constexpr int64_t kRecognitionInputSize = 150;
inline constexpr int64_t kRecognitionOutputSize = 128;

// A TF.js tensor by name, as a float tensor in TF layout (conv filters
// [kh, kw, in, out]) of the given shape.
using WeightSource = std::function<torch::Tensor(const std::string& name, const std::vector<int64_t>& shape)>;
// The convolution: (x, weight OIHW, bias, stride, pad_h, pad_w) -> y.
using ConvFunction = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& weight,
                                                 const torch::Tensor& bias, int64_t stride, int64_t pad_h,
                                                 int64_t pad_w)>;

// at::conv2d: any device, differentiable.
inline torch::Tensor PortableConv(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                  int64_t stride, int64_t pad_h, int64_t pad_w) {
  return at::conv2d(x, weight, bias, {stride, stride}, {pad_h, pad_w});
}

// A weight source of zeros: builds the module's shapes, for torch::load.
inline torch::Tensor ZeroWeights(const std::string&, const std::vector<int64_t>& shape) {
  return torch::zeros(shape, torch::kFloat);
}

// TF "same" padding for one axis: total = max(0, (ceil(in / s) - 1) * s + k - in),
// floor(total / 2) before and the rest after.
inline std::pair<int64_t, int64_t> SamePadding(int64_t in, int64_t k, int64_t s) {
  const int64_t out = (in + s - 1) / s;
  const int64_t total = std::max<int64_t>(0, (out - 1) * s + k - in);
  return {total / 2, total - total / 2};
}

struct ScaledConvImpl : torch::nn::Module {
  ScaledConvImpl(const WeightSource& w, const std::string& prefix, int64_t k, int64_t in, int64_t out,
                 int64_t stride, bool valid, bool relu, ConvFunction conv)
      : stride(stride), valid(valid), relu(relu), conv(std::move(conv)) {
    const torch::Tensor filters = w(prefix + "/conv/filters", {k, k, in, out}).permute({3, 2, 0, 1});
    const torch::Tensor bias = w(prefix + "/conv/bias", {out});
    const torch::Tensor scale = w(prefix + "/scale/weights", {out});
    const torch::Tensor shift = w(prefix + "/scale/biases", {out});
    weight = register_buffer("weight", (filters * scale.view({out, 1, 1, 1})).contiguous());
    this->bias = register_buffer("bias", bias * scale + shift);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor y;
    if (valid) {
      y = conv(x, weight, bias, stride, 0, 0);
    } else {
      const auto [top, bottom] = SamePadding(x.size(2), weight.size(2), stride);
      const auto [left, right] = SamePadding(x.size(3), weight.size(3), stride);
      if (top == bottom && left == right) {
        y = conv(x, weight, bias, stride, top, left);
      } else {
        y = conv(torch::nn::functional::pad(x, torch::nn::functional::PadFuncOptions({left, right, top, bottom})),
                 weight, bias, stride, 0, 0);
      }
    }
    return relu ? torch::relu(y) : y;
  }
  int64_t stride;
  bool valid, relu;
  ConvFunction conv;
  torch::Tensor weight, bias;
};
TORCH_MODULE(ScaledConv);

// residual / residualDown.
struct ResidualImpl : torch::nn::Module {
  ResidualImpl(const WeightSource& w, const std::string& prefix, int64_t in, int64_t out, bool down,
               const ConvFunction& conv)
      : down(down) {
    conv1 = register_module("conv1", ScaledConv(w, prefix + "/conv1", 3, in, out, down ? 2 : 1, /*valid=*/down,
                                                /*relu=*/true, conv));
    conv2 = register_module("conv2", ScaledConv(w, prefix + "/conv2", 3, out, out, 1, /*valid=*/false,
                                                /*relu=*/false, conv));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor out = conv2->forward(conv1->forward(x));
    if (!down) return torch::relu(out + x);
    torch::Tensor pooled = at::avg_pool2d(x, {2, 2}, {2, 2});
    if (pooled.size(1) != out.size(1)) pooled = torch::cat({pooled, torch::zeros_like(pooled)}, 1);  // Zero channels after.
    if (pooled.size(2) != out.size(2) || pooled.size(3) != out.size(3)) {
      out = torch::nn::functional::pad(out, torch::nn::functional::PadFuncOptions({0, 1, 0, 1}));  // Right, below.
    }
    return torch::relu(pooled + out);
  }
  bool down;
  ScaledConv conv1{nullptr}, conv2{nullptr};
};
TORCH_MODULE(Residual);

struct RecognitionNetImpl : torch::nn::Module {
  explicit RecognitionNetImpl(const WeightSource& w, const ConvFunction& conv = PortableConv) {
    conv32_down = register_module("conv32_down", ScaledConv(w, "conv32_down", 7, 3, 32, 2, /*valid=*/true,
                                                            /*relu=*/true, conv));
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
      layers.push_back(register_module(s.name, Residual(w, s.name, s.in, s.out, s.down, conv)));
    }
    fc = register_buffer("fc", w("fc", {256, kRecognitionOutputSize}).contiguous());
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

// N3HW RGB images in [-1, 1] (the generator's convention) -> the net's input
// normalisation, differentiably.
inline torch::Tensor NormalizeForRecognition(const torch::Tensor& rgb_pm1) {
  const torch::Tensor mean =
      torch::tensor({kFaceApiMeanRgb[0], kFaceApiMeanRgb[1], kFaceApiMeanRgb[2]}, rgb_pm1.options()).view({1, 3, 1, 1});
  return ((rgb_pm1 + 1) * 127.5 - mean) / 255.0;
}

}  // namespace faceanime::face3d::recognition

#endif  // FACEANIME_FACE3D_FACE_API_RECOGNITION_NET_H_
