// `faceanime gen-data`: builds the PGFG training-data cache (the tensor shard
// layout of gen/pgfg/dataset.h) from GRID clips (source = frame 0, targets =
// later frames of the same clip) and London still pairs (neutral -> smiling),
// rendering the sparse priors and the classical warp with render/.
#ifndef FACEANIME_TOOLS_CLI_GEN_DATA_COMMAND_H_
#define FACEANIME_TOOLS_CLI_GEN_DATA_COMMAND_H_

#include <string>
#include <vector>

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

// `faceanime pack-cache`: a gen-data cache in a compact, lossy form for
// carrying to a GPU machine (a 256 cache of 2,176 training samples is 2.9 GB
// of raw uint8; packed at the default quality, about 150 MB), where
// gen/pgfg/unpack_cache.py (Python with PyTorch, NumPy and Pillow, what such
// a machine has) turns it back into shards for pgfg_train. `--part K/N`
// packs a subset, to fit a transfer limit. Layout of the packed folder OUT:
//   OUT/pack.tsv      one line per sample: the manifest's columns (split,
//                     shard, index, kind, name, source_frame, target_frame;
//                     shard and index renumbered densely over the packed
//                     samples, 256 per shard) and the file names (relative
//                     to OUT) of source, prior_s, warp, prior_t, target
//   OUT/images/       source, warp, target: lossy WebP (--quality); prior_s,
//                     prior_t: WebP RGBA, colours lossy, the mask as a
//                     lossless alpha channel
//   OUT/README.txt    the cache's, copied; OUT/PACKED.txt  how it was packed
//   OUT/recognition.pt  the cache's, copied with --recognition
struct PackCacheArgs {
  std::string cache;   // A gen-data cache folder.
  std::string out;     // Packed folder to write (must not exist or be empty).
  std::vector<std::string> splits{"train"};  // Splits of the cache to pack (train, heldout).
  int quality = 90;    // WebP quality of the images and the priors' colours (1-100).
  // Part K of N (`--part K/N`, 0 <= K < N): of each split, the samples whose
  // position in manifest order is K mod N; samples of a kind in
  // `every_part_kinds` go to every part. Default 0/1: all samples.
  int part = 0, parts = 1;
  std::vector<std::string> every_part_kinds;
  bool recognition = false;  // Also copy recognition.pt (pgfg_train --identity).
  bool quiet = false;
};

CLI::App* AddPackCacheCommand(CLI::App& app, PackCacheArgs& args);
// Returns 0; throws std::runtime_error naming the file on unreadable or
// unwritable files, std::invalid_argument on bad arguments.
int RunPackCache(const PackCacheArgs& args);

}  // namespace faceanime::cli

#endif  // FACEANIME_TOOLS_CLI_GEN_DATA_COMMAND_H_
