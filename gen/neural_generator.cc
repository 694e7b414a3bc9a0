#include "gen/neural_generator.h"

#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "gen/pgfg/networks.h"
#include "gen/pgfg/trainer.h"

namespace faceanime::gen {
namespace {

// CV_8UC3 RGB (or CV_8U mask) of side `size` -> 1xCxHxW float: images in
// [-1, 1], masks in [0, 1].
torch::Tensor ToTensor(const cv::Mat& m, const char* name, int expected_type, int side, int model_size) {
  if (m.empty() || m.type() != expected_type || m.rows != side || m.cols != side) {
    throw std::invalid_argument(std::string("NeuralGenerator: input '") + name + "' must be " +
                                (expected_type == CV_8UC3 ? "CV_8UC3 RGB" : "CV_8U") + ", " + std::to_string(side) +
                                "x" + std::to_string(side) + " (the size of 'source')");
  }
  cv::Mat resized = m;
  if (side != model_size) cv::resize(m, resized, cv::Size(model_size, model_size), 0, 0, cv::INTER_AREA);
  cv::Mat contiguous = resized.isContinuous() ? resized : resized.clone();
  const int channels = contiguous.channels();
  torch::Tensor t = torch::from_blob(contiguous.data, {1, model_size, model_size, channels}, torch::kUInt8)
                        .permute({0, 3, 1, 2})
                        .to(torch::kFloat32)
                        .div(255.0);
  return channels == 1 ? t : t * 2 - 1;
}

}  // namespace

struct NeuralGenerator::Impl {
  NeuralGeneratorOptions options;
  torch::Device device{torch::kCPU};
  pgfg::PgfgGenerator net{nullptr};
};

NeuralGenerator::NeuralGenerator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NeuralGenerator::~NeuralGenerator() = default;

std::unique_ptr<NeuralGenerator> NeuralGenerator::Create(const NeuralGeneratorOptions& options) {
  if (options.model_path.empty()) throw std::invalid_argument("NeuralGeneratorOptions::model_path is required");
  if (options.num_threads < 1) throw std::invalid_argument("NeuralGeneratorOptions::num_threads must be >= 1");
  if (options.device != "cpu" && options.device != "cuda") {
    throw std::invalid_argument("NeuralGeneratorOptions::device '" + options.device + "': valid values are cpu, cuda");
  }
  if (!std::filesystem::exists(options.model_path)) {
    throw ModelMissingError("neural generator model '" + options.model_path.string() +
                            "' does not exist (train one with pgfg_train, see gen/README.md)");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->device = pgfg::ResolveDevice(options.device);
  torch::set_num_threads(options.num_threads);
  impl->net = pgfg::LoadGenerator(options.model_path, impl->device);
  impl->net->eval();
  return std::unique_ptr<NeuralGenerator>(new NeuralGenerator(std::move(impl)));
}

std::unique_ptr<NeuralGenerator> NeuralGenerator::TryCreate(const NeuralGeneratorOptions& options,
                                                            std::string* warning) {
  try {
    return Create(options);
  } catch (const ModelMissingError& e) {
    if (warning) *warning = std::string(e.what()) + "; using the classical generator";
    return nullptr;
  }
}

GeneratorResult NeuralGenerator::Generate(const GeneratorInputs& in) const {
  const int side = in.source.rows;
  const int size = image_size();
  c10::InferenceMode guard;
  const torch::Device& dev = impl_->device;
  const auto source = ToTensor(in.source, "source", CV_8UC3, side, size).to(dev);
  const auto warp = ToTensor(in.warp, "warp", CV_8UC3, side, size).to(dev);
  const auto prior_s = ToTensor(in.prior_s, "prior_s", CV_8UC3, side, size).to(dev);
  const auto mask_s = ToTensor(in.mask_s, "mask_s", CV_8U, side, size).to(dev);
  const auto prior_t = ToTensor(in.prior_t, "prior_t", CV_8UC3, side, size).to(dev);
  const auto mask_t = ToTensor(in.mask_t, "mask_t", CV_8U, side, size).to(dev);
  const pgfg::GeneratorOutput out = impl_->net->forward(source, warp, prior_s, mask_s, prior_t, mask_t);

  auto to_rgb = [](const torch::Tensor& chw) {
    return ((chw.permute({1, 2, 0}) + 1) * 127.5).round().clamp(0, 255).to(torch::kUInt8).to(torch::kCPU).contiguous();
  };
  const torch::Tensor rgb = to_rgb(out.output[0]);
  const torch::Tensor color = to_rgb(out.color[0]);
  const torch::Tensor attention = out.attention[0][0].to(torch::kCPU).contiguous();
  GeneratorResult result;
  result.rgb = cv::Mat(size, size, CV_8UC3, rgb.data_ptr<uint8_t>()).clone();
  result.attention = cv::Mat(size, size, CV_32F, attention.data_ptr<float>()).clone();
  result.color = cv::Mat(size, size, CV_8UC3, color.data_ptr<uint8_t>()).clone();
  if (side != size) {
    cv::resize(result.rgb, result.rgb, cv::Size(side, side), 0, 0, cv::INTER_LINEAR);
    cv::resize(result.color, result.color, cv::Size(side, side), 0, 0, cv::INTER_LINEAR);
    cv::resize(result.attention, result.attention, cv::Size(side, side), 0, 0, cv::INTER_LINEAR);
  }
  return result;
}

int NeuralGenerator::image_size() const { return static_cast<int>(impl_->net->options.image_size); }
std::optional<double> NeuralGenerator::calibrated_trust_error() const {
  if (impl_->net->trust_error > 0.0) return impl_->net->trust_error;
  return std::nullopt;
}
const NeuralGeneratorOptions& NeuralGenerator::options() const { return impl_->options; }

}  // namespace faceanime::gen
