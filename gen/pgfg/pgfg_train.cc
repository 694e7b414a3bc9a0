// pgfg_train: trains the prior-guided face generator on a tensor cache made
// by `faceanime gen-data`. Depends on LibTorch only, so it builds on a GPU
// machine against PyTorch's LibTorch (see gen/README.md). Resumes from
// OUT/checkpoint when it exists.
//
//   pgfg_train --data CACHE --out RUN --steps 20000 --size 128 [--batch 8]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>

#include <torch/torch.h>

#include "gen/pgfg/dataset.h"
#include "gen/pgfg/identity.h"
#include "gen/pgfg/trainer.h"

namespace {

using namespace faceanime::gen::pgfg;

constexpr const char* kUsage =
    "usage: pgfg_train --data DIR --out DIR --steps N [options]\n"
    "  --data DIR            tensor cache (faceanime gen-data --out DIR): reads DIR/train/shard_*.pt\n"
    "  --out DIR             run folder: checkpoint/, losses.csv, samples/ (resumes when checkpoint/ exists)\n"
    "  --steps N             train until the step counter reaches N\n"
    "  --minutes M           also stop (with a checkpoint) after M minutes of wall time (default: no limit)\n"
    "  --size 128|256        128: CPU real-time model; 256: GPU quality model (default 128; must match the cache)\n"
    "  --batch B             samples per step (default 8)\n"
    "  --device auto|cpu|cuda  (default auto: CUDA when available)\n"
    "  --threads T           LibTorch CPU threads (default 1)\n"
    "  --lr-g X --lr-d X     Adam learning rates (default 1e-4, 4e-4)\n"
    "  --l1 W --adv W --att-l1 W --att-tv W   loss weights (default 10, 1, 0.1, 1e-4)\n"
    "  --identity W          identity loss weight (default 0): face-api descriptor distance of the output\n"
    "                        to the target (gen/pgfg/identity.h)\n"
    "  --recognition FILE    the recognition net for --identity (default DATA/recognition.pt, written by\n"
    "                        faceanime gen-data)\n"
    "  --sample-every N      sample grid PNG period (default 500)\n"
    "  --checkpoint-every N  checkpoint period (default 1000; always at the end)\n"
    "  --log-every N         print losses every N steps (default 10)\n"
    "  --seed S              initialisation and batch-order seed (default 0)\n"
    "  --no-flip             no random horizontal flips\n"
    "  --colour-jitter S     per-sample random colour matrix I + S x N(0,1), the same on every image of a\n"
    "                        sample (JitterColours in gen/pgfg/dataset.h; default 0: none)\n"
    "  --kind-weight K=W,... draw weight per sample kind of the cache's manifest (e.g. london=10: each\n"
    "                        London pair is drawn 10x as often as a GRID frame pair; default: all 1)\n"
    "  --init FILE           start from this generator file's weights (e.g. a model trained on other data;\n"
    "                        its sizes must match --size's preset), with fresh optimisers and a fresh\n"
    "                        discriminator; ignored when OUT/checkpoint exists (that run resumes)\n";

[[noreturn]] void Usage(const std::string& error) {
  std::fprintf(stderr, "pgfg_train: %s\n%s", error.c_str(), kUsage);
  std::exit(2);
}

// `text` as a whole number (a usage error naming `key` otherwise).
double ParseNumber(const std::string& key, const std::string& text) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used != text.size()) throw std::invalid_argument("trailing characters");
    return v;
  } catch (const std::exception&) {
    Usage(key + " '" + text + "' is not a number");
  }
}

double Number(const std::map<std::string, std::string>& args, const std::string& key, double fallback) {
  const auto it = args.find(key);
  return it == args.end() ? fallback : ParseNumber(key, it->second);
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  bool flip = true;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (key == "-h" || key == "--help") {
      std::printf("%s", kUsage);
      return 0;
    }
    if (key == "--no-flip") {
      flip = false;
      continue;
    }
    static const char* kKeys[] = {"--data",  "--out",  "--steps",        "--size",         "--batch",
                                  "--device", "--threads", "--lr-g",     "--lr-d",         "--l1",
                                  "--adv",   "--att-l1", "--att-tv",     "--sample-every", "--checkpoint-every",
                                  "--log-every", "--seed", "--minutes", "--kind-weight",
                                  "--identity", "--recognition", "--colour-jitter", "--init"};
    bool known = false;
    for (const char* k : kKeys) known |= key == k;
    if (!known) Usage("unknown argument '" + key + "'");
    if (i + 1 >= argc) Usage(key + " needs a value");
    args[key] = argv[++i];
  }
  if (!args.count("--data") || !args.count("--out") || !args.count("--steps")) {
    Usage("--data, --out and --steps are required");
  }
  try {
    const int threads = static_cast<int>(Number(args, "--threads", 1));
    if (threads < 1) Usage("--threads must be >= 1");
    torch::set_num_threads(threads);
    const int64_t size = static_cast<int64_t>(Number(args, "--size", 128));
    const int64_t steps = static_cast<int64_t>(Number(args, "--steps", 0));
    const int64_t batch_size = static_cast<int64_t>(Number(args, "--batch", 8));
    const int64_t log_every = static_cast<int64_t>(Number(args, "--log-every", 10));
    if (batch_size < 1) Usage("--batch must be >= 1");
    if (log_every < 1) Usage("--log-every must be >= 1");

    TrainerOptions options;
    options.generator = GeneratorOptions::ForSize(size);
    options.discriminator = DiscriminatorOptions::ForSize(size);
    options.out_dir = args["--out"];
    options.device = args.count("--device") ? args["--device"] : "auto";
    options.lr_g = Number(args, "--lr-g", options.lr_g);
    options.lr_d = Number(args, "--lr-d", options.lr_d);
    options.l1_weight = Number(args, "--l1", options.l1_weight);
    options.adversarial_weight = Number(args, "--adv", options.adversarial_weight);
    options.attention_l1_weight = Number(args, "--att-l1", options.attention_l1_weight);
    options.attention_tv_weight = Number(args, "--att-tv", options.attention_tv_weight);
    options.identity_weight = Number(args, "--identity", options.identity_weight);
    options.sample_every = static_cast<int64_t>(Number(args, "--sample-every", 500));
    options.checkpoint_every = static_cast<int64_t>(Number(args, "--checkpoint-every", 1000));
    options.seed = static_cast<uint64_t>(Number(args, "--seed", 0));
    const double colour_jitter = Number(args, "--colour-jitter", 0);
    if (!(colour_jitter >= 0 && colour_jitter <= 1)) Usage("--colour-jitter must be in [0, 1]");

    ShardDataset data = ShardDataset::Load(args["--data"]);
    if (data.image_size() != size) {
      throw std::invalid_argument("the cache in '" + args["--data"] + "' holds " + std::to_string(data.image_size()) +
                                  "-pixel crops but --size is " + std::to_string(size) +
                                  "; rebuild the cache with gen-data --size " + std::to_string(size) +
                                  " or pass --size " + std::to_string(data.image_size()));
    }
    if (args.count("--kind-weight")) {
      std::map<std::string, double> kind_weight;
      std::istringstream list(args["--kind-weight"]);
      std::string item;
      while (std::getline(list, item, ',')) {
        const size_t eq = item.find('=');
        if (eq == std::string::npos) Usage("--kind-weight '" + item + "': expected KIND=WEIGHT");
        const double w = ParseNumber("--kind-weight", item.substr(eq + 1));
        if (!(w > 0)) Usage("--kind-weight '" + item + "': the weight must be > 0");
        kind_weight[item.substr(0, eq)] = w;
      }
      const std::vector<std::string> kinds = ShardDataset::TrainKinds(args["--data"]);
      if (static_cast<int64_t>(kinds.size()) != data.size()) {
        throw std::runtime_error("the manifest of '" + args["--data"] + "' lists " + std::to_string(kinds.size()) +
                                 " training samples but the shards hold " + std::to_string(data.size()));
      }
      std::vector<double> weights;
      std::map<std::string, int64_t> counts;
      for (const auto& k : kinds) {
        const auto it = kind_weight.find(k);
        weights.push_back(it == kind_weight.end() ? 1.0 : it->second);
        ++counts[k];
      }
      for (const auto& [k, w] : kind_weight) {
        if (!counts.count(k)) Usage("--kind-weight: no sample of kind '" + k + "' in the cache");
      }
      data.SetWeights(std::move(weights));
      for (const auto& [k, n] : counts) {
        std::fprintf(stderr, "pgfg_train: %lld samples of kind %s, weight %g\n", static_cast<long long>(n), k.c_str(),
                     kind_weight.count(k) ? kind_weight[k] : 1.0);
      }
    }
    // The number to beat: L1 of the classical warp itself against the target.
    double warp_l1 = 0;
    for (int64_t begin = 0; begin < data.size(); begin += 64) {
      const auto idx = torch::arange(begin, std::min(begin + 64, data.size()), torch::kInt64);
      const Batch b = ToNetwork(data.stored().Index(idx));
      warp_l1 += (b.warp - b.target).abs().mean().item<double>() * idx.size(0);
    }
    std::fprintf(stderr, "pgfg_train: L1 of the classical warp vs the target on this data: %.4f\n",
                 warp_l1 / data.size());
    Embedder embedder;
    if (options.identity_weight > 0) {
      const std::filesystem::path recognition = args.count("--recognition")
                                                    ? std::filesystem::path(args["--recognition"])
                                                    : std::filesystem::path(args["--data"]) / "recognition.pt";
      embedder = LoadRecognitionEmbedder(recognition, ResolveDevice(options.device));
    }
    auto trainer = Trainer::Create(options, embedder);
    if (args.count("--init")) {
      if (trainer->resumed()) {
        std::fprintf(stderr, "pgfg_train: resuming from %s; --init %s is not used\n",
                     (options.out_dir / "checkpoint").c_str(), args["--init"].c_str());
      } else {
        trainer->InitGenerator(args["--init"]);
        std::fprintf(stderr, "pgfg_train: generator initialised from %s\n", args["--init"].c_str());
      }
    }
    if (trainer->device().is_cuda()) data.StoreOn(trainer->device());  // Batches drawn on the GPU.
    std::fprintf(stderr, "pgfg_train: %lld samples of %lldx%lld, device %s, %d thread(s), %s at step %lld\n",
                 static_cast<long long>(data.size()), static_cast<long long>(size), static_cast<long long>(size),
                 trainer->device().str().c_str(), threads, trainer->resumed() ? "resumed" : "starting",
                 static_cast<long long>(trainer->step()));
    const double max_seconds = Number(args, "--minutes", 0) * 60;
    const auto start = std::chrono::steady_clock::now();
    double total_seconds = 0;
    int64_t timed = 0;
    while (trainer->step() < steps) {
      if (max_seconds > 0 &&
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >= max_seconds) {
        std::fprintf(stderr, "pgfg_train: --minutes limit reached\n");
        break;
      }
      const Batch batch = JitterColours(data.Draw(batch_size, options.seed, trainer->step(), flip, trainer->device()),
                                        colour_jitter, options.seed, trainer->step());
      const StepLosses l = trainer->Step(batch);
      total_seconds += l.seconds;
      ++timed;
      if (l.step % log_every == 0 || l.step == steps) {
        std::fprintf(stderr, "step %lld  l1 %.4f  adv_g %.3f  d %.3f  A %.3f  tv %.2e  id %.3f  %.3f s/step (mean %.3f)\n",
                     static_cast<long long>(l.step), l.l1, l.adversarial_g, l.discriminator, l.attention_l1,
                     l.attention_tv, l.identity, l.seconds, total_seconds / timed);
      }
    }
    trainer->SaveCheckpoint();
    std::fprintf(stderr, "pgfg_train: step %lld; checkpoint in %s\n", static_cast<long long>(trainer->step()),
                 (options.out_dir / "checkpoint").c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pgfg_train: error: %s\n", e.what());
    return 1;
  }
}
