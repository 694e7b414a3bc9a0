// Evaluation (faceanime eval): case discovery, aggregation and reports on
// constructed results with known answers, and the whole evaluator on a
// constructed clip (a real portrait repeated, or shifted) where the answers
// are known: the unchanged-source baseline on identical frames is exact
// (L1 0, PSNR cap, SSIM 1, AKD 0, AED 0), the similarity warp recovers a
// known shift, and the pipeline on a motionless driver reproduces the source.
#include "pipeline/evaluation.h"

#include <cmath>
#include <fstream>
#include <limits>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "pipeline/metrics.h"
#include "tests/test_support.h"

namespace faceanime::pipeline {
namespace {

namespace fs = std::filesystem;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int64_t kFrameNs = 40'000'000;  // 25 fps.

void Touch(const fs::path& p) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << "x";
}

TEST(EvalSuiteTest, NamesRoundTripAndUnknownNamesAreRejected) {
  for (auto s : {EvalSuite::kSelf, EvalSuite::kCross, EvalSuite::kPairs}) {
    EXPECT_EQ(ParseEvalSuite(EvalSuiteName(s)), s);
  }
  EXPECT_THROW(ParseEvalSuite("selfie"), std::invalid_argument);
  EXPECT_EQ(EvalMethods(EvalSuite::kSelf), (std::vector<std::string>{"faceanime", "source", "similarity"}));
  EXPECT_EQ(EvalMethods(EvalSuite::kCross), (std::vector<std::string>{"faceanime"}));
}

TEST(FindEvalCasesTest, SelfAndCrossListClipsInNameOrder) {
  const fs::path dir = testing::TempDir() / "clips";
  for (const char* n : {"c.mpg", "a.mpg", "b.mp4", "notes.txt"}) Touch(dir / n);
  const auto self = FindEvalCases(EvalSuite::kSelf, dir);
  ASSERT_EQ(self.size(), 3u);
  EXPECT_EQ(self[0].name, "a");
  EXPECT_EQ(self[0].source, dir / "a.mpg");
  EXPECT_EQ(self[0].driver, dir / "a.mpg");
  EXPECT_EQ(self[2].name, "c");
  EXPECT_EQ(FindEvalCases(EvalSuite::kSelf, dir, 2).size(), 2u);
  // Every 2nd case (0 and 2), then at most max_cases of those.
  const auto every = FindEvalCases(EvalSuite::kSelf, dir, 0, 2);
  ASSERT_EQ(every.size(), 2u);
  EXPECT_EQ(every[0].name, "a");
  EXPECT_EQ(every[1].name, "c");
  EXPECT_EQ(FindEvalCases(EvalSuite::kSelf, dir, 1, 2).size(), 1u);
  EXPECT_THROW(FindEvalCases(EvalSuite::kSelf, dir, 0, 0), std::invalid_argument);

  const auto cross = FindEvalCases(EvalSuite::kCross, dir);
  ASSERT_EQ(cross.size(), 3u);
  EXPECT_EQ(cross[0].name, "a->b");
  EXPECT_EQ(cross[0].driver, dir / "b.mp4");
  EXPECT_EQ(cross[2].name, "c->a");  // Wraps around.
}

TEST(FindEvalCasesTest, PairsNeedBothPhotosOfAnIdentity) {
  const fs::path dir = testing::TempDir() / "london";
  Touch(dir / "neutral" / "002_03.jpg");
  Touch(dir / "neutral" / "001_03.jpg");
  Touch(dir / "neutral" / "003_03.jpg");  // No smiling photo: skipped.
  Touch(dir / "smiling" / "001_08.jpg");
  Touch(dir / "smiling" / "002_08.jpg");
  const auto cases = FindEvalCases(EvalSuite::kPairs, dir);
  ASSERT_EQ(cases.size(), 2u);
  EXPECT_EQ(cases[0].name, "001");
  EXPECT_EQ(cases[0].source, dir / "neutral" / "001_03.jpg");
  EXPECT_EQ(cases[0].driver, dir / "smiling" / "001_08.jpg");
}

TEST(FindEvalCasesTest, ErrorsNameTheFolderAndLayout) {
  const fs::path empty = testing::TempDir() / "empty";
  fs::create_directories(empty);
  try {
    FindEvalCases(EvalSuite::kPairs, empty);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("neutral/NNN_03.jpg"), std::string::npos) << e.what();
  }
  EXPECT_THROW(FindEvalCases(EvalSuite::kSelf, empty), std::invalid_argument);
  EXPECT_THROW(FindEvalCases(EvalSuite::kSelf, empty / "missing"), std::invalid_argument);
  Touch(empty / "one.mpg");
  EXPECT_THROW(FindEvalCases(EvalSuite::kCross, empty), std::invalid_argument);  // Needs 2 clips.
}

CaseResult Constructed(const std::string& name, double ours, double source, double similarity) {
  CaseResult c;
  c.name = name;
  c.frames = 10;
  for (const auto& key : EvalMetricKeys()) {
    c.methods["faceanime"][key] = ours;
    c.methods["source"][key] = source;
    c.methods["similarity"][key] = similarity;
  }
  return c;
}

TEST(AggregateTest, MeansOverCasesLeaveUndefinedValuesOut) {
  std::vector<CaseResult> cases = {Constructed("a", 0.8, 0.5, 0.6), Constructed("b", 0.6, 0.7, 0.2)};
  cases[1].methods["source"]["aed"] = kNaN;
  const auto agg = AggregateCases(cases, EvalMethods(EvalSuite::kSelf));
  EXPECT_DOUBLE_EQ(agg.at("faceanime").at("ssim_mouth"), 0.7);
  EXPECT_DOUBLE_EQ(agg.at("similarity").at("l1_face"), 0.4);
  EXPECT_DOUBLE_EQ(agg.at("source").at("aed"), 0.5);  // Only case a defines it.
  EXPECT_TRUE(MouthSsimBeatsBaselines(cases[0]));
  EXPECT_FALSE(MouthSsimBeatsBaselines(cases[1]));  // 0.6 < source's 0.7.
  CaseResult tie = Constructed("t", 0.5, 0.5, 0.1);
  EXPECT_FALSE(MouthSsimBeatsBaselines(tie));  // Strictly above.
}

TEST(ReportTest, JsonHasStableKeysAndNullForUndefined) {
  SuiteResult r;
  r.suite = EvalSuite::kSelf;
  r.data_dir = "/data";
  r.methods = EvalMethods(r.suite);
  r.cases = {Constructed("a", 0.8, 0.5, 0.6), Constructed("b", 0.6, 0.7, 0.2)};
  r.cases[0].methods["faceanime"]["jitter_px"] = kNaN;
  r.skipped = {{"c", "no face in the source"}};
  r.aggregate = AggregateCases(r.cases, r.methods);
  const auto j = nlohmann::json::parse(SuiteResultToJson(r));
  ASSERT_EQ(j.at("skipped").size(), 1u);
  EXPECT_EQ(j["skipped"][0]["name"], "c");
  EXPECT_EQ(j["skipped"][0]["reason"], "no face in the source");
  EXPECT_EQ(j.at("suite"), "self");
  EXPECT_EQ(j.at("metrics").size(), EvalMetricKeys().size());
  ASSERT_EQ(j.at("cases").size(), 2u);
  EXPECT_TRUE(j["cases"][0]["methods"]["faceanime"]["jitter_px"].is_null());
  EXPECT_DOUBLE_EQ(j["cases"][1]["methods"]["similarity"]["ssim_mouth"].get<double>(), 0.2);
  EXPECT_TRUE(j["cases"][0]["mouth_ssim_beats_baselines"].get<bool>());
  EXPECT_FALSE(j["cases"][1]["mouth_ssim_beats_baselines"].get<bool>());
  EXPECT_EQ(j["mouth_ssim_wins"]["wins"], 1);
  EXPECT_EQ(j["mouth_ssim_wins"]["cases"], 2);
  EXPECT_DOUBLE_EQ(j["aggregate"]["faceanime"]["jitter_px"].get<double>(), 0.6);  // Case a left out.

  const std::string md = SuiteResultToMarkdown(r);
  EXPECT_NE(md.find("| faceanime | 0.70 |"), std::string::npos) << md;
  EXPECT_NE(md.find("SSIM mouth"), std::string::npos);
  EXPECT_NE(md.find("skipped c: no face in the source"), std::string::npos) << md;
  EXPECT_NE(md.find("beats both baselines in 1 of 2 cases; not in: b"), std::string::npos) << md;

  r.suite = EvalSuite::kCross;  // No ground truth: no image columns, no wins.
  const std::string cross = SuiteResultToMarkdown(r);
  EXPECT_EQ(cross.find("SSIM mouth"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(SuiteResultToJson(r)).count("mouth_ssim_wins"), 0u);
}

TEST(EvaluatorTest, CreateValidatesOptions) {
  EvaluationOptions o;
  o.retarget.output_crop = 256;
  EXPECT_THROW(Evaluator::Create(o), std::invalid_argument);
  o = {};
  o.max_frames = -1;
  EXPECT_THROW(Evaluator::Create(o), std::invalid_argument);
}

// The whole evaluator on constructed clips of a real portrait.
class EvaluatorClipTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const cv::Mat bgr = cv::imread(std::string(FACEANIME_TEST_ASSETS) + "/grace_hopper.jpg");
    ASSERT_FALSE(bgr.empty());
    cv::cvtColor(bgr, *source_, cv::COLOR_BGR2RGB);
    EvaluationOptions o;
    o.suite = EvalSuite::kSelf;
    o.contact_sheets = true;
    *evaluator_ = Evaluator::Create(o);
  }
  static void TearDownTestSuite() { evaluator_->reset(); }

  static CaseResult Run(const std::vector<cv::Mat>& frames) {
    std::vector<int64_t> pts;
    for (size_t i = 0; i < frames.size(); ++i) pts.push_back(static_cast<int64_t>(i) * kFrameNs);
    return (*evaluator_)->EvaluateFrames("clip", *source_, frames, pts, /*still=*/false);
  }

  static inline cv::Mat* source_ = new cv::Mat();
  static inline std::unique_ptr<Evaluator>* evaluator_ = new std::unique_ptr<Evaluator>();
};

TEST_F(EvaluatorClipTest, IdenticalFramesGiveExactAnswersForTheSourceBaseline) {
  const std::vector<cv::Mat> clip = {*source_, *source_, *source_};
  const CaseResult r = Run(clip);
  EXPECT_EQ(r.frames, 3);
  EXPECT_EQ(r.ground_truth_frames, 3);
  const MetricMap& src = r.methods.at("source");
  EXPECT_EQ(src.at("l1_face"), 0.0);
  EXPECT_EQ(src.at("l1_mouth"), 0.0);
  EXPECT_EQ(src.at("psnr_face"), metrics::kPsnrCapDb);
  EXPECT_DOUBLE_EQ(src.at("ssim_face"), 1.0);
  EXPECT_DOUBLE_EQ(src.at("ssim_mouth"), 1.0);
  // The same images through identically configured measurement analyzers.
  EXPECT_NEAR(src.at("akd_px"), 0.0, 1e-9);
  EXPECT_EQ(src.at("aed"), 0.0);
  EXPECT_LT(src.at("identity_distance"), 0.1);
  // The ground truth is the source image itself: both identity distances
  // measure the same pair of images.
  EXPECT_DOUBLE_EQ(src.at("identity_distance_gt"), src.at("identity_distance"));
  EXPECT_DOUBLE_EQ(r.ground_truth_identity_distance, src.at("identity_distance"));
  EXPECT_EQ(src.at("output_face_rate"), 1.0);
  EXPECT_GT(src.at("fps"), 0.0);
  EXPECT_DOUBLE_EQ(src.at("jitter_px"), r.driver_jitter_px);  // Same landmark stream.

  // The similarity warp between identical landmark sets is the identity.
  const MetricMap& sim = r.methods.at("similarity");
  EXPECT_LT(sim.at("l1_face"), 0.5);
  EXPECT_GT(sim.at("ssim_face"), 0.99);

  // A motionless driver: the pipeline renders the source at its own fit.
  const MetricMap& ours = r.methods.at("faceanime");
  EXPECT_EQ(ours.at("output_face_rate"), 1.0);
  EXPECT_GT(ours.at("ssim_face"), 0.95);
  EXPECT_LT(ours.at("l1_face"), 3.0);
  EXPECT_LT(ours.at("akd_px"), 1.0);
  EXPECT_LT(ours.at("aed"), 0.02);
  EXPECT_LT(ours.at("identity_distance"), 0.1);
  EXPECT_LT(ours.at("identity_distance_gt"), 0.1);

  // Sheet: source, driver and three outputs side by side.
  ASSERT_FALSE(r.sheet.empty());
  EXPECT_GT(r.sheet.cols, 4 * r.sheet.rows);
}

TEST_F(EvaluatorClipTest, SimilarityBaselineRecoversAKnownShift) {
  // The driver is the portrait moved by (12, 6) px: the similarity warp of
  // the source onto the driver's landmarks reproduces it; the unchanged
  // source does not.
  cv::Mat shifted;
  const cv::Mat m = (cv::Mat_<double>(2, 3) << 1, 0, 12, 0, 1, 6);
  cv::warpAffine(*source_, shifted, m, source_->size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  const CaseResult r = Run({shifted, shifted, shifted});
  const MetricMap& sim = r.methods.at("similarity");
  const MetricMap& src = r.methods.at("source");
  EXPECT_LT(sim.at("l1_face"), 0.5 * src.at("l1_face"));
  EXPECT_GT(sim.at("ssim_face"), src.at("ssim_face") + 0.3);
  EXPECT_GT(sim.at("ssim_face"), 0.7);  // Sub-pixel landmark error remains.
  // Aligned AKD ignores the rigid shift for both.
  EXPECT_LT(src.at("akd_px"), 1.5);
  EXPECT_LT(sim.at("akd_px"), 1.5);
}

// Per-frame values (EvaluationOptions::per_frame): one entry per driver
// frame and method, consistent with the case means, and the measured mouth
// shift recovers a known displacement of the ground truth.
TEST_F(EvaluatorClipTest, PerFrameValuesMatchTheMeansAndLocateTheMouth) {
  EvaluationOptions o;
  o.suite = EvalSuite::kSelf;
  o.per_frame = true;
  const auto evaluator = Evaluator::Create(o);
  cv::Mat shifted;
  const cv::Mat m = (cv::Mat_<double>(2, 3) << 1, 0, 12, 0, 1, 6);
  cv::warpAffine(*source_, shifted, m, source_->size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  const std::vector<cv::Mat> clip = {*source_, shifted, shifted};
  const CaseResult r = evaluator->EvaluateFrames("clip", *source_, clip, {0, kFrameNs, 2 * kFrameNs}, false);
  ASSERT_EQ(r.ground_truth_lip_gap_px.size(), 3u);
  EXPECT_GE(r.ground_truth_lip_gap_px[0], 0.0);
  ASSERT_EQ(r.per_frame.size(), 3u);
  for (const auto& [name, frames] : r.per_frame) {
    ASSERT_EQ(frames.size(), 3u) << name;
    double sum = 0, identity = 0;
    for (const auto& f : frames) {
      sum += f.ssim_mouth;
      identity += f.identity_distance;
    }
    EXPECT_NEAR(sum / 3, r.methods.at(name).at("ssim_mouth"), 1e-12) << name;
    EXPECT_NEAR(identity / 3, r.methods.at(name).at("identity_distance"), 1e-12) << name;
  }
  // The unchanged source's mouth lies (-12, -6) px from the shifted ground
  // truth's; on the first frame (the source itself) it coincides.
  const auto& src = r.per_frame.at("source");
  EXPECT_NEAR(src[0].mouth_dx_px, 0.0, 1e-9);
  EXPECT_NEAR(src[0].lip_gap_error_px, 0.0, 1e-9);
  EXPECT_DOUBLE_EQ(src[0].ssim_mouth, 1.0);
  EXPECT_NEAR(src[0].identity_distance, 0.0, 1e-6);
  // The rendered state's model lip gap: faceanime only. On frame 0 (the
  // source itself) it is the source fit's, which follows the measured lips.
  EXPECT_TRUE(std::isnan(src[0].model_lip_gap_px));
  const auto& fa = r.per_frame.at("faceanime");
  ASSERT_FALSE(std::isnan(fa[0].model_lip_gap_px));
  EXPECT_NEAR(fa[0].model_lip_gap_px, r.ground_truth_lip_gap_px[0], 1.0);
  EXPECT_NEAR(src[2].mouth_dx_px, -12.0, 1.0);
  EXPECT_NEAR(src[2].mouth_dy_px, -6.0, 1.0);
  EXPECT_LT(src[2].ssim_mouth, 0.9);
  // The similarity warp puts it in place.
  EXPECT_NEAR(r.per_frame.at("similarity")[2].mouth_dx_px, 0.0, 1.0);
  EXPECT_NEAR(r.per_frame.at("similarity")[2].mouth_dy_px, 0.0, 1.0);

  SuiteResult suite;
  suite.suite = EvalSuite::kSelf;
  suite.methods = EvalMethods(suite.suite);
  suite.cases = {r};
  const auto j = nlohmann::json::parse(SuiteResultToJson(suite));
  const auto& pf = j["cases"][0].at("per_frame");
  EXPECT_EQ(pf.at("ground_truth_lip_gap_px").size(), 3u);
  EXPECT_EQ(pf.at("source").at("mouth_dx_px").size(), 3u);
  EXPECT_NEAR(pf["source"]["mouth_dx_px"][2].get<double>(), src[2].mouth_dx_px, 1e-9);
  EXPECT_NEAR(pf["faceanime"]["model_lip_gap_px"][0].get<double>(), fa[0].model_lip_gap_px, 1e-9);
  EXPECT_TRUE(pf["similarity"]["model_lip_gap_px"][0].is_null());
  EXPECT_EQ(pf.at("faceanime").at("ssim_mouth").size(), 3u);
  // Without the option the JSON has no per-frame block.
  suite.cases[0].per_frame.clear();
  EXPECT_EQ(nlohmann::json::parse(SuiteResultToJson(suite))["cases"][0].count("per_frame"), 0u);
}

// A clip that starts with frames showing no face (like GRID clips that begin
// with grey frames before their first key frame): the source is the first
// frame with a face, reported as such, and the frames before it are left
// out; a clip with no face in the search window is a SourceError that names
// the frames searched and the options to change.
TEST_F(EvaluatorClipTest, SourceFrameWithoutAFaceIsReplacedByTheFirstFrameWithOne) {
  const fs::path clip = testing::TempDir() / "grey_start.avi";
  const fs::path grey = testing::TempDir() / "all_grey.avi";
  {
    cv::Mat small, bgr;
    cv::resize(*source_, small, {source_->cols / 2 * 2, source_->rows / 2 * 2});
    cv::cvtColor(small, bgr, cv::COLOR_RGB2BGR);
    const cv::Mat blank(bgr.size(), CV_8UC3, cv::Scalar::all(128));
    cv::VideoWriter writer(clip.string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 25.0, bgr.size());
    cv::VideoWriter grey_writer(grey.string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 25.0, bgr.size());
    ASSERT_TRUE(writer.isOpened() && grey_writer.isOpened());
    for (int i = 0; i < 2; ++i) writer.write(blank);
    for (int i = 0; i < 3; ++i) writer.write(bgr);
    for (int i = 0; i < 3; ++i) grey_writer.write(blank);
  }
  const CaseResult r = (*evaluator_)->Evaluate({"grey_start", clip, clip});
  EXPECT_EQ(r.requested_source_frame, 0);
  EXPECT_EQ(r.source_frame, 2);
  EXPECT_EQ(r.frames, 3);  // Frames 0-1 left out.
  EXPECT_EQ(r.ground_truth_frames, 3);
  EXPECT_EQ(r.methods.at("source").at("output_face_rate"), 1.0);
  SuiteResult suite;
  suite.suite = EvalSuite::kSelf;
  suite.methods = EvalMethods(EvalSuite::kSelf);
  suite.cases = {r};
  EXPECT_EQ(nlohmann::json::parse(SuiteResultToJson(suite))["cases"][0]["source_frame"], 2);
  EXPECT_NE(SuiteResultToMarkdown(suite).find("grey_start: source = frame 2 (frame 0 shows no face"), std::string::npos);

  try {
    (*evaluator_)->Evaluate({"all_grey", grey, grey});
    ADD_FAILURE() << "expected a SourceError";
  } catch (const SourceError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("frames 0-2"), std::string::npos) << what;
    EXPECT_NE(what.find("--source-search"), std::string::npos) << what;
  }
}

// The timing hooks the bench command reads: filled when asked, and the
// output is the same with or without them.
TEST_F(EvaluatorClipTest, StageTimesAreFilledWithoutChangingTheOutput) {
  RetargeterOptions o;
  o.source_rgb = *source_;
  o.source_image = "grace_hopper.jpg";
  auto timed = Retargeter::Create(o);
  auto plain = Retargeter::Create(o);
  cv::Mat moved;
  const cv::Mat m = (cv::Mat_<double>(2, 3) << 1, 0, 4, 0, 1, 2);
  cv::warpAffine(*source_, moved, m, source_->size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  const std::vector<cv::Mat> frames = {*source_, moved, *source_};
  for (size_t i = 0; i < frames.size(); ++i) {
    StageTimes t;
    const ImageView view = ViewOf(frames[i], PixelFormat::kRgb);
    const RetargetFrame a = timed->Process(view, static_cast<int64_t>(i) * kFrameNs, &t);
    const RetargetFrame b = plain->Process(view, static_cast<int64_t>(i) * kFrameNs);
    ASSERT_TRUE(a.driver_face);
    EXPECT_EQ(cv::norm(a.rgb, b.rgb, cv::NORM_INF), 0.0) << "frame " << i;
    EXPECT_EQ(t.detected, i == 0) << "frame " << i;  // Then tracked from landmarks.
    EXPECT_GT(t.landmarks_ms, 0.0);
    EXPECT_GT(t.fit_ms, 0.0);
    EXPECT_GT(t.render_ms, 0.0);
    EXPECT_GE(t.detect_ms, 0.0);
    EXPECT_GE(t.motion_ms, 0.0);
  }
  StageTimes still;
  ASSERT_TRUE(timed->analyzer().AnalyzeStill(ViewOf(*source_, PixelFormat::kRgb), &still));
  EXPECT_TRUE(still.detected);
  EXPECT_GT(still.detect_ms, 0.0);
  EXPECT_GT(still.landmarks_ms, 0.0);
  EXPECT_GT(still.fit_ms, 0.0);
  EXPECT_EQ(still.render_ms, 0.0);  // The analyzer renders nothing.
}

}  // namespace
}  // namespace faceanime::pipeline
