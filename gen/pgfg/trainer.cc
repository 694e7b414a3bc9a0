#include "gen/pgfg/trainer.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <vector>

#include "gen/pgfg/png_writer.h"

namespace faceanime::gen::pgfg {
namespace {

namespace fs = std::filesystem;

void Require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument(what);
}

bool SameArchitecture(const GeneratorOptions& a, const GeneratorOptions& b) {
  return a.image_size == b.image_size && a.base_channels == b.base_channels && a.max_channels == b.max_channels &&
         a.num_downsamples == b.num_downsamples && a.dense_layers == b.dense_layers && a.growth == b.growth &&
         a.prior_channels == b.prior_channels && a.self_attention == b.self_attention &&
         a.stem_stride == b.stem_stride;
}

// [-1, 1] N3HW (or [0, 1] N1HW when `mask`) -> uint8 NHW3 on the CPU.
torch::Tensor ToImage(const torch::Tensor& t, bool mask) {
  torch::Tensor x = t.detach().to(torch::kCPU, torch::kFloat32);
  x = mask ? x.expand({-1, 3, -1, -1}) : (x + 1) * 0.5;
  return (x.clamp(0, 1) * 255).round().to(torch::kUInt8).permute({0, 2, 3, 1});
}

}  // namespace

torch::Device ResolveDevice(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda") {
    if (!torch::cuda::is_available()) {
      throw std::invalid_argument(
          "device 'cuda' requested but this LibTorch sees no CUDA device (use --device cpu, or build against a "
          "CUDA LibTorch: cmake -DCMAKE_PREFIX_PATH=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)'))");
    }
    return torch::kCUDA;
  }
  throw std::invalid_argument("device '" + name + "': valid values are auto, cpu, cuda");
}

std::unique_ptr<Trainer> Trainer::Create(const TrainerOptions& options, Embedder embedder) {
  options.generator.Validate();
  options.discriminator.Validate();
  Require(!options.out_dir.empty(), "TrainerOptions::out_dir is required");
  Require(options.lr_g > 0 && options.lr_d > 0, "TrainerOptions: lr_g and lr_d must be > 0");
  Require(options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 && options.beta2 < 1,
          "TrainerOptions: beta1 and beta2 must be in [0, 1)");
  Require(options.l1_weight >= 0 && options.adversarial_weight >= 0 && options.attention_l1_weight >= 0 &&
              options.attention_tv_weight >= 0 && options.identity_weight >= 0,
          "TrainerOptions: loss weights must be >= 0");
  Require(options.sample_every >= 0 && options.checkpoint_every >= 0,
          "TrainerOptions: sample_every and checkpoint_every must be >= 0");
  Require(options.identity_weight == 0 || embedder,
          "TrainerOptions::identity_weight > 0 needs an Embedder (see gen/pgfg/losses.h); set it to 0");
  return std::unique_ptr<Trainer>(new Trainer(options, std::move(embedder), ResolveDevice(options.device)));
}

Trainer::Trainer(const TrainerOptions& options, Embedder embedder, torch::Device device)
    : options_(options), embedder_(std::move(embedder)), device_(device) {
  fs::create_directories(options_.out_dir);
  torch::manual_seed(options_.seed);
  generator_ = PgfgGenerator(options_.generator);
  discriminator_ = PatchDiscriminator(options_.discriminator);
  const fs::path checkpoint = options_.out_dir / "checkpoint";
  if (fs::exists(checkpoint / "state.pt")) {
    PgfgGenerator loaded = LoadGenerator(checkpoint / "generator.pt");
    if (!SameArchitecture(loaded->options, options_.generator)) {
      throw std::invalid_argument("checkpoint '" + checkpoint.string() +
                                  "' holds a generator of another size/architecture; use another --out folder");
    }
    generator_ = loaded;
  }
  generator_->to(device_);
  discriminator_->to(device_);
  generator_->train();
  discriminator_->train();
  optimizer_g_ = std::make_unique<torch::optim::Adam>(
      generator_->parameters(), torch::optim::AdamOptions(options_.lr_g).betas({options_.beta1, options_.beta2}));
  optimizer_d_ = std::make_unique<torch::optim::Adam>(
      discriminator_->parameters(), torch::optim::AdamOptions(options_.lr_d).betas({options_.beta1, options_.beta2}));
  if (fs::exists(checkpoint / "state.pt")) LoadCheckpoint(checkpoint);
}

void Trainer::LoadCheckpoint(const fs::path& dir) {
  try {
    torch::load(discriminator_, (dir / "discriminator.pt").string(), device_);
    torch::load(*optimizer_g_, (dir / "optimizer_g.pt").string(), device_);
    torch::load(*optimizer_d_, (dir / "optimizer_d.pt").string(), device_);
    torch::Tensor state;
    torch::load(state, (dir / "state.pt").string());
    step_ = state.item<int64_t>();
  } catch (const c10::Error& e) {
    throw std::runtime_error("checkpoint '" + dir.string() + "' is incomplete or corrupt (delete it to start over): " +
                             e.what_without_backtrace());
  }
  resumed_ = true;
}

void RemoveTree(const fs::path& dir) {
  if (!fs::exists(fs::symlink_status(dir))) return;
  if (fs::is_directory(fs::symlink_status(dir))) {
    std::vector<fs::path> entries;
    for (const auto& entry : fs::directory_iterator(dir)) entries.push_back(entry.path());
    for (const auto& entry : entries) RemoveTree(entry);
  }
  fs::remove(dir);
}

void Trainer::InitGenerator(const fs::path& path) {
  const PgfgGenerator from = LoadGenerator(path, device_);
  if (!SameArchitecture(from->options, options_.generator)) {
    throw std::invalid_argument("generator file '" + path.string() +
                                "' has another architecture than this run's (e.g. another --size)");
  }
  torch::NoGradGuard no_grad;
  const auto source = from->named_parameters();
  for (auto& item : generator_->named_parameters()) item.value().copy_(source[item.key()]);
  const auto buffers = from->named_buffers();
  for (auto& item : generator_->named_buffers()) item.value().copy_(buffers[item.key()]);
}

void Trainer::SaveCheckpoint() {
  const fs::path dir = options_.out_dir / "checkpoint";
  const fs::path tmp = options_.out_dir / "checkpoint.tmp";
  RemoveTree(tmp);
  fs::create_directories(tmp);
  SaveGenerator(generator_, tmp / "generator.pt");
  torch::save(discriminator_, (tmp / "discriminator.pt").string());
  torch::save(*optimizer_g_, (tmp / "optimizer_g.pt").string());
  torch::save(*optimizer_d_, (tmp / "optimizer_d.pt").string());
  torch::save(torch::tensor({step_}, torch::kInt64), (tmp / "state.pt").string());
  // Replace the previous checkpoint only once the new one is complete.
  RemoveTree(dir);
  fs::rename(tmp, dir);
}

StepLosses Trainer::Step(const Batch& batch_in) {
  const auto t0 = std::chrono::steady_clock::now();
  const Batch b = batch_in.To(device_);
  generator_->train();
  discriminator_->train();
  StepLosses losses;
  GeneratorOutput out = generator_->forward(b.source, b.warp, b.prior_s, b.mask_s, b.prior_t, b.mask_t);

  const bool adversarial = options_.adversarial_weight > 0;
  if (adversarial) {
    optimizer_d_->zero_grad();
    const auto real_logits = discriminator_->forward(b.prior_t, b.mask_t, b.target);
    const auto fake_logits = discriminator_->forward(b.prior_t, b.mask_t, out.output.detach());
    const auto d_loss = HingeDiscriminatorLoss(real_logits, fake_logits);
    d_loss.backward();
    optimizer_d_->step();
    losses.discriminator = d_loss.item<double>();
  }

  optimizer_g_->zero_grad();
  const auto l1 = ReconstructionL1(out.output, b.target);
  const auto attention = AttentionRegularizer(out.attention);
  torch::Tensor total = options_.l1_weight * l1 + options_.attention_l1_weight * attention.l1 +
                        options_.attention_tv_weight * attention.tv;
  if (adversarial) {
    const auto adv = HingeGeneratorLoss(discriminator_->forward(b.prior_t, b.mask_t, out.output));
    total = total + options_.adversarial_weight * adv;
    losses.adversarial_g = adv.item<double>();
  }
  if (options_.identity_weight > 0) {
    // Against the ground-truth target (the same person as the source): its
    // expression and pose are the output's, and the embedding moves with both.
    const auto id = IdentityDistance(embedder_(out.output), embedder_(b.target).detach());
    total = total + options_.identity_weight * id;
    losses.identity = id.item<double>();
  }
  total.backward();
  optimizer_g_->step();

  ++step_;
  losses.step = step_;
  losses.l1 = l1.item<double>();
  losses.attention_l1 = attention.l1.item<double>();
  losses.attention_tv = attention.tv.item<double>();
  losses.generator_total = total.item<double>();
  losses.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const fs::path log_path = options_.out_dir / "losses.csv";
  const bool new_log = !fs::exists(log_path);
  std::ofstream log(log_path, std::ios::app);
  if (new_log) log << "step,l1,adv_g,att_l1,att_tv,identity,g_total,d_loss,seconds\n";
  char line[256];
  std::snprintf(line, sizeof(line), "%lld,%.6f,%.6f,%.6f,%.6g,%.6f,%.6f,%.6f,%.4f\n",
                static_cast<long long>(losses.step), losses.l1, losses.adversarial_g, losses.attention_l1,
                losses.attention_tv, losses.identity, losses.generator_total, losses.discriminator, losses.seconds);
  log << line;
  if (!log) throw std::runtime_error("cannot append to '" + log_path.string() + "'");

  if (options_.sample_every > 0 && step_ % options_.sample_every == 0) {
    char name[64];
    std::snprintf(name, sizeof(name), "step_%07lld.png", static_cast<long long>(step_));
    fs::create_directories(options_.out_dir / "samples");
    WriteSampleGrid(batch_in, options_.out_dir / "samples" / name);
  }
  if (options_.checkpoint_every > 0 && step_ % options_.checkpoint_every == 0) SaveCheckpoint();
  return losses;
}

void Trainer::WriteSampleGrid(const Batch& batch_in, const fs::path& path) {
  const int64_t rows = std::min<int64_t>(batch_in.size(), 4);
  const Batch b = batch_in.Index(torch::arange(rows, torch::kInt64)).To(device_);
  GeneratorOutput out;
  {
    torch::NoGradGuard no_grad;
    generator_->eval();
    out = generator_->forward(b.source, b.warp, b.prior_s, b.mask_s, b.prior_t, b.mask_t);
    generator_->train();
  }
  // Columns: source | p_t | W | C | A | output | target; rows: samples.
  const torch::Tensor grid = torch::cat({ToImage(b.source, false), ToImage(b.prior_t, false), ToImage(b.warp, false),
                                         ToImage(out.color, false), ToImage(out.attention, true),
                                         ToImage(out.output, false), ToImage(b.target, false)},
                                        /*dim=*/2)                        // N, H, 7W, 3
                                   .reshape({-1, 7 * b.source.size(3), 3})  // N*H rows
                                   .contiguous();
  WritePngRgb(path.string(), grid.data_ptr<uint8_t>(), static_cast<int>(grid.size(1)), static_cast<int>(grid.size(0)));
}

}  // namespace faceanime::gen::pgfg
