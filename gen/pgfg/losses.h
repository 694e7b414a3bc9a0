// PGFG training losses. Every function returns a scalar (0-dim) tensor, the
// mean over the batch, differentiable in its network outputs.
#ifndef FACEANIME_GEN_PGFG_LOSSES_H_
#define FACEANIME_GEN_PGFG_LOSSES_H_

#include <functional>

#include <torch/torch.h>

namespace faceanime::gen::pgfg {

// Mean absolute error, per pixel and channel.
torch::Tensor ReconstructionL1(const torch::Tensor& output, const torch::Tensor& target);

// Hinge adversarial loss (Lim & Ye 2017; SAGAN with spectral norm), on the
// discriminator's raw logits.
//   discriminator: mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))
//   generator:     -mean(D(fake))
torch::Tensor HingeDiscriminatorLoss(const torch::Tensor& real_logits, const torch::Tensor& fake_logits);
torch::Tensor HingeGeneratorLoss(const torch::Tensor& fake_logits);

// GANimation's attention regulariser on A (N1HW, [0, 1]):
//   l1 = mean(A): A -> 1 would copy the warp everywhere and leave its errors;
//        this term keeps A from saturating (the reconstruction loss pulls A
//        back up wherever the warp is already right);
//   tv = mean of squared differences of horizontally and vertically
//        adjacent A values (smooth masks).
struct AttentionLosses {
  torch::Tensor l1;
  torch::Tensor tv;
};
AttentionLosses AttentionRegularizer(const torch::Tensor& attention);

// Identity term (FaceAnime used ArcFace; ours would use face-api's 128-D
// descriptor, whose Euclidean distance < 0.6 means "same person"): the mean
// Euclidean distance between the rows of two [N, D] embedding batches.
torch::Tensor IdentityDistance(const torch::Tensor& embeddings_output, const torch::Tensor& embeddings_source);

// Hook for the identity term: maps a batch of face crops (N3HW, RGB, [-1, 1])
// to [N, D] embeddings, differentiably. LoadRecognitionEmbedder
// (gen/pgfg/identity.h) gives face-api's recognition net; the Trainer
// compares the output's embedding with the ground-truth target's.
using Embedder = std::function<torch::Tensor(const torch::Tensor& rgb)>;

}  // namespace faceanime::gen::pgfg

#endif  // FACEANIME_GEN_PGFG_LOSSES_H_
