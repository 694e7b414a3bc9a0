#include "gen/pgfg/identity.h"

#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>

#include "face3d/face_api_recognition_net.h"

namespace faceanime::gen::pgfg {

namespace recognition = face3d::recognition;

torch::Tensor RecognitionInput(const torch::Tensor& crops) {
  const int64_t side = crops.size(3);
  const int64_t face = std::max<int64_t>(1, std::lround(side * kFaceShareOfCrop));
  const int64_t x0 = (side - face) / 2;
  const int64_t y0 = (crops.size(2) - face) / 2;
  using torch::indexing::Slice;
  const torch::Tensor box = crops.index({Slice(), Slice(), Slice(y0, y0 + face), Slice(x0, x0 + face)});
  const torch::Tensor resized = torch::nn::functional::interpolate(
      box, torch::nn::functional::InterpolateFuncOptions()
               .size(std::vector<int64_t>{recognition::kRecognitionInputSize, recognition::kRecognitionInputSize})
               .mode(torch::kBilinear)
               .align_corners(false));
  return recognition::NormalizeForRecognition(resized);
}

Embedder LoadRecognitionEmbedder(const std::filesystem::path& path, const torch::Device& device) {
  if (!std::filesystem::exists(path)) {
    throw std::runtime_error("recognition net '" + path.string() +
                             "' does not exist (faceanime gen-data writes CACHE/recognition.pt)");
  }
  auto net = std::make_shared<recognition::RecognitionNet>(recognition::ZeroWeights);
  try {
    torch::load(*net, path.string());
  } catch (const c10::Error& e) {
    throw std::runtime_error("'" + path.string() + "' is not a recognition net archive (" +
                             e.what_without_backtrace() + "); rewrite it with faceanime gen-data");
  }
  (*net)->to(device);
  (*net)->eval();
  for (auto& b : (*net)->buffers()) b.set_requires_grad(false);
  return [net](const torch::Tensor& crops) { return (*net)->forward(RecognitionInput(crops)); };
}

}  // namespace faceanime::gen::pgfg
