// The identity term's embedder (losses.h): face-api's recognition net
// (face3d/face_api_recognition_net.h, header-only LibTorch, so gen/pgfg still
// builds against LibTorch alone) with frozen weights from a RecognitionNet
// archive: face3d::FaceRecognizer::ExportTorchWeights writes one, and
// `faceanime gen-data` puts it in every cache as DIR/recognition.pt.
//
// Alignment: a generator crop (gen/generator_crop.h) is a square of side
// (1 + 2 margin) x the face box around the face, margin 0.3 by default, so
// the face box is its central 1 / 1.6. That central square, resized
// bilinearly to 150x150, is the net's input. It is not face-api's
// landmark-based alignment (the cache holds no landmarks), but output and
// reference are cut the same way, which is what a distance between them
// needs.
#ifndef FACEANIME_GEN_PGFG_IDENTITY_H_
#define FACEANIME_GEN_PGFG_IDENTITY_H_

#include <filesystem>

#include <torch/torch.h>

#include "gen/pgfg/losses.h"

namespace faceanime::gen::pgfg {

// The face box's share of a generator crop's side at the default margin.
inline constexpr double kFaceShareOfCrop = 1.0 / 1.6;

// N3SS generator-convention images ([-1, 1] RGB) -> N3x150x150 network input
// (the central kFaceShareOfCrop square, bilinear, face-api normalisation).
// Differentiable.
torch::Tensor RecognitionInput(const torch::Tensor& crops);

// Loads the archive at `path` onto `device` (frozen, eval) and returns an
// Embedder: crops -> [N, 128] descriptors, differentiable in the crops.
// std::runtime_error naming the file when it is missing or not such an
// archive (and how to make one).
Embedder LoadRecognitionEmbedder(const std::filesystem::path& path, const torch::Device& device);

}  // namespace faceanime::gen::pgfg

#endif  // FACEANIME_GEN_PGFG_IDENTITY_H_
