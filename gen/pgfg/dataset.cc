#include "gen/pgfg/dataset.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <tuple>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>

namespace faceanime::gen::pgfg {
namespace {

namespace fs = std::filesystem;

struct Field {
  const char* name;
  torch::Tensor Batch::*member;
  int64_t channels;
};
constexpr Field kFields[] = {
    {"source", &Batch::source, 3},   {"warp", &Batch::warp, 3},       {"prior_s", &Batch::prior_s, 3},
    {"mask_s", &Batch::mask_s, 1},   {"prior_t", &Batch::prior_t, 3}, {"mask_t", &Batch::mask_t, 1},
    {"target", &Batch::target, 3},
};

template <typename F>
Batch Map(const Batch& b, F&& f) {
  Batch out;
  for (const Field& field : kFields) out.*field.member = f(b.*field.member, field.channels);
  return out;
}

// Empty string if `b` follows the stored layout, else what is wrong.
std::string LayoutError(const Batch& b) {
  if (!b.source.defined() || b.source.dim() != 4) return "'source' is not a 4-D tensor";
  const int64_t n = b.source.size(0), s = b.source.size(2);
  for (const Field& field : kFields) {
    const torch::Tensor& t = b.*field.member;
    if (!t.defined()) return std::string("'") + field.name + "' is missing";
    if (t.scalar_type() != torch::kUInt8) return std::string("'") + field.name + "' is not uint8";
    if (t.dim() != 4 || t.size(0) != n || t.size(1) != field.channels || t.size(2) != s || t.size(3) != s) {
      return std::string("'") + field.name + "' is not [" + std::to_string(n) + "," +
             std::to_string(field.channels) + "," + std::to_string(s) + "," + std::to_string(s) + "]";
    }
  }
  return "";
}

}  // namespace

Batch Batch::To(const torch::Device& device) const {
  return Map(*this, [&](const torch::Tensor& t, int64_t) { return t.to(device); });
}

Batch Batch::Index(const torch::Tensor& indices) const {
  return Map(*this, [&](const torch::Tensor& t, int64_t) { return t.index_select(0, indices.to(t.device())); });
}

Batch Batch::FlipHorizontal() const {
  return Map(*this, [](const torch::Tensor& t, int64_t) { return t.flip({3}); });
}

Batch Batch::Cat(const std::vector<Batch>& parts) {
  Batch out;
  for (const Field& field : kFields) {
    std::vector<torch::Tensor> list;
    for (const Batch& p : parts) list.push_back(p.*field.member);
    out.*field.member = torch::cat(list, 0);
  }
  return out;
}

Batch JitterColours(const Batch& batch, double strength, uint64_t seed, int64_t step) {
  if (!(strength >= 0 && strength <= 1)) {
    throw std::invalid_argument("JitterColours: strength must be in [0, 1], got " + std::to_string(strength));
  }
  if (strength == 0 || batch.size() == 0) return batch;
  // Its own stream: (seed, step) also picks Draw's batch, which must not change.
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(step),
                    static_cast<uint32_t>(static_cast<uint64_t>(step) >> 32), 0x636f6cu};
  std::mt19937_64 rng(seq);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t n = batch.size();
  std::vector<float> m(n * 9);
  for (int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 9; ++k) m[i * 9 + k] = (k % 4 == 0 ? 1.0f : 0.0f) + static_cast<float>(strength) * normal(rng);
  }
  const torch::Tensor matrix = torch::tensor(m).view({n, 3, 3}).to(batch.source.device());
  // Every RGB field ([N,3,H,W] in [-1, 1]); the masks as they are.
  return Map(batch, [&](const torch::Tensor& t, int64_t channels) {
    if (channels != 3) return t;
    const torch::Tensor x = (t + 1) * 0.5;
    return torch::einsum("nij,njhw->nihw", {matrix, x}).clamp(0, 1) * 2 - 1;
  });
}

Batch ToNetwork(const Batch& stored) {
  return Map(stored, [](const torch::Tensor& t, int64_t channels) {
    const torch::Tensor f = t.to(torch::kFloat32) / 255.0;
    return channels == 1 ? f : f * 2 - 1;
  });
}

void WriteShard(const Batch& stored, const fs::path& path) {
  if (const std::string error = LayoutError(stored); !error.empty()) {
    throw std::invalid_argument("WriteShard('" + path.string() + "'): " + error);
  }
  torch::serialize::OutputArchive archive;
  for (const Field& field : kFields) archive.write(field.name, (stored.*field.member).contiguous(), true);
  archive.write("format_version", torch::tensor({kShardFormatVersion}, torch::kInt64), true);
  try {
    archive.save_to(path.string());
  } catch (const c10::Error& e) {
    throw std::runtime_error("cannot write shard '" + path.string() + "': " + e.what_without_backtrace());
  }
}

Batch ReadShard(const fs::path& path) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path.string());
  } catch (const c10::Error& e) {
    throw std::runtime_error("shard '" + path.string() + "' is missing or corrupt (rebuild the cache with "
                             "faceanime gen-data): " + e.what_without_backtrace());
  }
  torch::Tensor version;
  if (!archive.try_read("format_version", version, true) || version.numel() != 1 ||
      version.item<int64_t>() != kShardFormatVersion) {
    throw std::runtime_error("shard '" + path.string() + "' is not a PGFG shard of format version " +
                             std::to_string(kShardFormatVersion) + " (rebuild the cache with faceanime gen-data)");
  }
  Batch b;
  for (const Field& field : kFields) {
    if (!archive.try_read(field.name, b.*field.member, true)) {
      throw std::runtime_error("shard '" + path.string() + "' has no tensor '" + field.name + "'");
    }
  }
  if (const std::string error = LayoutError(b); !error.empty()) {
    throw std::runtime_error("shard '" + path.string() + "': " + error);
  }
  return b;
}

ShardDataset ShardDataset::Load(const fs::path& dir) {
  fs::path folder = dir;
  if (fs::is_directory(dir / "train")) folder = dir / "train";
  std::vector<fs::path> shards;
  if (fs::is_directory(folder)) {
    for (const auto& entry : fs::directory_iterator(folder)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("shard_", 0) == 0 && entry.path().extension() == ".pt") shards.push_back(entry.path());
    }
  }
  if (shards.empty()) {
    throw std::runtime_error("no shard_*.pt in '" + folder.string() +
                             "' (build a cache with: faceanime gen-data --grid DIR --out DIR)");
  }
  std::sort(shards.begin(), shards.end());
  std::vector<Batch> parts;
  for (const auto& p : shards) {
    parts.push_back(ReadShard(p));
    if (parts.back().source.size(2) != parts.front().source.size(2)) {
      throw std::runtime_error("shard '" + p.string() + "' has a different crop size than '" + shards.front().string() +
                               "'; one cache holds one size");
    }
  }
  ShardDataset dataset;
  dataset.samples_ = Batch::Cat(parts);
  return dataset;
}

void ShardDataset::StoreOn(const torch::Device& device) { samples_ = samples_.To(device); }

void ShardDataset::SetWeights(std::vector<double> weights) {
  if (!weights.empty() && static_cast<int64_t>(weights.size()) != size()) {
    throw std::invalid_argument("ShardDataset::SetWeights: " + std::to_string(weights.size()) + " weights for " +
                                std::to_string(size()) + " samples");
  }
  for (double w : weights) {
    if (!(w > 0 && std::isfinite(w))) throw std::invalid_argument("ShardDataset::SetWeights: weights must be > 0");
  }
  weights_ = std::move(weights);
}

std::string ShardFileName(int64_t index) {
  char name[32];
  std::snprintf(name, sizeof(name), "shard_%05lld.pt", static_cast<long long>(index));
  return name;
}

std::vector<ManifestRow> ReadManifest(const fs::path& cache_dir) {
  const fs::path path = cache_dir / "manifest.tsv";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read '" + path.string() + "' (written by faceanime gen-data)");
  std::string line;
  std::getline(in, line);  // Header: split shard index kind name source_frame target_frame.
  std::vector<ManifestRow> rows;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::istringstream fields(line);
    ManifestRow r;
    if (!(fields >> r.split >> r.shard >> r.index >> r.kind)) {
      throw std::runtime_error("malformed line in '" + path.string() + "': " + line);
    }
    std::getline(fields >> std::ws, r.rest);  // May be empty.
    rows.push_back(std::move(r));
  }
  std::sort(rows.begin(), rows.end(), [](const ManifestRow& a, const ManifestRow& b) {
    return std::tie(a.split, a.shard, a.index) < std::tie(b.split, b.shard, b.index);
  });
  return rows;
}

std::vector<std::string> ShardDataset::TrainKinds(const fs::path& cache_dir) {
  std::vector<std::string> kinds;
  for (ManifestRow& r : ReadManifest(cache_dir)) {
    if (r.split == "train") kinds.push_back(std::move(r.kind));
  }
  return kinds;
}

Batch ShardDataset::Draw(int64_t batch_size, uint64_t seed, int64_t step, bool flip,
                         const torch::Device& device) const {
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(step),
                    static_cast<uint32_t>(static_cast<uint64_t>(step) >> 32)};
  std::mt19937_64 rng(seq);
  std::vector<int64_t> order(size());
  std::iota(order.begin(), order.end(), 0);
  const int64_t n = std::min(batch_size, size());
  if (weights_.empty()) {
    std::shuffle(order.begin(), order.end(), rng);
  } else {
    // Largest log(u) / w first: sample i is drawn with weight w_i, without replacement.
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    std::vector<double> key(size());
    for (int64_t i = 0; i < size(); ++i) key[i] = std::log(std::max(uniform(rng), 1e-300)) / weights_[i];
    std::partial_sort(order.begin(), order.begin() + n, order.end(),
                      [&](int64_t a, int64_t b) { return key[a] > key[b]; });
  }
  order.resize(n);
  Batch batch = samples_.Index(torch::tensor(order, torch::kInt64));
  if (flip && (rng() & 1)) batch = batch.FlipHorizontal();
  return ToNetwork(batch.To(device));
}

}  // namespace faceanime::gen::pgfg
