// The LibTorch face-api nets against the real face-api.js (tfjs CPU backend):
// tests/data/face_api/reference.json holds its outputs on the PNG fixtures
// next to it (made by tools/reference/make_face_api_reference.sh).
#include <cmath>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "face3d/expression_classifier.h"
#include "face3d/face_api_nets.h"
#include "face3d/face_recognizer.h"
#include "face3d/landmarker.h"
#include "face3d/tfjs_weights.h"

namespace faceanime::face3d {
namespace {

const std::filesystem::path kDataDir = std::filesystem::path(FACEANIME_TEST_DATA_DIR) / "face_api";

const nlohmann::json& Reference() {
  static const nlohmann::json* json = [] {
    std::ifstream in(kDataDir / "reference.json");
    return new nlohmann::json(nlohmann::json::parse(in));
  }();
  return *json;
}

cv::Mat ReadRgb(const std::string& file) {
  const cv::Mat bgr = cv::imread((kDataDir / file).string(), cv::IMREAD_COLOR);
  EXPECT_FALSE(bgr.empty()) << file;
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

double MaxAbsDiff(const std::vector<float>& ours, const nlohmann::json& theirs) {
  EXPECT_EQ(ours.size(), theirs.size());
  double worst = 0.0;
  for (size_t i = 0; i < ours.size() && i < theirs.size(); ++i) {
    worst = std::max(worst, std::abs(ours[i] - theirs[i].get<double>()));
  }
  return worst;
}

struct NetCase {
  internal::FaceApiNetKind kind;
  const char* key;
  const char* input;
};

void PrintTo(const NetCase& c, std::ostream* os) { *os << c.key; }

class FaceApiReferenceTest : public ::testing::TestWithParam<NetCase> {};

TEST_P(FaceApiReferenceTest, NetOutputMatchesFaceApiJs) {
  const NetCase& c = GetParam();
  const auto net = internal::FaceApiNet::Load(c.kind, DefaultFaceApiModelDir(), 1);
  ASSERT_GE(Reference()["fixtures"].size(), 2u);
  for (const nlohmann::json& fixture : Reference()["fixtures"]) {
    const cv::Mat rgb = ReadRgb(fixture[c.input]);
    ASSERT_EQ(rgb.rows, net->input_size());
    const double diff = MaxAbsDiff(net->Run(rgb), fixture[c.key]);
    EXPECT_LT(diff, 1e-4) << fixture["name"] << " " << c.key;
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllNets, FaceApiReferenceTest,
    ::testing::Values(NetCase{internal::FaceApiNetKind::kLandmark68, "landmarks68", "input_112"},
                      NetCase{internal::FaceApiNetKind::kLandmark68Tiny, "landmarks68_tiny", "input_112"},
                      NetCase{internal::FaceApiNetKind::kExpression, "expression", "input_112"},
                      NetCase{internal::FaceApiNetKind::kRecognition, "descriptor", "input_150"}),
    [](const auto& info) { return std::string(info.param.key); });

TEST(FaceApiReferenceTest, BatchedRunEqualsSingleRuns) {
  const auto net = internal::FaceApiNet::Load(internal::FaceApiNetKind::kLandmark68, DefaultFaceApiModelDir(), 1);
  const cv::Mat a = ReadRgb("astronaut_112.png");
  const cv::Mat b = ReadRgb("grace_hopper_112.png");
  const auto batch = net->RunBatch({a, b});
  ASSERT_EQ(batch.size(), 2u);
  const auto single_b = net->Run(b);
  for (size_t i = 0; i < single_b.size(); ++i) EXPECT_NEAR(batch[1][i], single_b[i], 1e-5);
}

// The public classes on the fixtures: a box over the whole 112x112 image with
// crop_scale 1 feeds the net exactly the fixture.
TEST(FaceApiReferenceTest, LandmarkerMapsNetOutputToImagePixels) {
  for (const bool tiny : {false, true}) {
    const auto landmarker = Landmarker::Create({.tiny = tiny});
    for (const nlohmann::json& fixture : Reference()["fixtures"]) {
      const cv::Mat rgb = ReadRgb(fixture["input_112"]);
      const Eigen::AlignedBox2d whole(Eigen::Vector2d(-0.5, -0.5), Eigen::Vector2d(111.5, 111.5));
      const SquareCrop crop = landmarker->CropFor(whole);
      EXPECT_EQ(crop.x0, 0);
      EXPECT_EQ(crop.y0, 0);
      EXPECT_EQ(crop.side, 112);
      const LandmarkResult result = landmarker->Detect(ViewOf(rgb, PixelFormat::kRgb), whole);
      const nlohmann::json& expected = fixture[tiny ? "landmarks68_tiny" : "landmarks68"];
      for (int i = 0; i < kNumLandmarks; ++i) {
        // Relative (0..1 across the 112-pixel square) to pixel centres: 112 u - 0.5.
        EXPECT_NEAR((result.points[i].x() + 0.5) / 112.0, expected[2 * i].get<double>(), 1e-4);
        EXPECT_NEAR((result.points[i].y() + 0.5) / 112.0, expected[2 * i + 1].get<double>(), 1e-4);
      }
      // The tiny net is less self-consistent on these loose crops.
      EXPECT_GT(result.confidence, tiny ? 0.3 : 0.7) << fixture["name"];
    }
  }
}

TEST(FaceApiReferenceTest, RecognizerAndClassifierMatchOnFixtures) {
  const auto recognizer = FaceRecognizer::Create();
  const auto classifier = ExpressionClassifier::Create();
  std::vector<FaceRecognizer::Descriptor> descriptors;
  for (const nlohmann::json& fixture : Reference()["fixtures"]) {
    const cv::Mat rgb150 = ReadRgb(fixture["input_150"]);
    const auto descriptor = recognizer->EmbedChip(ViewOf(rgb150, PixelFormat::kRgb));
    EXPECT_LT(MaxAbsDiff({descriptor.begin(), descriptor.end()}, fixture["descriptor"]), 1e-4);
    descriptors.push_back(descriptor);

    const cv::Mat rgb112 = ReadRgb(fixture["input_112"]);
    cv::Mat bgra;
    cv::cvtColor(rgb112, bgra, cv::COLOR_RGB2BGRA);  // Another pixel format, same pixels.
    const auto probabilities = classifier->Classify(
        ViewOf(bgra, PixelFormat::kBgra),
        Eigen::AlignedBox2d(Eigen::Vector2d(-0.5, -0.5), Eigen::Vector2d(111.5, 111.5)));
    EXPECT_LT(MaxAbsDiff({probabilities.begin(), probabilities.end()}, fixture["expression"]), 1e-4);
    double sum = 0.0;
    for (float p : probabilities) sum += p;
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
  // The smiling astronaut is "happy"; the reference agrees (checked above).
  // Two different people are farther apart than face-api's 0.6 threshold.
  EXPECT_GT(FaceRecognizer::Distance(descriptors[0], descriptors[1]), 0.6);
  EXPECT_EQ(FaceRecognizer::Distance(descriptors[0], descriptors[0]), 0.0);
}

TEST(FaceApiReferenceTest, ExpressionNamesFollowFaceApiOrder) {
  EXPECT_EQ(ExpressionClassifier::kNames[ExpressionClassifier::kNeutral], "neutral");
  EXPECT_EQ(ExpressionClassifier::kNames[ExpressionClassifier::kHappy], "happy");
  EXPECT_EQ(ExpressionClassifier::kNames[ExpressionClassifier::kSurprised], "surprised");
  // The reference's astronaut (smiling) peaks at index kHappy.
  const nlohmann::json& expression = Reference()["fixtures"][0]["expression"];
  int best = 0;
  for (int i = 1; i < ExpressionClassifier::kNumExpressions; ++i) {
    if (expression[i].get<double>() > expression[best].get<double>()) best = i;
  }
  EXPECT_EQ(best, ExpressionClassifier::kHappy);
}

}  // namespace
}  // namespace faceanime::face3d
