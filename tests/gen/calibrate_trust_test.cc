// `faceanime calibrate-trust` (tools/cli/calibrate_trust_command.h): the
// percentile rule, the rewrite of a model file, and a measurement on GRID
// training clips with the committed model (skipped without ../shared).
#include "tools/cli/calibrate_trust_command.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "gen/pgfg/networks.h"
#include "pipeline/evaluation.h"
#include "predict/predictor_training.h"
#include "tests/test_support.h"

namespace faceanime::cli {
namespace {

namespace fs = std::filesystem;

TEST(CalibrateTrustTest, NearestRankPercentileIsTheSmallestValueWithThatShareAtOrBelowIt) {
  const std::vector<double> v = {5, 1, 4, 2, 3};
  EXPECT_EQ(NearestRankPercentile(v, 50), 3);
  EXPECT_EQ(NearestRankPercentile(v, 80), 4);   // 4 of 5 values at or below 4.
  EXPECT_EQ(NearestRankPercentile(v, 81), 5);   // 81% needs 5 of 5.
  EXPECT_EQ(NearestRankPercentile(v, 100), 5);
  EXPECT_EQ(NearestRankPercentile(v, 0.1), 1);
  EXPECT_THROW(NearestRankPercentile({}, 50), std::invalid_argument);
  EXPECT_THROW(NearestRankPercentile(v, 0), std::invalid_argument);
  EXPECT_THROW(NearestRankPercentile(v, 101), std::invalid_argument);
}

TEST(CalibrateTrustTest, WriteTrustErrorStoresTheValueAndKeepsTheWeights) {
  torch::manual_seed(6);
  gen::pgfg::GeneratorOptions o = gen::pgfg::GeneratorOptions::Cpu128();
  o.image_size = 64;
  o.base_channels = 8;
  gen::pgfg::PgfgGenerator g(o);
  const fs::path path = testing::TempDir() / "calibrate_trust_model.pt";
  gen::pgfg::SaveGenerator(g, path);
  WriteTrustError(path, 2.5);
  EXPECT_FALSE(fs::exists(path.string() + ".tmp"));
  const gen::pgfg::PgfgGenerator loaded = gen::pgfg::LoadGenerator(path);
  EXPECT_DOUBLE_EQ(loaded->trust_error, 2.5);
  const auto original = g->named_parameters();
  const auto rewritten = loaded->named_parameters();
  ASSERT_EQ(original.size(), rewritten.size());
  for (const auto& p : original) EXPECT_TRUE(torch::equal(p.value(), rewritten[p.key()])) << p.key();

  EXPECT_THROW(WriteTrustError(path, 0.0), std::invalid_argument);
  EXPECT_THROW(WriteTrustError(path, std::nan("")), std::invalid_argument);
  EXPECT_THROW(WriteTrustError(testing::TempDir() / "no_such_model.pt", 1.0), std::runtime_error);
  fs::remove(path);
}

// On the first clips of GRID s1 with the committed 128 model: only training
// clips are measured (clip 0 of the listing is held out), each error is the
// retargeter's self-check, and the threshold is their percentile.
TEST(CalibrateTrustTest, MeasuresTheTrainingClipsOnly) {
  const fs::path grid = testing::SharedDir() / "data" / "grid" / "s1";
  if (testing::SharedDir().empty() || !fs::exists(grid)) GTEST_SKIP() << "../shared/data/grid is absent";
  CalibrateTrustArgs args;
  args.model = (fs::path(FACEANIME_TEST_ASSETS) / "pgfg" / "pgfg_128.pt").string();
  args.grid = grid.string();
  args.clips = 4;
  args.quiet = true;
  const TrustCalibration c = CalibrateTrust(args);
  const auto listing = pipeline::FindEvalCases(pipeline::EvalSuite::kSelf, grid, 4);
  std::set<std::string> measured;
  std::vector<double> values;
  for (const auto& [name, error] : c.errors) {
    measured.insert(name);
    values.push_back(error);
    EXPECT_GT(error, 0.0) << name;
    EXPECT_LT(error, 10.0) << name;  // Its own training speaker: ~1 grey level (assets/pgfg/README.md).
  }
  for (int i = 0; i < 4; ++i) {
    const bool skipped = std::count(c.skipped.begin(), c.skipped.end(), listing[i].name) > 0;
    EXPECT_EQ(measured.count(listing[i].name) > 0, !predict::IsHeldOutClip(i) && !skipped) << listing[i].name;
  }
  ASSERT_FALSE(values.empty());
  EXPECT_EQ(c.threshold, NearestRankPercentile(values, 81));
  EXPECT_EQ(c.median, NearestRankPercentile(values, 50));

  args.model = (testing::TempDir() / "missing_model.pt").string();
  EXPECT_ANY_THROW(CalibrateTrust(args));
}

}  // namespace
}  // namespace faceanime::cli
