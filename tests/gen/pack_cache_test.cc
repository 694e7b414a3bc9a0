// `faceanime pack-cache` and gen/pgfg/unpack_cache.py on a small synthetic
// cache (5 samples of 64x64: smooth images, sparse dot priors): --part K/N
// takes every Nth sample, --every-part kinds go to every part, and both are
// renumbered densely; the unpacked shards read back with
// gen::pgfg::ReadShard, in pack order, with masks exact, priors black off
// their masks, colours exactly those of the packed files and within the lossy
// coding error of the cache's; bad arguments and a packed folder missing an
// image are refused. The unpacker runs under the first of $FACEANIME_PYTHON,
// /usr/bin/python3, python3 that imports torch, PIL and numpy; without one
// the tests that need it fail (not skip).
#include "tools/cli/gen_data_command.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "gen/pgfg/dataset.h"
#include "tests/test_support.h"

namespace faceanime::cli {
namespace {

namespace fs = std::filesystem;
using gen::pgfg::Batch;

constexpr int kSize = 64;
constexpr int kSamples = 5;
// Manifest rows of the synthetic cache: indices 0-3 GRID clips, 4 a London pair.
const char* const kNames[kSamples] = {"clipa", "clipb", "clipc", "clipd", "001"};
const char* const kKinds[kSamples] = {"grid", "grid", "grid", "grid", "london"};

// A smooth RGB image [3,S,S] of skin-like colours: per-channel linear
// gradients plus a soft blob, different for every seed (what lossy WebP codes
// accurately).
torch::Tensor SmoothImage(int seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  const auto ramp = torch::linspace(0.0, 1.0, kSize);
  const auto x = ramp.view({1, kSize}), y = ramp.view({kSize, 1});
  const float cx = 0.3f + 0.4f * u(rng), cy = 0.3f + 0.4f * u(rng);
  const auto blob = torch::exp(-((x - cx).pow(2) + (y - cy).pow(2)) / (2 * 0.15 * 0.15));
  const float base[3] = {170, 120, 80};  // Skin-like: a red/blue swap is far off.
  std::vector<torch::Tensor> channels;
  for (int c = 0; c < 3; ++c) {
    channels.push_back(base[c] + 60 * (u(rng) - 0.5f) * x + 60 * (u(rng) - 0.5f) * y + 60 * (u(rng) - 0.5f) * blob);
  }
  return torch::stack(channels).round().clamp(0, 255).to(torch::kUInt8);
}

// A sparse prior [3,S,S] and its mask [1,S,S], as render::PriorRenderer
// draws them: a few dozen separate 2x2 dots (mask 255) with the colours of
// `texture` [3,S,S] under them, every third dot with a fractional column on
// its right (mask 128, colour scaled by the coverage, as an area resize
// gives); black and 0 elsewhere.
void SparsePrior(int seed, const torch::Tensor& texture, torch::Tensor& prior, torch::Tensor& mask) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> position(2, kSize / 2 - 4);
  prior = torch::zeros({3, kSize, kSize}, torch::kUInt8);
  mask = torch::zeros({1, kSize, kSize}, torch::kUInt8);
  const auto t = texture.accessor<uint8_t, 3>();
  auto p = prior.accessor<uint8_t, 3>();
  auto m = mask.accessor<uint8_t, 3>();
  int dots = 0;
  for (int attempt = 0; attempt < 1000 && dots < 36; ++attempt) {
    const int x0 = 2 * position(rng), y0 = 2 * position(rng);  // Even: on WebP's 2x2 colour blocks.
    bool free = true;  // No other dot within a pixel.
    for (int y = y0 - 1; y <= y0 + 2; ++y) {
      for (int x = x0 - 1; x <= x0 + 3; ++x) free &= m[0][y][x] == 0;
    }
    if (!free) continue;
    const bool fringe = dots % 3 == 0;
    for (int y = y0; y < y0 + 2; ++y) {
      for (int x = x0; x < x0 + 2 + (fringe ? 1 : 0); ++x) {
        const int coverage = x < x0 + 2 ? 255 : 128;
        m[0][y][x] = static_cast<uint8_t>(coverage);
        for (int c = 0; c < 3; ++c) p[c][y][x] = static_cast<uint8_t>(t[c][y][x] * coverage / 255);
      }
    }
    ++dots;
  }
}

Batch SyntheticSamples() {
  std::vector<Batch> samples;
  for (int s = 0; s < kSamples; ++s) {
    Batch b;
    b.source = SmoothImage(10 * s + 1).unsqueeze(0);
    b.warp = SmoothImage(10 * s + 2).unsqueeze(0);
    b.target = SmoothImage(10 * s + 3).unsqueeze(0);
    SparsePrior(10 * s + 4, b.source[0], b.prior_s, b.mask_s);
    SparsePrior(10 * s + 5, b.target[0], b.prior_t, b.mask_t);
    for (auto* t : {&b.prior_s, &b.mask_s, &b.prior_t, &b.mask_t}) *t = t->unsqueeze(0);
    samples.push_back(b);
  }
  return Batch::Cat(samples);
}

// A gen-data cache of SyntheticSamples() in a fresh folder: train/shard_00000.pt,
// manifest.tsv, README.txt.
fs::path WriteCache(const Batch& samples) {
  const fs::path cache = faceanime::testing::TempDir() / "cache";
  fs::create_directories(cache / "train");
  gen::pgfg::WriteShard(samples, cache / "train" / "shard_00000.pt");
  std::ofstream manifest(cache / "manifest.tsv");
  manifest << "split\tshard\tindex\tkind\tname\tsource_frame\ttarget_frame\n";
  for (int s = 0; s < kSamples; ++s) {
    const int target_frame = kKinds[s] == std::string("grid") ? 10 + s : 0;
    manifest << "train\t0\t" << s << '\t' << kKinds[s] << '\t' << kNames[s] << "\t0\t" << target_frame << '\n';
  }
  std::ofstream(cache / "README.txt") << "synthetic cache of pack_cache_test\n";
  return cache;
}

PackCacheArgs Args(const fs::path& cache, const fs::path& out, int part, int parts) {
  PackCacheArgs args;
  args.cache = cache.string();
  args.out = out.string();
  args.part = part;
  args.parts = parts;
  args.every_part_kinds = {"london"};
  args.quiet = true;
  return args;
}

// The rows of a TSV file, header included.
std::vector<std::vector<std::string>> ReadTsv(const fs::path& path) {
  std::vector<std::vector<std::string>> rows;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::istringstream parts(line);
    std::string field;
    while (std::getline(parts, field, '\t')) fields.push_back(field);
    rows.push_back(fields);
  }
  return rows;
}

std::string ShellQuoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The first of $FACEANIME_PYTHON, /usr/bin/python3, python3 that imports
// torch, PIL and numpy; empty when none does.
std::string FindPython() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("FACEANIME_PYTHON"); env != nullptr && *env != '\0') candidates.push_back(env);
  candidates.push_back("/usr/bin/python3");
  candidates.push_back("python3");
  for (const auto& python : candidates) {
    const std::string probe = ShellQuoted(python) + " -c 'import torch, PIL, numpy' >/dev/null 2>&1";
    if (std::system(probe.c_str()) == 0) return python;
  }
  return {};
}

constexpr const char* kNoPython =
    "no Python that imports torch, PIL and numpy (tried $FACEANIME_PYTHON, /usr/bin/python3, python3): "
    "install python3-torch and python3-pil (tools/debian-packages.txt), or point FACEANIME_PYTHON at one";

// Runs gen/pgfg/unpack_cache.py PACKED OUT; returns std::system's status.
int Unpack(const std::string& python, const fs::path& packed, const fs::path& out) {
  const fs::path script = fs::path(FACEANIME_TEST_ASSETS).parent_path() / "gen" / "pgfg" / "unpack_cache.py";
  const std::string command =
      ShellQuoted(python) + " " + ShellQuoted(script.string()) + " " + ShellQuoted(packed.string()) + " " +
      ShellQuoted(out.string());
  return std::system(command.c_str());
}

// Mean absolute difference in grey levels, over the elements where `where`
// (broadcast to the tensors' shape) is true, or over all.
double MeanAbsError(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& where = {}) {
  auto diff = (a.to(torch::kFloat32) - b.to(torch::kFloat32)).abs();
  if (where.defined()) diff = diff.masked_select(where.expand_as(diff));
  return diff.mean().item<double>();
}

// The RGB channels [3,S,S] of a packed image as OpenCV decodes it.
torch::Tensor DecodeRgb(const fs::path& path) {
  const cv::Mat bgr = cv::imread(path.string(), cv::IMREAD_COLOR);
  if (bgr.empty()) throw std::runtime_error("cannot read '" + path.string() + "'");
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return torch::from_blob(rgb.data, {rgb.rows, rgb.cols, 3}, torch::kUInt8).permute({2, 0, 1}).clone();
}

TEST(PackCacheTest, PartsTakeEveryNthSampleAndEveryPartKindsWhole) {
  const fs::path cache = WriteCache(SyntheticSamples());
  const std::vector<std::vector<std::string>> expected_names = {{"clipa", "clipc", "001"}, {"clipb", "clipd", "001"}};
  for (int part = 0; part < 2; ++part) {
    SCOPED_TRACE("part " + std::to_string(part) + "/2");
    const fs::path out = faceanime::testing::TempDir() / "packed";
    ASSERT_EQ(RunPackCache(Args(cache, out, part, 2)), 0);
    const auto rows = ReadTsv(out / "pack.tsv");
    ASSERT_EQ(rows.size(), 1u + 3u);
    EXPECT_EQ(rows[0].size(), 12u);
    for (size_t k = 0; k < 3; ++k) {
      const auto& row = rows[k + 1];
      ASSERT_EQ(row.size(), 12u);
      EXPECT_EQ(row[0], "train");
      EXPECT_EQ(row[1], "0");  // Shard and index renumbered densely.
      EXPECT_EQ(row[2], std::to_string(k));
      EXPECT_EQ(row[4], expected_names[part][k]);
      EXPECT_EQ(row[3], row[4] == "001" ? "london" : "grid");
      for (size_t f = 7; f < 12; ++f) EXPECT_TRUE(fs::is_regular_file(out / row[f])) << row[f];
    }
    EXPECT_TRUE(fs::is_regular_file(out / "README.txt"));
    EXPECT_TRUE(fs::is_regular_file(out / "PACKED.txt"));
  }
}

TEST(PackCacheTest, UnpackedShardsMatchTheCacheWithinCodingError) {
  const std::string python = FindPython();
  ASSERT_FALSE(python.empty()) << kNoPython;
  const Batch original = SyntheticSamples();
  const fs::path cache = WriteCache(original);
  const fs::path packed = faceanime::testing::TempDir() / "packed";
  ASSERT_EQ(RunPackCache(Args(cache, packed, 0, 2)), 0);
  const fs::path unpacked_dir = faceanime::testing::TempDir() / "unpacked";
  ASSERT_EQ(Unpack(python, packed, unpacked_dir), 0);

  const Batch unpacked = gen::pgfg::ReadShard(unpacked_dir / "train" / "shard_00000.pt");
  ASSERT_EQ(unpacked.size(), 3);
  EXPECT_EQ(unpacked.source.size(2), kSize);
  const auto rows = ReadTsv(packed / "pack.tsv");
  ASSERT_EQ(rows.size(), 1u + 3u);
  const int chosen[3] = {0, 2, 4};  // Part 0 of 2, plus the London sample.
  for (int k = 0; k < 3; ++k) {
    SCOPED_TRACE("unpacked sample " + std::to_string(k) + " (cache sample " + std::to_string(chosen[k]) + ")");
    const int i = chosen[k];
    // Alpha is lossless: the masks come back exactly.
    EXPECT_TRUE(torch::equal(unpacked.mask_s[k], original.mask_s[i]));
    EXPECT_TRUE(torch::equal(unpacked.mask_t[k], original.mask_t[i]));
    // Priors: black off the mask, as gen-data writes them.
    EXPECT_EQ(unpacked.prior_s[k].masked_fill(unpacked.mask_s[k] > 0, 0).max().item<int>(), 0);
    EXPECT_EQ(unpacked.prior_t[k].masked_fill(unpacked.mask_t[k] > 0, 0).max().item<int>(), 0);
    // The unpacker keeps the packed files' colours (the prior's where its mask
    // is not 0): what OpenCV decodes from them.
    const auto& row = rows[k + 1];
    EXPECT_TRUE(torch::equal(unpacked.source[k], DecodeRgb(packed / row[7])));
    EXPECT_TRUE(torch::equal(unpacked.prior_s[k], DecodeRgb(packed / row[8]).masked_fill(unpacked.mask_s[k] == 0, 0)));
    EXPECT_TRUE(torch::equal(unpacked.warp[k], DecodeRgb(packed / row[9])));
    EXPECT_TRUE(torch::equal(unpacked.prior_t[k], DecodeRgb(packed / row[10]).masked_fill(unpacked.mask_t[k] == 0, 0)));
    EXPECT_TRUE(torch::equal(unpacked.target[k], DecodeRgb(packed / row[11])));
    // Coding error at quality 90 (measured): the images about 1 grey level;
    // the priors' dots 9-16, as WebP codes colour at half resolution and its
    // decoder interpolates it, blending isolated dots with the black between.
    EXPECT_LT(MeanAbsError(unpacked.source[k], original.source[i]), 3.0);
    EXPECT_LT(MeanAbsError(unpacked.warp[k], original.warp[i]), 3.0);
    EXPECT_LT(MeanAbsError(unpacked.target[k], original.target[i]), 3.0);
    EXPECT_LT(MeanAbsError(unpacked.prior_s[k], original.prior_s[i], original.mask_s[i] > 0), 22.0);
    EXPECT_LT(MeanAbsError(unpacked.prior_t[k], original.prior_t[i], original.mask_t[i] > 0), 22.0);
  }

  const auto manifest = ReadTsv(unpacked_dir / "manifest.tsv");
  ASSERT_EQ(manifest.size(), 1u + 3u);
  EXPECT_EQ(manifest[0], (std::vector<std::string>{"split", "shard", "index", "kind", "name", "source_frame",
                                                   "target_frame"}));
  const char* const names[3] = {"clipa", "clipc", "001"};
  for (int k = 0; k < 3; ++k) {
    ASSERT_EQ(manifest[k + 1].size(), 7u);
    EXPECT_EQ(manifest[k + 1][2], std::to_string(k));
    EXPECT_EQ(manifest[k + 1][4], names[k]);
  }
  EXPECT_TRUE(fs::is_regular_file(unpacked_dir / "README.txt"));
}

TEST(PackCacheTest, RejectsBadArguments) {
  const fs::path cache = WriteCache(SyntheticSamples());
  const fs::path tmp = faceanime::testing::TempDir();

  const fs::path not_a_cache = tmp / "not_a_cache";
  fs::create_directories(not_a_cache);
  EXPECT_THROW(RunPackCache(Args(not_a_cache, tmp / "out1", 0, 1)), std::invalid_argument);

  EXPECT_THROW(RunPackCache(Args(cache, tmp / "out2", 2, 2)), std::invalid_argument);

  const fs::path non_empty = tmp / "non_empty";
  fs::create_directories(non_empty);
  std::ofstream(non_empty / "keep.txt") << "x\n";
  EXPECT_THROW(RunPackCache(Args(cache, non_empty, 0, 1)), std::invalid_argument);

  PackCacheArgs absent_kind = Args(cache, tmp / "out3", 0, 2);
  absent_kind.every_part_kinds = {"video"};
  EXPECT_THROW(RunPackCache(absent_kind), std::invalid_argument);
}

TEST(PackCacheTest, UnpackerFailsWhenAnImageIsMissing) {
  const std::string python = FindPython();
  ASSERT_FALSE(python.empty()) << kNoPython;
  const fs::path cache = WriteCache(SyntheticSamples());
  const fs::path packed = faceanime::testing::TempDir() / "packed";
  ASSERT_EQ(RunPackCache(Args(cache, packed, 0, 1)), 0);
  const auto rows = ReadTsv(packed / "pack.tsv");
  ASSERT_GE(rows.size(), 3u);
  ASSERT_TRUE(fs::remove(packed / rows[2][10]));  // Sample 1's prior_t.
  EXPECT_NE(Unpack(python, packed, faceanime::testing::TempDir() / "unpacked"), 0);
}

}  // namespace
}  // namespace faceanime::cli
