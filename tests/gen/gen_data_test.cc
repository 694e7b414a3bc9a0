// `faceanime gen-data` on one GRID clip pair and one London pair: the cache
// follows gen/pgfg/dataset.h, held-out clips never reach train/, and priors
// agree with their masks.
#include "tools/cli/gen_data_command.h"

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "gen/pgfg/dataset.h"
#include "tests/test_support.h"

namespace faceanime::cli {
namespace {

namespace fs = std::filesystem;

TEST(GenDataTest, WritesTrainAndHeldOutShardsFromGridAndLondon) {
  const fs::path shared = faceanime::testing::SharedDir();
  if (shared.empty() || !fs::exists(shared / "data/grid/s1") || !fs::exists(shared / "data/london")) {
    GTEST_SKIP() << "../shared/data/grid/s1 or ../shared/data/london is absent";
  }
  GenDataArgs args;
  args.grid = (shared / "data/grid/s1").string();
  args.london = (shared / "data/london").string();
  args.out = (faceanime::testing::TempDir() / "cache").string();
  args.size = 128;
  // The project's held-out rule (predict::IsHeldOutClip: sorted indices 0,
  // 10, ...): bbaf2n (index 0) is held out, bbal7s (1) is trained on; London
  // pair 0 is held out, pair 1 trained on.
  args.clips = 2;
  args.pairs_per_clip = 2;
  args.london_pairs = 2;
  args.preview = 1;
  args.quiet = true;
  ASSERT_EQ(RunGenData(args), 0);

  const auto train = gen::pgfg::ReadShard(fs::path(args.out) / "train" / "shard_00000.pt");
  const auto heldout = gen::pgfg::ReadShard(fs::path(args.out) / "heldout" / "shard_00000.pt");
  EXPECT_EQ(train.size(), 3);    // 2 GRID targets + 1 London pair.
  EXPECT_EQ(heldout.size(), 3);  // The same.
  EXPECT_EQ(train.source.size(2), 128);

  // The manifest: the held-out clip appears only as held out.
  std::ifstream manifest(fs::path(args.out) / "manifest.tsv");
  std::string line;
  int rows = 0;
  while (std::getline(manifest, line)) {
    if (line.find("bbaf2n") != std::string::npos) {
      EXPECT_EQ(line.rfind("heldout", 0), 0u) << line;
    }
    if (line.find("bbal7s") != std::string::npos) {
      EXPECT_EQ(line.rfind("train", 0), 0u) << line;
    }
    ++rows;
  }
  EXPECT_EQ(rows, 1 + 6);

  for (const auto* b : {&train, &heldout}) {
    // Sparse priors: some but not most of the crop; black wherever the mask is 0.
    const double coverage = (b->mask_t > 0).to(torch::kFloat32).mean().item<double>();
    EXPECT_GT(coverage, 0.01);
    EXPECT_LT(coverage, 0.6);
    const auto off = (b->mask_t == 0).expand({-1, 3, -1, -1});
    EXPECT_EQ(b->prior_t.masked_select(off).max().item<int>(), 0);
    // The warp moves the source: it differs from the source crop.
    EXPECT_GT((b->warp.to(torch::kFloat32) - b->source.to(torch::kFloat32)).abs().mean().item<double>(), 0.5);
  }
  EXPECT_TRUE(fs::exists(fs::path(args.out) / "README.txt"));
  EXPECT_FALSE(fs::is_empty(fs::path(args.out) / "preview"));
}

}  // namespace
}  // namespace faceanime::cli
