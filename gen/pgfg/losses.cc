#include "gen/pgfg/losses.h"

namespace faceanime::gen::pgfg {

torch::Tensor ReconstructionL1(const torch::Tensor& output, const torch::Tensor& target) {
  return torch::l1_loss(output, target);
}

torch::Tensor HingeDiscriminatorLoss(const torch::Tensor& real_logits, const torch::Tensor& fake_logits) {
  return torch::relu(1 - real_logits).mean() + torch::relu(1 + fake_logits).mean();
}

torch::Tensor HingeGeneratorLoss(const torch::Tensor& fake_logits) { return -fake_logits.mean(); }

AttentionLosses AttentionRegularizer(const torch::Tensor& attention) {
  using torch::indexing::Slice;
  const auto dy = attention.index({Slice(), Slice(), Slice(1, torch::indexing::None), Slice()}) -
                  attention.index({Slice(), Slice(), Slice(torch::indexing::None, -1), Slice()});
  const auto dx = attention.index({Slice(), Slice(), Slice(), Slice(1, torch::indexing::None)}) -
                  attention.index({Slice(), Slice(), Slice(), Slice(torch::indexing::None, -1)});
  return {attention.mean(), dy.pow(2).mean() + dx.pow(2).mean()};
}

torch::Tensor IdentityDistance(const torch::Tensor& embeddings_output, const torch::Tensor& embeddings_source) {
  return (embeddings_output - embeddings_source).norm(2, /*dim=*/1).mean();
}

}  // namespace faceanime::gen::pgfg
