// Inference with a trained prior-guided face generator (gen/pgfg): the
// classical warp W refined with the sparse texture priors, on a square face
// crop. No LibTorch in this header (pimpl).
//
//   auto g = NeuralGenerator::Create({.model_path = "assets/pgfg/pgfg_128.pt"});
//   cv::Mat out = g->Generate(inputs);   // RGB, the crop size
//
// A missing model file is not an error for callers that can fall back to the
// classical warp: use TryCreate, which returns nullptr and a warning.
#ifndef FACEANIME_GEN_NEURAL_GENERATOR_H_
#define FACEANIME_GEN_NEURAL_GENERATOR_H_

#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <opencv2/core/mat.hpp>

namespace faceanime::gen {

// The model file does not exist (callers may fall back to classical).
class ModelMissingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct NeuralGeneratorOptions {
  // A generator file written by pgfg::SaveGenerator (pgfg_train writes
  // RUN/checkpoint/generator.pt). Required.
  std::filesystem::path model_path;
  // "cpu" (default) or "cuda" (an error when this LibTorch has no CUDA device).
  std::string device = "cpu";
  // LibTorch intra-op threads, >= 1 (default 1; see FaceAnalyzerOptions on
  // why 1 on a shared 2-core machine). Note: process-wide in LibTorch.
  int num_threads = 1;
};

// One sample, all the same square size (any size: resized to the model's
// crop and the output resized back). Images CV_8UC3 RGB; masks CV_8U 0-255.
struct GeneratorInputs {
  cv::Mat source;   // The source portrait crop.
  cv::Mat warp;     // The classical warp W of the source to the target.
  cv::Mat prior_s;  // Sparse prior at the source (render::PriorRenderer), black off the points.
  cv::Mat mask_s;
  cv::Mat prior_t;  // The same points at the target.
  cv::Mat mask_t;
};

struct GeneratorResult {
  cv::Mat rgb;        // CV_8UC3 RGB, the inputs' size: A * W + (1 - A) * C.
  cv::Mat attention;  // CV_32F in [0, 1], the inputs' size: A (1: the warp is kept).
  cv::Mat color;      // CV_8UC3 RGB, the inputs' size: C (for pasting A*W + (1-A)*C at another resolution).
};

class NeuralGenerator {
 public:
  // Loads the model once (eval mode). Throws ModelMissingError when the file
  // does not exist, std::runtime_error naming the file when it is corrupt or
  // not a PGFG generator, std::invalid_argument for bad options.
  static std::unique_ptr<NeuralGenerator> Create(const NeuralGeneratorOptions& options);
  // As Create, but a missing file returns nullptr and sets `warning` (the
  // caller falls back to the classical warp). Corrupt files still throw.
  static std::unique_ptr<NeuralGenerator> TryCreate(const NeuralGeneratorOptions& options, std::string* warning);
  ~NeuralGenerator();

  // Runs the generator under c10::InferenceMode. std::invalid_argument
  // naming the input when types or sizes do not match the contract above.
  GeneratorResult Generate(const GeneratorInputs& inputs) const;

  int image_size() const;  // The model's crop side, pixels.
  // The trust threshold calibrated for this model and stored in its file
  // (pgfg::PgfgGeneratorImpl::trust_error; `faceanime calibrate-trust`), or
  // std::nullopt when the file has none.
  std::optional<double> calibrated_trust_error() const;
  const NeuralGeneratorOptions& options() const;

 private:
  struct Impl;
  explicit NeuralGenerator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace faceanime::gen

#endif  // FACEANIME_GEN_NEURAL_GENERATOR_H_
