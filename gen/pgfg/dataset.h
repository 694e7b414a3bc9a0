// The PGFG training-data cache: shards of samples written by the CPU-side
// data builder (`faceanime gen-data`) and read by `pgfg_train`, so training
// needs LibTorch only.
//
// Layout of a cache folder DIR:
//   DIR/train/shard_00000.pt, shard_00001.pt, ...   training samples
//   DIR/heldout/shard_00000.pt, ...                 held-out samples (never trained on)
//   DIR/manifest.tsv     one line per sample: split, shard, index, kind
//                        (grid|london), name, source frame, target frame
//   DIR/README.txt       how the cache was made (command, split rule)
//   DIR/recognition.pt   face-api's recognition net (pgfg_train --identity;
//                        gen/pgfg/identity.h)
// A shard is a torch::serialize archive (torch::save format; C++
// torch::serialize::InputArchive reads it) of named uint8 tensors, N samples
// each, S = crop side:
//   "source"  [N,3,S,S]  the source frame, RGB 0-255
//   "warp"    [N,3,S,S]  the classical 3D-guided warp W of the source to the target
//   "prior_s" [N,3,S,S]  sparse texture prior p_s (black off the points)
//   "mask_s"  [N,1,S,S]  its coverage, 0-255 (fractional after area resize)
//   "prior_t" [N,3,S,S]  p_t: the same points at the target params
//   "mask_t"  [N,1,S,S]
//   "target"  [N,3,S,S]  the ground-truth target frame
//   "format_version" [1] int64, = kShardFormatVersion
// All seven are the same square crop of the source camera's image.
#ifndef FACEANIME_GEN_PGFG_DATASET_H_
#define FACEANIME_GEN_PGFG_DATASET_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace faceanime::gen::pgfg {

inline constexpr int64_t kShardFormatVersion = 1;

// A batch of samples. Stored (shards): uint8 as in the layout above. For the
// networks (ToNetwork): float32, images in [-1, 1], masks in [0, 1].
struct Batch {
  torch::Tensor source, warp, prior_s, mask_s, prior_t, mask_t, target;

  int64_t size() const { return source.defined() ? source.size(0) : 0; }
  Batch To(const torch::Device& device) const;
  Batch Index(const torch::Tensor& indices) const;  // Rows `indices` (int64).
  Batch FlipHorizontal() const;
  static Batch Cat(const std::vector<Batch>& parts);
};

// uint8 (shard) -> float (network) conventions.
Batch ToNetwork(const Batch& stored);

// Colour augmentation, in network conventions: every sample gets its own
// random 3x3 colour matrix M = I + strength x N(0, 1) entries (per channel
// gain and cross-talk: other skin, lip and lighting tints than the few
// identities of the data), applied alike to its source, warp, priors and
// target in [0, 1] intensity (x -> clamp(M x)), so the network learns to
// carry the source's colours over instead of its training faces'. Black
// stays black (the priors' empty pixels); masks are untouched. Deterministic
// in (seed, step); strength 0 returns `batch` unchanged. strength in [0, 1]
// (std::invalid_argument otherwise).
Batch JitterColours(const Batch& batch, double strength, uint64_t seed, int64_t step);

// Writes a uint8 batch as one shard; std::invalid_argument if shapes/dtypes
// break the layout, std::runtime_error if the file cannot be written.
void WriteShard(const Batch& stored, const std::filesystem::path& path);
// Reads and validates one shard (uint8); std::runtime_error naming the file.
Batch ReadShard(const std::filesystem::path& path);

// "shard_NNNNN.pt": the file name of shard `index` of a split folder.
std::string ShardFileName(int64_t index);

// One line of DIR/manifest.tsv: where a sample is (split, shard, index),
// its kind (grid, london, ...) and the rest of the line as it stands (name,
// source_frame, target_frame, tab-separated; empty if the line ends after
// the kind).
struct ManifestRow {
  std::string split;
  int64_t shard = 0, index = 0;
  std::string kind, rest;
};
// Every row of `cache_dir`/manifest.tsv, sorted by (split, shard, index).
// std::runtime_error naming the file when it is missing or a line lacks one
// of the first four columns.
std::vector<ManifestRow> ReadManifest(const std::filesystem::path& cache_dir);

// Every shard_*.pt of one folder (name order), held in memory as uint8.
class ShardDataset {
 public:
  // `dir`: a cache folder (reads DIR/train) or a folder of shards.
  // std::runtime_error naming the folder when it has no shard.
  static ShardDataset Load(const std::filesystem::path& dir);
  // The `kind` column (grid, london, ...) of DIR/manifest.tsv for the
  // training split, in Load's sample order (shard, then index).
  // std::runtime_error naming the file when it is missing or malformed.
  static std::vector<std::string> TrainKinds(const std::filesystem::path& cache_dir);

  int64_t size() const { return samples_.size(); }
  int64_t image_size() const { return samples_.source.size(2); }
  // `batch_size` distinct samples (fewer if the set is smaller), chosen and
  // flipped (probability 1/2 when `flip`) by a generator seeded with
  // (seed, step): the same step draws the same batch, also after a resume.
  // Uniform, or with SetWeights weighted sampling without replacement
  // (Efraimidis-Spirakis keys u^(1/w)). Returned in network conventions on
  // `device`.
  Batch Draw(int64_t batch_size, uint64_t seed, int64_t step, bool flip, const torch::Device& device) const;
  const Batch& stored() const { return samples_; }
  // Keeps the stored uint8 samples on `device` (e.g. CUDA: a 256 cache of
  // 2,176 samples is 2.9 GB), so Draw indexes, flips and converts there and
  // no batch crosses the bus per step. Draw's choice of samples is unchanged.
  void StoreOn(const torch::Device& device);
  // Per-sample draw weights: size() of them, each > 0 and finite
  // (std::invalid_argument otherwise); empty: uniform (the default).
  void SetWeights(std::vector<double> weights);

 private:
  Batch samples_;
  std::vector<double> weights_;
};

}  // namespace faceanime::gen::pgfg

#endif  // FACEANIME_GEN_PGFG_DATASET_H_
