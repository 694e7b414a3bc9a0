// One PGFG training step (generator and discriminator), checkpoints, the loss
// log and sample grids. LibTorch only.
//
// Output folder layout (TrainerOptions::out_dir):
//   checkpoint/generator.pt       SaveGenerator file (self-describing; what
//                                 gen::NeuralGenerator loads)
//   checkpoint/discriminator.pt   torch::save of the discriminator
//   checkpoint/optimizer_g.pt, optimizer_d.pt   Adam states
//   checkpoint/state.pt           step counter
//   losses.csv                    step,l1,adv_g,att_l1,att_tv,identity,g_total,d_loss,seconds
//   samples/step_NNNNNNN.png      sample grid: one row per sample (up to 4):
//                                 source | p_t | warp W | colour C | attention A | output | target
#ifndef FACEANIME_GEN_PGFG_TRAINER_H_
#define FACEANIME_GEN_PGFG_TRAINER_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <torch/torch.h>

#include "gen/pgfg/dataset.h"
#include "gen/pgfg/losses.h"
#include "gen/pgfg/networks.h"

namespace faceanime::gen::pgfg {

struct TrainerOptions {
  GeneratorOptions generator;
  DiscriminatorOptions discriminator;
  // Output folder (created); required.
  std::filesystem::path out_dir;
  // "auto" (default: CUDA when torch::cuda::is_available(), else CPU), "cpu"
  // or "cuda" (an error when CUDA is absent).
  std::string device = "auto";
  // Adam, TTUR as in SAGAN: lr_g 1e-4, lr_d 4e-4, betas (0, 0.9); > 0.
  double lr_g = 1e-4;
  double lr_d = 4e-4;
  double beta1 = 0.0;
  double beta2 = 0.9;
  // Loss weights, >= 0. Generator loss = l1_weight * L1 + adversarial_weight
  // * hinge_G + attention_l1_weight * mean(A) + attention_tv_weight * TV(A) +
  // identity_weight * identity. Defaults: 10, 1, 0.1, 1e-4 (GANimation's
  // mask weights scaled to our L1 weight), 0 (needs an Embedder, see losses.h).
  double l1_weight = 10.0;
  double adversarial_weight = 1.0;
  double attention_l1_weight = 0.1;
  double attention_tv_weight = 1e-4;
  double identity_weight = 0.0;
  // adversarial_weight 0 skips the discriminator update (a pure
  // reconstruction run, e.g. a quick overfit check).
  // Every N steps (0: never): a sample grid PNG, a checkpoint. Defaults 500, 1000.
  int64_t sample_every = 500;
  int64_t checkpoint_every = 1000;
  // Seed of the parameter initialisation (default 0).
  uint64_t seed = 0;
};

struct StepLosses {
  int64_t step = 0;  // The step these losses belong to (1-based).
  double l1 = 0, adversarial_g = 0, attention_l1 = 0, attention_tv = 0, identity = 0;
  double generator_total = 0, discriminator = 0;
  double seconds = 0;  // Wall time of the step.
};

class Trainer {
 public:
  // Validates the options (std::invalid_argument), builds the networks and
  // optimisers, and resumes from out_dir/checkpoint when it exists.
  // `embedder`: required when identity_weight > 0 (see losses.h).
  static std::unique_ptr<Trainer> Create(const TrainerOptions& options, Embedder embedder = nullptr);

  // One step on `batch` (network conventions, any device; moved to device()):
  // a discriminator update on (real target, detached output), then a
  // generator update. Appends to losses.csv; writes a sample grid and a
  // checkpoint when the new step count is a multiple of their periods.
  StepLosses Step(const Batch& batch);

  // Writes out_dir/checkpoint (models, optimisers, step).
  void SaveCheckpoint();
  // Copies the weights of the generator file `path` (SaveGenerator's format;
  // pgfg_train --init) into this trainer's generator, in place: the
  // optimisers keep their references and their state. std::invalid_argument
  // naming `path` when its architecture differs from options().generator,
  // std::runtime_error when it cannot be read.
  void InitGenerator(const std::filesystem::path& path);
  // Writes the sample grid of `batch` (first <= 4 samples) to `path`.
  void WriteSampleGrid(const Batch& batch, const std::filesystem::path& path);

  int64_t step() const { return step_; }
  bool resumed() const { return resumed_; }
  const torch::Device& device() const { return device_; }
  PgfgGenerator& generator() { return generator_; }
  PatchDiscriminator& discriminator() { return discriminator_; }
  const TrainerOptions& options() const { return options_; }

 private:
  Trainer(const TrainerOptions& options, Embedder embedder, torch::Device device);
  void LoadCheckpoint(const std::filesystem::path& dir);

  TrainerOptions options_;
  Embedder embedder_;
  torch::Device device_;
  PgfgGenerator generator_{nullptr};
  PatchDiscriminator discriminator_{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer_g_, optimizer_d_;
  int64_t step_ = 0;
  bool resumed_ = false;
};

// The device TrainerOptions::device names; std::invalid_argument otherwise.
torch::Device ResolveDevice(const std::string& name);

// Deletes `dir` and everything under it (nothing if it does not exist), one
// entry at a time with std::filesystem::remove. The trainer's checkpoints
// and pgfg_bench use it instead of std::filesystem::remove_all: built
// against PyTorch 2.11's LibTorch (CUDA 13, g++ 13.3, Ubuntu 24.04 image),
// remove_all on a non-empty folder crashed with a call through a null
// pointer (every second checkpoint; gen/README.md).
void RemoveTree(const std::filesystem::path& dir);

}  // namespace faceanime::gen::pgfg

#endif  // FACEANIME_GEN_PGFG_TRAINER_H_
