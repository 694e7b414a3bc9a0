#include "tools/cli/generator_args.h"

namespace faceanime::cli {

void AddGeneratorOptions(CLI::App* cmd, GeneratorArgs& args) {
  cmd->add_option("--generator", args.generator,
                  "Image generator. classical: the 3D-guided warp; neural: the warp refined by the prior-guided "
                  "network on the face crop (gen/README.md; the committed CPU model: assets/pgfg/README.md). A "
                  "missing --model file falls back to classical with a warning")
      ->check(CLI::IsMember({"classical", "neural"}))
      ->capture_default_str();
  cmd->add_option("--model", args.model,
                  "--generator neural: the generator file (pgfg_train's RUN/checkpoint/generator.pt; default: "
                  "$FACEANIME_GENERATOR, else $FACEANIME_DATA/pgfg_128.pt when it exists, else the committed "
                  "assets/pgfg/pgfg_128.pt). A corrupt file is an error");
  cmd->add_option("--device", args.device, "--generator neural: where the network runs (cuda needs a CUDA LibTorch)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  cmd->add_option("--neural-region", args.region,
                  "--generator neural: where the network may change the warp. mouth: around the target's lips "
                  "only, fading in as they part wider than the source's (--neural-open-ramp; the rest is the "
                  "classical warp, so eyes, skin and identity are the warp's); face: the whole face crop")
      ->check(CLI::IsMember({"mouth", "face"}))
      ->capture_default_str();
  cmd->add_option("--neural-open-ramp", args.open_ramp,
                  "--generator neural, region mouth: the network's weight is 0 while the target's lips part no "
                  "more than the source's (the warp alone) and reaches 1 when they part this fraction of the "
                  "mouth width more; 0: always 1")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--neural-trust-error", args.trust_error,
                  "--generator neural, region mouth: the network first renders the portrait unchanged and its "
                  "error there (grey levels, mean over the mouth region) is measured; its weight is full up to "
                  "this error and falls to 0 (the classical warp alone) at twice it: a face it cannot "
                  "reproduce unchanged is one it does not know; 0: off; -1: the threshold calibrated for the "
                  "model and stored in its file by `faceanime calibrate-trust` (the committed models: 1.15 for "
                  "128, 2.77 for 256), 1.15 for a file without one")
      ->check(CLI::IsMember({-1.0}) | CLI::Range(0.0, 255.0))
      ->capture_default_str();
  cmd->add_flag("--no-hair-follow", args.no_hair_follow,
                "Classical warp: off the face mesh, let the motion fade from the head's edge (the membrane "
                "alone, with the working crop centred on the face) instead of moving hair, a bun or a hat with "
                "the skull near the head; for a textured background close to the head, which the skull's "
                "motion drags along");
}

void ApplyGeneratorArgs(const GeneratorArgs& args, int threads, pipeline::RetargeterOptions& options) {
  options.generator = args.generator;
  options.neural_model = args.model;
  options.neural_device = args.device;
  options.neural_threads = threads;
  options.neural_region = args.region;
  options.neural_open_ramp = args.open_ramp;
  options.neural_trust_error = args.trust_error;
  if (args.no_hair_follow) options.warp = render::WithoutHairFollowing(options.warp);
}

}  // namespace faceanime::cli
