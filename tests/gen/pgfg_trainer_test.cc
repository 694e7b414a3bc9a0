#include "gen/pgfg/trainer.h"

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "gen/pgfg/dataset.h"

namespace faceanime::gen::pgfg {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kSize = 32;

// A tiny model so a step takes milliseconds.
TrainerOptions TinyOptions(const fs::path& out) {
  TrainerOptions o;
  o.generator.image_size = kSize;
  o.generator.base_channels = 8;
  o.generator.max_channels = 16;
  o.generator.num_downsamples = 2;
  o.generator.prior_channels = 4;
  o.discriminator.base_channels = 8;
  o.discriminator.max_channels = 16;
  o.discriminator.num_layers = 2;
  o.out_dir = out;
  o.device = "cpu";
  o.lr_g = 1e-3;
  o.sample_every = 0;
  o.checkpoint_every = 0;
  return o;
}

// A stored (uint8) batch with structure: the target is a shifted source, the
// warp a blurred target, priors sparse samples of source/target.
Batch StoredBatch(int64_t n, int64_t size, int seed) {
  torch::manual_seed(seed);
  auto base = torch::rand({n, 3, size / 4, size / 4});
  auto source = torch::upsample_bilinear2d(base, {size, size}, false);
  auto target = torch::roll(source, {2}, {3});
  auto warp = torch::avg_pool2d(target, 3, 1, 1);
  auto mask_s = (torch::rand({n, 1, size, size}) > 0.85).to(torch::kFloat32);
  auto mask_t = torch::roll(mask_s, {2}, {3});
  auto to8 = [](const torch::Tensor& t) { return (t.clamp(0, 1) * 255).round().to(torch::kUInt8); };
  Batch b;
  b.source = to8(source);
  b.target = to8(target);
  b.warp = to8(warp);
  b.mask_s = to8(mask_s);
  b.mask_t = to8(mask_t);
  b.prior_s = to8(source * mask_s);
  b.prior_t = to8(target * mask_t);
  return b;
}

fs::path FreshDir(const std::string& name) {
  const fs::path dir = fs::path(::testing::TempDir()) / name;
  fs::remove_all(dir);
  return dir;
}

TEST(PgfgTrainerTest, TrainingStepsOnAFixedBatchReduceL1) {
  torch::set_num_threads(1);
  const fs::path out = FreshDir("pgfg_overfit");
  auto trainer = Trainer::Create(TinyOptions(out));
  const Batch batch = ToNetwork(StoredBatch(2, kSize, 1));
  const double first = trainer->Step(batch).l1;
  double last = first;
  for (int i = 0; i < 40; ++i) last = trainer->Step(batch).l1;
  EXPECT_LT(last, 0.7 * first) << "first " << first << " last " << last;
  EXPECT_EQ(trainer->step(), 41);
  // The loss log: a header and one line per step.
  std::ifstream log(out / "losses.csv");
  std::string line;
  int lines = 0;
  while (std::getline(log, line)) ++lines;
  EXPECT_EQ(lines, 1 + 41);
  fs::remove_all(out);
}

TEST(PgfgTrainerTest, ResumeFromCheckpointReproducesTheNextStep) {
  torch::set_num_threads(1);
  const fs::path out = FreshDir("pgfg_resume");
  const Batch batch = ToNetwork(StoredBatch(2, kSize, 2));
  TrainerOptions options = TinyOptions(out);
  options.checkpoint_every = 3;
  StepLosses expected;
  {
    auto trainer = Trainer::Create(options);
    EXPECT_FALSE(trainer->resumed());
    for (int i = 0; i < 3; ++i) trainer->Step(batch);  // Checkpoint at step 3.
    expected = trainer->Step(batch);
  }
  ASSERT_TRUE(fs::exists(out / "checkpoint" / "generator.pt"));
  auto resumed = Trainer::Create(options);
  EXPECT_TRUE(resumed->resumed());
  EXPECT_EQ(resumed->step(), 3);
  const StepLosses again = resumed->Step(batch);
  EXPECT_EQ(again.step, 4);
  EXPECT_NEAR(again.l1, expected.l1, 1e-6);
  EXPECT_NEAR(again.discriminator, expected.discriminator, 1e-5);
  EXPECT_NEAR(again.generator_total, expected.generator_total, 1e-5);
  // A fresh trainer (no checkpoint) does not give the same step-4 loss.
  options.out_dir = FreshDir("pgfg_resume_fresh");
  auto fresh = Trainer::Create(options);
  EXPECT_GT(std::abs(fresh->Step(batch).l1 - expected.l1), 1e-4);
  // The checkpoint's architecture includes the stem stride: another one is refused.
  TrainerOptions other = TinyOptions(out);
  other.generator.stem_stride = 1;
  EXPECT_THROW(Trainer::Create(other), std::invalid_argument);
  fs::remove_all(out);
  fs::remove_all(options.out_dir);
}

TEST(PgfgTrainerTest, EachCheckpointReplacesThePreviousOne) {
  torch::set_num_threads(1);
  const fs::path out = FreshDir("pgfg_second_checkpoint");
  const Batch batch = ToNetwork(StoredBatch(2, kSize, 2));
  TrainerOptions options = TinyOptions(out);
  options.checkpoint_every = 2;
  {
    auto trainer = Trainer::Create(options);
    for (int i = 0; i < 5; ++i) trainer->Step(batch);  // Checkpoints at steps 2 and 4.
  }
  EXPECT_FALSE(fs::exists(out / "checkpoint.tmp"));
  auto resumed = Trainer::Create(options);
  EXPECT_TRUE(resumed->resumed());
  EXPECT_EQ(resumed->step(), 4);
  fs::remove_all(out);
}

TEST(PgfgTrainerTest, InitGeneratorStartsFromAnotherRunsWeights) {
  torch::set_num_threads(1);
  const Batch batch = ToNetwork(StoredBatch(2, kSize, 2));
  const fs::path trained_dir = FreshDir("pgfg_init_source");
  auto trained = Trainer::Create(TinyOptions(trained_dir));
  for (int i = 0; i < 3; ++i) trained->Step(batch);
  const fs::path file = trained_dir / "generator.pt";
  SaveGenerator(trained->generator(), file);

  const fs::path dir = FreshDir("pgfg_init_target");
  auto fresh = Trainer::Create(TinyOptions(dir));
  fresh->InitGenerator(file);
  EXPECT_EQ(fresh->step(), 0);  // A new run, not a resume.
  const auto want = trained->generator()->named_parameters();
  int64_t checked = 0;
  for (const auto& item : fresh->generator()->named_parameters()) {
    EXPECT_TRUE(torch::equal(item.value(), want[item.key()])) << item.key();
    ++checked;
  }
  EXPECT_GT(checked, 10);
  // Its first step starts from the trained weights: the same L1 as the trained run's next step.
  EXPECT_NEAR(fresh->Step(batch).l1, trained->Step(batch).l1, 1e-6);

  TrainerOptions other = TinyOptions(FreshDir("pgfg_init_other"));
  other.generator.stem_stride = 1;
  auto mismatched = Trainer::Create(other);
  EXPECT_THROW(mismatched->InitGenerator(file), std::invalid_argument);
  EXPECT_THROW(fresh->InitGenerator(dir / "missing.pt"), std::runtime_error);
  fs::remove_all(trained_dir);
  fs::remove_all(dir);
  fs::remove_all(other.out_dir);
}

TEST(PgfgTrainerTest, RemoveTreeDeletesNestedFoldersAndIgnoresMissingOnes) {
  const fs::path root = FreshDir("pgfg_remove_tree");
  fs::create_directories(root / "a" / "b");
  std::ofstream(root / "a" / "b" / "f.bin") << "x";
  std::ofstream(root / "g.csv") << "y";
  RemoveTree(root);
  EXPECT_FALSE(fs::exists(root));
  EXPECT_NO_THROW(RemoveTree(root));  // Already gone: nothing to do.
}

TEST(PgfgTrainerTest, WritesSampleGridPng) {
  const fs::path out = FreshDir("pgfg_samples");
  TrainerOptions options = TinyOptions(out);
  options.sample_every = 2;
  auto trainer = Trainer::Create(options);
  const Batch batch = ToNetwork(StoredBatch(3, kSize, 3));
  trainer->Step(batch);
  EXPECT_FALSE(fs::exists(out / "samples" / "step_0000001.png"));
  trainer->Step(batch);
  const cv::Mat grid = cv::imread((out / "samples" / "step_0000002.png").string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(grid.empty());
  EXPECT_EQ(grid.cols, 7 * kSize);  // source | p_t | W | C | A | output | target
  EXPECT_EQ(grid.rows, 3 * kSize);
  // The first column is the source: compare one pixel (grid is BGR).
  const auto src = batch.source.index({1, torch::indexing::Slice(), 5, 7});
  const cv::Vec3b px = grid.at<cv::Vec3b>(kSize + 5, 7);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(px[2 - c], (src[c].item<float>() + 1) * 127.5, 1.0);
  }
  fs::remove_all(out);
}

TEST(PgfgTrainerTest, IdentityWeightWithoutEmbedderIsRejected) {
  TrainerOptions options = TinyOptions(FreshDir("pgfg_identity"));
  options.identity_weight = 1.0;
  EXPECT_THROW(Trainer::Create(options), std::invalid_argument);
}

TEST(PgfgDatasetTest, ShardRoundTripAndNetworkConventions) {
  const fs::path dir = FreshDir("pgfg_shards");
  fs::create_directories(dir / "train");
  const Batch stored = StoredBatch(5, kSize, 4);
  WriteShard(stored, dir / "train" / "shard_00000.pt");
  const Batch read = ReadShard(dir / "train" / "shard_00000.pt");
  EXPECT_TRUE(torch::equal(read.source, stored.source));
  EXPECT_TRUE(torch::equal(read.mask_t, stored.mask_t));
  EXPECT_TRUE(torch::equal(read.target, stored.target));

  const ShardDataset data = ShardDataset::Load(dir);
  EXPECT_EQ(data.size(), 5);
  EXPECT_EQ(data.image_size(), kSize);
  const Batch a = data.Draw(3, 7, 11, true, torch::kCPU);
  const Batch b = data.Draw(3, 7, 11, true, torch::kCPU);
  EXPECT_EQ(a.size(), 3);
  EXPECT_TRUE(torch::equal(a.source, b.source));  // Same (seed, step): same batch.
  EXPECT_GE(a.source.min().item<float>(), -1.0f);
  EXPECT_LE(a.source.max().item<float>(), 1.0f);
  EXPECT_GE(a.mask_s.min().item<float>(), 0.0f);
  bool differs = false;
  for (int step = 12; step < 20 && !differs; ++step) {
    differs = !torch::equal(data.Draw(3, 7, step, true, torch::kCPU).source, a.source);
  }
  EXPECT_TRUE(differs);
  fs::remove_all(dir);
}

// One colour matrix per sample, the same on all its images: a pixel equal in
// the source and the target stays equal, black prior pixels stay black,
// masks are untouched; samples get different matrices; (seed, step) repeats.
TEST(PgfgDatasetTest, ColourJitterRecoloursEachSampleConsistentlyAcrossItsImages) {
  Batch b = ToNetwork(StoredBatch(4, kSize, 5));
  b.target = b.source.clone();  // So the jittered target must equal the jittered source.
  const Batch j = JitterColours(b, 0.1, 3, 17);
  EXPECT_TRUE(torch::allclose(j.target, j.source));
  EXPECT_TRUE(torch::equal(j.mask_s, b.mask_s));
  EXPECT_TRUE(torch::equal(j.mask_t, b.mask_t));
  EXPECT_GT((j.source - b.source).abs().mean().item<float>(), 0.01f);  // It does recolour.
  EXPECT_GE(j.source.min().item<float>(), -1.0f);
  EXPECT_LE(j.source.max().item<float>(), 1.0f);
  // Black (-1) stays black: the prior is black wherever its mask is empty.
  const torch::Tensor empty = (b.mask_s == 0).expand_as(b.prior_s);
  EXPECT_TRUE(torch::allclose(j.prior_s.masked_select(empty), b.prior_s.masked_select(empty)));
  // Each sample has its own matrix: the mean colour change differs.
  const torch::Tensor change = (j.source - b.source).mean({2, 3});  // [N,3]
  EXPECT_FALSE(torch::allclose(change[0], change[1], 1e-3, 1e-3));
  EXPECT_TRUE(torch::equal(JitterColours(b, 0.1, 3, 17).warp, j.warp));
  EXPECT_FALSE(torch::equal(JitterColours(b, 0.1, 3, 18).warp, j.warp));
  EXPECT_TRUE(torch::equal(JitterColours(b, 0.0, 3, 17).source, b.source));
  EXPECT_THROW(JitterColours(b, 1.5, 3, 17), std::invalid_argument);
}

TEST(PgfgDatasetTest, WeightedDrawsFollowTheWeightsAndManifestKindsFollowTheSampleOrder) {
  const fs::path dir = FreshDir("pgfg_weighted");
  fs::create_directories(dir / "train");
  WriteShard(StoredBatch(3, kSize, 4), dir / "train" / "shard_00000.pt");
  WriteShard(StoredBatch(2, kSize, 9), dir / "train" / "shard_00001.pt");
  // Rows out of order and a held-out row: kinds come back in (shard, index) order.
  std::ofstream(dir / "manifest.tsv") << "split\tshard\tindex\tkind\tname\tsource_frame\ttarget_frame\n"
                                         "train\t1\t1\tlondon\tb\t-1\t-1\n"
                                         "train\t0\t0\tgrid\tc\t0\t5\n"
                                         "heldout\t0\t0\tgrid\th\t0\t5\n"
                                         "train\t0\t2\tgrid\tc\t0\t9\n"
                                         "train\t1\t0\tlondon\ta\t-1\t-1\n"
                                         "train\t0\t1\tgrid\tc\t0\t7\n";
  EXPECT_EQ(ShardDataset::TrainKinds(dir),
            (std::vector<std::string>{"grid", "grid", "grid", "london", "london"}));

  ShardDataset data = ShardDataset::Load(dir);
  ASSERT_EQ(data.size(), 5);
  EXPECT_THROW(data.SetWeights({1, 1}), std::invalid_argument);
  EXPECT_THROW(data.SetWeights({1, 1, 1, 0, 1}), std::invalid_argument);
  // Sample 3 weighs 20 of 24: drawn alone it comes first in ~83% of steps;
  // uniformly it would be 20%.
  data.SetWeights({1, 1, 1, 20, 1});
  const torch::Tensor heavy = ToNetwork(data.stored().Index(torch::tensor({3}, torch::kInt64))).source;
  int hits = 0;
  const int kSteps = 400;
  for (int step = 0; step < kSteps; ++step) {
    hits += torch::equal(data.Draw(1, 5, step, false, torch::kCPU).source, heavy);
  }
  EXPECT_GT(hits, kSteps * 0.7);
  EXPECT_LT(hits, kSteps * 0.95);
  // Still deterministic per (seed, step), still without replacement.
  EXPECT_TRUE(torch::equal(data.Draw(4, 5, 3, true, torch::kCPU).source, data.Draw(4, 5, 3, true, torch::kCPU).source));
  const Batch all = data.Draw(5, 5, 8, false, torch::kCPU);
  EXPECT_EQ(std::get<0>(torch::unique_dim(all.source.flatten(1), 0)).size(0), 5);
  fs::remove_all(dir);
}

TEST(PgfgDatasetTest, BadShardsAreReportedByName) {
  const fs::path dir = FreshDir("pgfg_bad_shards");
  fs::create_directories(dir);
  Batch wrong = StoredBatch(2, kSize, 5);
  wrong.mask_s = wrong.source;  // 3 channels where 1 is expected.
  EXPECT_THROW(WriteShard(wrong, dir / "shard_00000.pt"), std::invalid_argument);
  std::ofstream(dir / "shard_00001.pt") << "garbage";
  try {
    ShardDataset::Load(dir);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("shard_00001.pt"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ShardDataset::Load(dir / "missing"), std::runtime_error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace faceanime::gen::pgfg
