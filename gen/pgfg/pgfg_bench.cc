// pgfg_bench: wall time of the PGFG generator's inference (batch 1, eval,
// c10::InferenceMode) and of a training step, for a model size, thread count
// and device. Random inputs: the cost does not depend on the pixel values.
// Inference reports wall time and process CPU time (CLOCK_PROCESS_CPUTIME_ID,
// all threads): on a loaded machine the CPU time is the steadier figure.
//
//   pgfg_bench --size 128 --threads 1 [--iters 50] [--train-batch 8 --train-steps 5] [--device cpu|cuda]
//              [--stem-stride S --base C --dense-layers L --growth G --prior P]  (override the preset)
//              [--save FILE]  (also write the randomly initialised generator: for timing the pipeline,
//                              `faceanime bench --generator neural --model FILE`; not a trained model)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <time.h>

#include <torch/torch.h>

#include "gen/pgfg/trainer.h"

namespace {

using namespace faceanime::gen::pgfg;
using Clock = std::chrono::steady_clock;

Batch RandomBatch(int64_t n, int64_t size) {
  Batch b;
  auto image = [&] { return torch::rand({n, 3, size, size}) * 2 - 1; };
  b.source = image();
  b.warp = image();
  b.target = image();
  b.mask_s = (torch::rand({n, 1, size, size}) > 0.85).to(torch::kFloat32);
  b.mask_t = (torch::rand({n, 1, size, size}) > 0.85).to(torch::kFloat32);
  b.prior_s = image() * b.mask_s;
  b.prior_t = image() * b.mask_t;
  return b;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double CpuMs() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

void Sync(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

}  // namespace

int main(int argc, char** argv) {
  int64_t size = 128, iters = 50, train_batch = 8, train_steps = 5;
  int threads = 1;
  std::string device_name = "cpu";
  int64_t stem_stride = 0, base = 0, dense_layers = 0, growth = 0, prior = 0;  // 0: the preset's.
  std::string save;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--size") size = std::stoll(value);
    else if (key == "--threads") threads = std::stoi(value);
    else if (key == "--iters") iters = std::stoll(value);
    else if (key == "--train-batch") train_batch = std::stoll(value);
    else if (key == "--train-steps") train_steps = std::stoll(value);
    else if (key == "--device") device_name = value;
    else if (key == "--stem-stride") stem_stride = std::stoll(value);
    else if (key == "--base") base = std::stoll(value);
    else if (key == "--dense-layers") dense_layers = std::stoll(value);
    else if (key == "--growth") growth = std::stoll(value);
    else if (key == "--prior") prior = std::stoll(value);
    else if (key == "--save") save = value;
    else {
      std::fprintf(stderr, "pgfg_bench: unknown argument '%s'\n", key.c_str());
      return 2;
    }
  }
  try {
    torch::set_num_threads(threads);
    const torch::Device device = ResolveDevice(device_name);
    torch::manual_seed(0);
    GeneratorOptions generator_options = GeneratorOptions::ForSize(size);
    if (stem_stride > 0) generator_options.stem_stride = stem_stride;
    if (base > 0) generator_options.base_channels = base;
    if (dense_layers > 0) generator_options.dense_layers = dense_layers;
    if (growth > 0) generator_options.growth = growth;
    if (prior > 0) generator_options.prior_channels = prior;
    PgfgGenerator g(generator_options);
    if (!save.empty()) {
      SaveGenerator(g, save);
      std::printf("wrote the randomly initialised generator to %s (for timing only: untrained)\n", save.c_str());
    }
    g->to(device);
    g->eval();
    int64_t params = 0;
    for (const auto& p : g->parameters()) params += p.numel();
    std::printf("generator %lldx%lld (stem stride %lld, base %lld, dense layers %lld, growth %lld, prior %lld): "
                "%.3f M parameters; device %s, %d thread(s)\n",
                static_cast<long long>(size), static_cast<long long>(size), static_cast<long long>(generator_options.stem_stride),
                static_cast<long long>(generator_options.base_channels), static_cast<long long>(generator_options.dense_layers),
                static_cast<long long>(generator_options.growth), static_cast<long long>(generator_options.prior_channels), params / 1e6,
                device.str().c_str(), threads);
    if (iters > 0) {
      const Batch b = RandomBatch(1, size).To(device);
      std::vector<double> ms, cpu_ms;
      c10::InferenceMode guard;
      for (int64_t i = 0; i < iters + 3; ++i) {
        Sync(device);
        const auto t0 = Clock::now();
        const double c0 = CpuMs();
        g->forward(b.source, b.warp, b.prior_s, b.mask_s, b.prior_t, b.mask_t);
        Sync(device);
        if (i >= 3) {
          ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
          cpu_ms.push_back(CpuMs() - c0);
        }
      }
      std::printf("inference (batch 1): wall median %.2f ms, min %.2f ms; CPU time median %.2f ms, min %.2f ms "
                  "over %lld runs (%.1f fps generator only, by wall median)\n",
                  Median(ms), *std::min_element(ms.begin(), ms.end()), Median(cpu_ms),
                  *std::min_element(cpu_ms.begin(), cpu_ms.end()), static_cast<long long>(iters),
                  1000.0 / Median(ms));
    }
    if (train_steps > 0) {
      TrainerOptions options;
      options.generator = generator_options;
      options.discriminator = DiscriminatorOptions::ForSize(size);
      options.out_dir = std::filesystem::temp_directory_path() / "pgfg_bench_run";
      RemoveTree(options.out_dir);
      options.device = device_name;
      options.sample_every = 0;
      options.checkpoint_every = 0;
      auto trainer = Trainer::Create(options);
      const Batch b = RandomBatch(train_batch, size);
      std::vector<double> s;
      for (int64_t i = 0; i < train_steps + 1; ++i) {
        const double t = trainer->Step(b).seconds;
        if (i >= 1) s.push_back(t);
      }
      std::printf("training step (batch %lld, G + D): median %.3f s over %lld steps\n",
                  static_cast<long long>(train_batch), Median(s), static_cast<long long>(train_steps));
      RemoveTree(options.out_dir);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pgfg_bench: error: %s\n", e.what());
    return 1;
  }
}
