// Issue 3 acceptance on real photos: FaceAnalyzer::AnalyzeStill (BlazeFace
// front, the full 68-point net, the single-image fit with default FitOptions)
// on the 72 London identities of ../shared, each photographed neutral
// (NNN_03.jpg) and smiling (NNN_08.jpg). Checks that every photo is fitted,
// the reprojection error, and that the fit tells the smile from the neutral
// twin (mouthSmile = mean of mouthSmile_L and mouthSmile_R). Skips without
// ../shared.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "pipeline/face_analyzer.h"
#include "tests/test_support.h"

namespace faceanime::pipeline {
namespace {

struct PairFit {
  std::string id;
  std::optional<FaceObservation> neutral;
  std::optional<FaceObservation> smiling;
};

double Smile(const face3d::MorphableModel& model, const FaceObservation& obs) {
  return 0.5 * (obs.params.expression[model.ExpressionIndex("mouthSmile_L")] +
                obs.params.expression[model.ExpressionIndex("mouthSmile_R")]);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// All 72 pairs, analysed once per process (~10 s).
const std::vector<PairFit>& LondonFits(const FaceAnalyzer& analyzer) {
  static const std::vector<PairFit> fits = [&] {
    std::vector<PairFit> out;
    const auto dir = testing::SharedDir() / "data" / "london";
    if (!std::filesystem::is_directory(dir / "neutral")) return out;
    std::vector<std::string> ids;
    for (const auto& entry : std::filesystem::directory_iterator(dir / "neutral")) {
      const std::string name = entry.path().filename().string();  // NNN_03.jpg
      if (name.size() == 10 && name.substr(3) == "_03.jpg") ids.push_back(name.substr(0, 3));
    }
    std::sort(ids.begin(), ids.end());
    auto analyze = [&](const std::filesystem::path& path) -> std::optional<FaceObservation> {
      const cv::Mat bgr = cv::imread(path.string(), cv::IMREAD_COLOR);
      if (bgr.empty()) return std::nullopt;
      return analyzer.AnalyzeStill(ViewOf(bgr, PixelFormat::kBgr));
    };
    for (const auto& id : ids) {
      if (!std::filesystem::exists(dir / "smiling" / (id + "_08.jpg"))) continue;
      out.push_back({id, analyze(dir / "neutral" / (id + "_03.jpg")), analyze(dir / "smiling" / (id + "_08.jpg"))});
    }
    return out;
  }();
  return fits;
}

class LondonFitTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // One thread: on a loaded 2-core machine two LibTorch/OpenCV threads made
    // the run 15x slower (67 s instead of ~5 s); the results are the same.
    FaceAnalyzerOptions options;
    options.num_threads = 1;
    analyzer_ = FaceAnalyzer::Create(options).release();
  }
  static void TearDownTestSuite() {
    delete analyzer_;
    analyzer_ = nullptr;
  }
  void SetUp() override {
    if (LondonFits(*analyzer_).empty()) GTEST_SKIP() << "../shared/data/london is absent";
  }
  static FaceAnalyzer* analyzer_;
};
FaceAnalyzer* LondonFitTest::analyzer_ = nullptr;

TEST_F(LondonFitTest, EveryPhotoIsFittedWithASmallReprojectionError) {
  const auto& fits = LondonFits(*analyzer_);
  EXPECT_EQ(fits.size(), 72u);
  std::vector<double> neutral_rmse, smiling_rmse;
  for (const auto& f : fits) {
    EXPECT_TRUE(f.neutral.has_value()) << f.id << " neutral";
    EXPECT_TRUE(f.smiling.has_value()) << f.id << " smiling";
    if (f.neutral) neutral_rmse.push_back(f.neutral->rmse_px);
    if (f.smiling) smiling_rmse.push_back(f.smiling->rmse_px);
  }
  ASSERT_FALSE(neutral_rmse.empty());
  ASSERT_FALSE(smiling_rmse.empty());
  const double neutral_max = *std::max_element(neutral_rmse.begin(), neutral_rmse.end());
  const double smiling_max = *std::max_element(smiling_rmse.begin(), smiling_rmse.end());
  std::printf("London fit RMSE (px): neutral median %.2f max %.2f; smiling median %.2f max %.2f\n",
              Median(neutral_rmse), neutral_max, Median(smiling_rmse), smiling_max);
  RecordProperty("neutral_rmse_median_px", std::to_string(Median(neutral_rmse)));
  RecordProperty("smiling_rmse_median_px", std::to_string(Median(smiling_rmse)));
  // Measured (default FitOptions, 512x512 photos, faces ~250 px wide):
  // neutral median 0.49 max 0.82 px, smiling median 0.54 max 0.87 px; 1.73 /
  // 1.96 and 1.74 / 2.02 px before the landmark offsets calibrated on GRID
  // frames (DefaultLandmarkOffsets; no London photo was used to make them).
  EXPECT_LE(Median(neutral_rmse), 0.7);
  EXPECT_LE(Median(smiling_rmse), 0.75);
  EXPECT_LE(neutral_max, 1.2);
  EXPECT_LE(smiling_max, 1.2);
}

TEST_F(LondonFitTest, TheSmileIsClearlyStrongerInTheSmilingPhotoForMostIdentities) {
  const auto& model = analyzer_->model();
  const auto& fits = LondonFits(*analyzer_);
  int pairs = 0, clearly_higher = 0;
  std::vector<double> neutral_smile, smiling_smile;
  for (const auto& f : fits) {
    if (!f.neutral || !f.smiling) continue;
    ++pairs;
    const double n = Smile(model, *f.neutral), s = Smile(model, *f.smiling);
    neutral_smile.push_back(n);
    smiling_smile.push_back(s);
    if (s > n + 0.1) {
      ++clearly_higher;
    } else {
      std::printf("  %s: mouthSmile neutral %.2f smiling %.2f\n", f.id.c_str(), n, s);
    }
  }
  std::printf("mouthSmile: neutral median %.2f, smiling median %.2f; smiling > neutral + 0.1 in %d of %d pairs\n",
              Median(neutral_smile), Median(smiling_smile), clearly_higher, pairs);
  RecordProperty("clearly_higher", clearly_higher);
  RecordProperty("pairs", pairs);
  // Measured with the default FitOptions: 57 of 72 pairs (79%), mouthSmile
  // median 0.00 neutral vs 0.29 smiling. Before the landmark offsets
  // (DefaultLandmarkOffsets, calibrated on closed-mouth GRID frames and one
  // public-domain portrait, not on this set) it was 42 of 72 (median 0.01 vs
  // 0.20): the net's jaw, mouth-corner and eye points sit systematically off
  // ICT's landmark vertices, and the fit explained that offset on every
  // photo with cheekPuff, cheekSquint, eyeWide, eyeLookIn and mouthFrown
  // (0.7-0.9 on neutral photos), which hid the smile. Of the 15 pairs left,
  // the four looked at (005, 024, 068, 108) are faint closed-lip smiles whose
  // mouth landmarks barely move.
  EXPECT_EQ(pairs, 72);
  EXPECT_GE(clearly_higher, 54);  // 75%.
  EXPECT_GT(Median(smiling_smile), Median(neutral_smile) + 0.1);
}

}  // namespace
}  // namespace faceanime::pipeline
