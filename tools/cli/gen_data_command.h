// `faceanime gen-data`: builds the PGFG training-data cache (the tensor shard
// layout of gen/pgfg/dataset.h) from GRID clips (source = frame 0, targets =
// later frames of the same clip) and London still pairs (neutral -> smiling),
// rendering the sparse priors and the classical warp with render/.
#ifndef FACEANIME_TOOLS_CLI_GEN_DATA_COMMAND_H_
#define FACEANIME_TOOLS_CLI_GEN_DATA_COMMAND_H_

#include <string>

#include <CLI/CLI.hpp>

namespace faceanime::cli {

struct GenDataArgs {
  std::string grid;        // Folder of video clips (*.mpg, *.mp4, ...); empty: none.
  std::string london;      // London set folder (neutral/NNN_03.jpg, smiling/NNN_08.jpg); empty: none.
  // Listing: pipeline::FindEvalCases (as `faceanime eval`); held out:
  // predict::IsHeldOutClip on the index in that sorted list (0, 10, 20, ...).
  std::string out;         // Cache folder.
  int size = 128;          // Crop side (128 or 256).
  int clips = 0;           // First N clips in name order (0: all).
  int pairs_per_clip = 4;  // Target frames per clip.
  int london_pairs = 0;    // First N London pairs in name order (0: all).
  int shard_size = 256;    // Samples per shard.
  int preview = 8;         // Samples written as preview PNGs (OUT/preview/).
  double crop_margin = 0.3;  // gen::GeneratorCropRect's margin (gen::kDefaultGeneratorCropMargin).
  int threads = 1;
  bool quiet = false;
};

CLI::App* AddGenDataCommand(CLI::App& app, GenDataArgs& args);
int RunGenData(const GenDataArgs& args);

}  // namespace faceanime::cli

#endif  // FACEANIME_TOOLS_CLI_GEN_DATA_COMMAND_H_
