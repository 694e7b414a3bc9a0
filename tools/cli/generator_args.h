// The image-generator options shared by the commands that render a portrait
// (retarget, animate, edit, predict, eval, bench): --generator, --model,
// --device, --neural-region, --no-hair-follow, mapped onto
// pipeline::RetargeterOptions.
#ifndef FACEANIME_TOOLS_CLI_GENERATOR_ARGS_H_
#define FACEANIME_TOOLS_CLI_GENERATOR_ARGS_H_

#include <string>

#include <CLI/CLI.hpp>

#include "pipeline/retargeter.h"

namespace faceanime::cli {

// The warp of the CLI's offline renders (`edit`, `eval-expression sheet`):
// the mouth interior and the folds (a dropped jaw over the neck) at the
// image's resolution, anti-aliased, from a crop 1.25x coarser than the
// image on (render::WarpOptions::generated_supersample 4; folds from
// fold_min_coarseness 1.25, bends of fold_bend_px 1, fold_subsamples 2;
// the real-time paths keep the defaults: 1; 3x, 3 px, 1).
inline void UseOfflineWarp(render::WarpOptions* warp) {
  warp->generated_supersample = 4;
  warp->exact_fold_edges = true;
  warp->fold_min_coarseness = 1.25f;
  warp->fold_bend_px = 1.f;
  warp->fold_subsamples = 2;
}

struct GeneratorArgs {
  std::string generator = "classical";  // classical | neural.
  std::string model;                    // Empty: pipeline::DefaultNeuralModelPath().
  std::string device = "cpu";           // cpu | cuda.
  std::string region = "mouth";         // mouth | face (RetargeterOptions::neural_region).
  double open_ramp = 0.1;               // RetargeterOptions::neural_open_ramp.
  double trust_error = pipeline::kNeuralTrustFromModel;  // RetargeterOptions::neural_trust_error.
  bool no_hair_follow = false;          // !WarpOptions::hair_follows_skull (and crop_raise 0).
};

// Adds --generator, --model, --device, --neural-region, --neural-open-ramp,
// --neural-trust-error and --no-hair-follow to `cmd`.
void AddGeneratorOptions(CLI::App* cmd, GeneratorArgs& args);

// Copies the choice into `options` (the generator's LibTorch threads: `threads`).
void ApplyGeneratorArgs(const GeneratorArgs& args, int threads, pipeline::RetargeterOptions& options);

}  // namespace faceanime::cli

#endif  // FACEANIME_TOOLS_CLI_GENERATOR_ARGS_H_
