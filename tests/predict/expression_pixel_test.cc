// Expression control on rendered pixels (issue 8 acceptance), through the
// code of `faceanime eval-expression` (tools/cli/expression_eval_command.h):
// the edit rendered by pipeline::Retargeter::Render and judged by the full
// analysis (detector + face-api landmarks + our single-image fit).
//
// What is asserted, and why not "every landmark-visible AU within 0.1":
// on pixels that bound is not met (docs/benchmarks.md, "Expression
// control": per-AU MAE 0.24-0.57 for those AUs). The loss is not in the
// edit or the render: the rendered features follow the model's landmark
// motion (render gain 0.74-0.98). It is in the judge: the face-api landmark
// net reproduces 56-89% of that motion (and almost none of an eyelid
// closure), the identity-free single-image fit explains part of what
// remains with identity (AU27 from noise-free model landmarks: MAE 0.14
// identity free, 0.01 with the identity held), and a lowered brow or a
// closing eyelid is read as less eyeWide (which the fit holds at 0.7-1.0
// on neutral faces) rather than as browDown / eyeBlink. So these tests
// check each stage that must hold: the render moves the features as the
// model says, the network sees a rendered jaw drop, and the read-back
// intensity grows with the request. The tracked judge (the renders read as a
// video: no landmark network for the motion, lids from the eye pixels)
// shows the edit is in the pixels: it reads the brow AUs and a lid closure
// back.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/test_support.h"
#include "tools/cli/expression_eval_command.h"

namespace faceanime::cli {
namespace {

namespace fs = std::filesystem;

// Round-trip results for one portrait, computed once per process.
struct PortraitResults {
  std::map<std::string, RoundTripResult> by_request;  // "AU27=0.7" -> result.
};

const std::vector<std::pair<std::string, predict::ActionUnitSet>>& Requests() {
  static const std::vector<std::pair<std::string, predict::ActionUnitSet>> requests = {
      {"AU12=0.3", {{"AU12", 0.3}}},
      {"AU12=0.7", {{"AU12", 0.7}}},
      {"AU27=0.3", {{"AU27", 0.3}}},
      {"AU27=0.7", {{"AU27", 0.7}}},
      {"AU1=0.3", {{"AU1", 0.3}}},
      {"AU1=0.7", {{"AU1", 0.7}}},
      {"AU2=0.3", {{"AU2", 0.3}}},
      {"AU2=0.7", {{"AU2", 0.7}}},
      {"AU4=0.3", {{"AU4", 0.3}}},
      {"AU4=0.7", {{"AU4", 0.7}}},
      {"AU45=0.3", {{"AU45", 0.3}}},
      {"AU45=0.7", {{"AU45", 0.7}}},
  };
  return requests;
}

const PortraitResults& Results(const fs::path& portrait) {
  static std::map<std::string, PortraitResults> cache;
  auto it = cache.find(portrait.string());
  if (it != cache.end()) return it->second;
  pipeline::RetargeterOptions options;
  options.source_image = portrait;
  auto retargeter = pipeline::Retargeter::Create(options);
  const ExpressionRoundTrip round_trip(*retargeter);
  PortraitResults results;
  for (const auto& [label, request] : Requests()) results.by_request[label] = round_trip.Run(request);
  return cache[portrait.string()] = std::move(results);
}

// The repository's portrait, and a London neutral photo when ../shared is there.
std::vector<fs::path> Portraits() {
  std::vector<fs::path> out = {fs::path(FACEANIME_TEST_ASSETS) / "astronaut.png"};
  const fs::path london = testing::SharedDir() / "data" / "london" / "neutral" / "001_03.jpg";
  if (!testing::SharedDir().empty() && fs::exists(london)) {
    out.push_back(london);
  } else {
    std::printf("../shared/data/london is absent: round trip on assets/astronaut.png only\n");
  }
  return out;
}

TEST(ExpressionPixelTest, TheRenderMovesTheFeaturesAsTheModelLandmarksMove) {
  for (const auto& portrait : Portraits()) {
    for (const auto& [label, result] : Results(portrait).by_request) {
      ASSERT_TRUE(result.found) << portrait << " " << label;
      // Render gain: the warp's displacement at the detected features against
      // the projected model motion. Measured 0.76-0.98 for these requests on
      // four portraits; below 0.7 the edit would visibly lag the model, above
      // 1.2 it would overshoot.
      EXPECT_GT(result.render_gain, 0.7) << portrait << " " << label;
      EXPECT_LT(result.render_gain, 1.2) << portrait << " " << label;
    }
  }
}

TEST(ExpressionPixelTest, TheLandmarkNetworkSeesTheRenderedJawDrop) {
  for (const auto& portrait : Portraits()) {
    const RoundTripResult& r = Results(portrait).by_request.at("AU27=0.7");
    ASSERT_TRUE(r.found);
    std::printf("%s AU27=0.7: inner-lip gap target %.1f px, detected %.1f px (unedited %.1f / %.1f)\n",
                portrait.filename().c_str(), r.lip_gap_target_px, r.lip_gap_detected_px,
                r.lip_gap_unedited_target_px, r.lip_gap_unedited_detected_px);
    // The mouth really opens (several pixels more than at rest) ...
    EXPECT_GT(r.lip_gap_target_px, r.lip_gap_unedited_target_px + 3.0) << portrait;
    // ... and the network finds the opening: within landmark noise (fit RMSE
    // ~1.7 px on the London photos) plus 15% of the gap.
    EXPECT_NEAR(r.lip_gap_detected_px, r.lip_gap_target_px, 1.5 + 0.15 * r.lip_gap_target_px) << portrait;
  }
}

TEST(ExpressionPixelTest, ReadBackIntensityGrowsWithTheRequest) {
  for (const auto& portrait : Portraits()) {
    const auto& results = Results(portrait).by_request;
    for (const char* au : {"AU12", "AU27"}) {
      const RoundTripResult& low = results.at(std::string(au) + "=0.3");
      const RoundTripResult& high = results.at(std::string(au) + "=0.7");
      ASSERT_TRUE(low.found && high.found);
      ASSERT_EQ(low.aus.size(), 1u);
      ASSERT_EQ(high.aus.size(), 1u);
      std::printf("%s %s read back from pixels: 0.3 -> %.2f, 0.7 -> %.2f (identity held: %.2f, %.2f)\n",
                  portrait.filename().c_str(), au, low.aus[0].edited, high.aus[0].edited, low.aus[0].identity_held,
                  high.aus[0].identity_held);
      // 0.4 more requested must read back as clearly more (measured +0.11 to
      // +0.42 on four portraits; the judge recovers ~1/3-2/3 of a change).
      EXPECT_GT(high.aus[0].edited, low.aus[0].edited + 0.1) << portrait << " " << au;
    }
  }
}

// The tracked judge (AuReadback::tracked: the rest-state render and the
// edited render read as a video, landmarks tracked by Lucas-Kanade, lids by
// the eyelid meter) reads the brow AUs back within 0.15 (measured <= 0.14
// on these two portraits, 0.03-0.09 per AU over ten; the photo analysis
// misses them by 0.3-0.7).
TEST(ExpressionPixelTest, TheTrackedJudgeReadsBrowEditsBack) {
  for (const auto& portrait : Portraits()) {
    for (const char* label : {"AU1=0.3", "AU1=0.7", "AU2=0.3", "AU2=0.7", "AU4=0.3", "AU4=0.7"}) {
      const RoundTripResult& r = Results(portrait).by_request.at(label);
      ASSERT_TRUE(r.found) << portrait << " " << label;
      ASSERT_EQ(r.aus.size(), 1u);
      std::printf("%s %s: tracked %.2f (requested %.2f; photo analysis %.2f), %d of 68 points tracked\n",
                  portrait.filename().c_str(), label, r.aus[0].tracked, r.aus[0].requested, r.aus[0].edited,
                  r.tracked_landmarks);
      EXPECT_NEAR(r.aus[0].tracked, r.aus[0].requested, 0.15) << portrait << " " << label;
      // Most points keep their track (a brow edit leaves the face intact).
      EXPECT_GE(r.tracked_landmarks, 50) << portrait << " " << label;
    }
  }
}

// The eyelid meter sees a rendered lid closure that the landmark network
// misses (AU45=0.7: the photo analysis reads ~0): the tracked reading grows
// with the request and lands within 0.15 of it (measured: London 001 0.26 /
// 0.61 for 0.3 / 0.7, the astronaut 0.29 / 0.80; from the unedited render
// instead of the rest state, the astronaut read 0.51 / 0.97: her
// replace-mode edit also drops her smile).
TEST(ExpressionPixelTest, TheEyelidMeterReadsARenderedLidClosure) {
  for (const auto& portrait : Portraits()) {
    const RoundTripResult& low = Results(portrait).by_request.at("AU45=0.3");
    const RoundTripResult& high = Results(portrait).by_request.at("AU45=0.7");
    ASSERT_TRUE(low.found && high.found) << portrait;
    std::printf("%s AU45: tracked 0.3 -> %.2f, 0.7 -> %.2f (photo analysis %.2f, %.2f); closure %.2f / %.2f\n",
                portrait.filename().c_str(), low.aus[0].tracked, high.aus[0].tracked, low.aus[0].edited,
                high.aus[0].edited, high.eyelid_closure[0], high.eyelid_closure[1]);
    for (int eye = 0; eye < 2; ++eye) EXPECT_FALSE(std::isnan(high.eyelid_closure[eye])) << portrait << " eye " << eye;
    EXPECT_GT(high.aus[0].tracked, low.aus[0].tracked + 0.25) << portrait;
    EXPECT_NEAR(low.aus[0].tracked, low.aus[0].requested, 0.15) << portrait;
    EXPECT_NEAR(high.aus[0].tracked, high.aus[0].requested, 0.15) << portrait;
  }
}

// The replace mode's default rest state is the current still fit's reading
// of the six GRID calibration faces: when the fit's defaults change, this
// fails until DefaultRestExpression is recalibrated (`faceanime
// eval-expression rest`, docs/benchmarks.md).
TEST(ExpressionRestTest, DefaultRestStateMatchesTheFitOnTheCalibrationFaces) {
  const fs::path grid = testing::SharedDir() / "data" / "grid";
  if (testing::SharedDir().empty() || !fs::exists(grid / "s1" / "bbaf2n.mpg")) {
    GTEST_SKIP() << "../shared/data/grid is absent";
  }
  std::vector<std::string> sources = {(grid / "s1" / "bbaf2n.mpg").string()};
  for (const char* clip : {"brbk7n", "lbax4n", "lbbc2a", "lrwp9a", "lwbsza"}) {
    sources.push_back((grid / "speakers" / (std::string(clip) + ".mpg")).string());
  }
  const RestCalibration calibration = CalibrateRest(sources);
  const auto control = predict::ExpressionControl::Create(testing::TestModel());
  for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
    // The table rounds to 0.01 and leaves out medians below 0.005.
    EXPECT_NEAR(control.rest()[j], calibration.median[j], 0.02) << calibration.shape_names[j];
  }
}

class ExpressionLondonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::SharedDir() / "data" / "london";
    if (testing::SharedDir().empty() || FindLondonIds(dir_).empty()) {
      GTEST_SKIP() << "../shared/data/london is absent";
    }
  }
  fs::path dir_;
};

TEST_F(ExpressionLondonTest, HappyPresetIsRatedHappyAndMovesLandmarksTowardsTheRealSmile) {
  const auto classifier = face3d::ExpressionClassifier::Create();
  const auto ids = FindLondonIds(dir_, 6);
  int happy_before = 0, happy_after = 0;
  double p_before = 0.0, p_after = 0.0, distance_before = 0.0, distance_after = 0.0, distance_replace = 0.0;
  auto is_happy = [](const face3d::ExpressionClassifier::Probabilities& p) {
    return std::max_element(p.begin(), p.end()) - p.begin() == face3d::ExpressionClassifier::kHappy;
  };
  for (const auto& id : ids) {
    // The classifier: replace mode at the default strength; the landmarks at 0.3.
    const LondonCase replace = EvaluateLondon(dir_, id, {1.0, 0.3}, *classifier, predict::ExpressionBlend::kReplace);
    ASSERT_TRUE(replace.found) << id;
    happy_before += is_happy(replace.neutral);
    happy_after += is_happy(replace.outputs[0]);
    p_before += replace.neutral[face3d::ExpressionClassifier::kHappy];
    p_after += replace.outputs[0][face3d::ExpressionClassifier::kHappy];
    distance_replace += replace.distance_after[1];
    // The landmarks: add and replace mode at 0.3 (replace resets
    // the portrait to its rest state, which keeps what our fit reads on any
    // neutral face, so it does not reshape the face; at full strength the
    // preset's AU12 0.9 is a broader smile than most London smiles, which
    // are closed-mouth: docs/benchmarks.md).
    const LondonCase add = EvaluateLondon(dir_, id, {0.3}, *classifier, predict::ExpressionBlend::kAdd);
    ASSERT_TRUE(add.found) << id;
    distance_before += add.distance_before;
    distance_after += add.distance_after[0];
  }
  const double n = static_cast<double>(ids.size());
  std::printf("London %zu identities: happy (argmax) %d -> %d, mean P(happy) %.3f -> %.3f; landmark distance to "
              "the real smile (IOD) %.4f -> %.4f (add 0.3), %.4f (replace 0.3)\n",
              ids.size(), happy_before, happy_after, p_before / n, p_after / n, distance_before / n,
              distance_after / n, distance_replace / n);
  EXPECT_GT(happy_after, happy_before);
  EXPECT_GE(happy_after, static_cast<int>(ids.size()) - 1);  // "The large majority".
  EXPECT_GT(p_after / n, p_before / n + 0.5);
  EXPECT_LT(distance_after, distance_before);
  EXPECT_LT(distance_replace, distance_before);
}

// StarGAN's check with face-api's classifier as the judge: renders of each
// preset on neutral portraits are classified as that expression (happy and
// neutral nearly always; sad, surprised and fearful, which this classifier
// mostly reads from the mouth, raise their own class's probability well
// above the portraits' own).
TEST_F(ExpressionLondonTest, PresetRendersAreClassifiedAsTheirExpression) {
  const auto classifier = face3d::ExpressionClassifier::Create();
  const auto ids = FindLondonIds(dir_, 6);
  const auto names = predict::ExpressionPresetNames();
  std::map<std::string, int> rated_as_itself;
  std::map<std::string, double> p_own, p_own_input;
  for (const auto& id : ids) {
    const PresetCase c = EvaluatePresets(dir_ / "neutral" / (id + "_03.jpg"), 1.0, *classifier);
    ASSERT_TRUE(c.found) << id;
    ASSERT_EQ(c.outputs.size(), names.size());
    for (size_t k = 0; k < names.size(); ++k) {
      const int own = ClassifierClassOf(predict::ParsePreset(names[k]).preset);
      if (own < 0) continue;  // Contemptuous: face-api has no such class.
      const auto& p = c.outputs[k];
      rated_as_itself[std::string(names[k])] += std::max_element(p.begin(), p.end()) - p.begin() == own;
      p_own[std::string(names[k])] += p[own] / ids.size();
      p_own_input[std::string(names[k])] += c.input[own] / ids.size();
    }
  }
  for (const auto& [name, p] : p_own) {
    std::printf("%-10s rated as itself %d/%zu, mean P(%s) %.3f (portraits %.3f)\n", name.c_str(),
                rated_as_itself[name], ids.size(), name.c_str(), p, p_own_input[name]);
  }
  EXPECT_GE(rated_as_itself["happy"], static_cast<int>(ids.size()) - 1);
  EXPECT_GE(rated_as_itself["neutral"], static_cast<int>(ids.size()) - 1);
  for (const char* name : {"sad", "surprised", "fearful"}) {
    EXPECT_GT(p_own[name], p_own_input[name] + 0.15) << name;
    EXPECT_GE(rated_as_itself[name], 1) << name;
  }
  EXPECT_EQ(ClassifierClassOf(predict::ExpressionPreset::kContemptuous), -1);
}

}  // namespace
}  // namespace faceanime::cli
