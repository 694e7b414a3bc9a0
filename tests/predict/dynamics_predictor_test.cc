// The LSTM dynamics predictor with the committed weights
// (assets/predictor/dynamics_lstm.pt): determinism, target-driven rollouts,
// the online mode (look-ahead, gap bridging), and clear errors.
#include "predict/dynamics_predictor.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "predict/predictor_training.h"
#include "predict/procedural_motion.h"
#include "tests/test_support.h"

namespace faceanime::predict {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path kWeights = fs::path(FACEANIME_TEST_ASSETS) / "predictor" / "dynamics_lstm.pt";

std::shared_ptr<const DynamicsPredictor> Predictor() {
  static const std::shared_ptr<const DynamicsPredictor> p = DynamicsPredictor::Load({.weights = kWeights});
  return p;
}

double MaxAbsDiff(const Dynamics& a, const Dynamics& b) {
  double m = std::max((a.rotation - b.rotation).cwiseAbs().maxCoeff(), (a.translation - b.translation).cwiseAbs().maxCoeff());
  for (int j = 0; j < face3d::kNumExpressionShapes; ++j) m = std::max(m, std::abs(a.expression[j] - b.expression[j]));
  return m;
}

double SequenceDiff(const DynamicsSequence& a, const DynamicsSequence& b) {
  double s = 0;
  for (size_t t = 0; t < a.size(); ++t) s += MaxAbsDiff(a[t], b[t]);
  return s;
}

int Shape(const char* name) { return testing::TestModel().ExpressionIndex(name); }

TEST(DynamicsPredictorTest, SameSeedSameRolloutOtherSeedDiffers) {
  RolloutRequest r;
  r.start_expression[Shape("jawOpen")] = 0.1;
  r.num_frames = 60;
  r.seed = 7;
  const auto a = Predictor()->Rollout(r);
  const auto b = Predictor()->Rollout(r);
  r.seed = 8;
  const auto c = Predictor()->Rollout(r);
  ASSERT_EQ(a.size(), 60u);
  EXPECT_EQ(SequenceDiff(a, b), 0.0);
  EXPECT_GT(SequenceDiff(a, c), 0.1);
  EXPECT_DOUBLE_EQ(a[0].expression[Shape("jawOpen")], 0.1);
  EXPECT_EQ(a[0].rotation.norm(), 0.0);
  for (const auto& d : a) {
    for (double w : d.expression) {
      EXPECT_GE(w, 0.0);
      EXPECT_LE(w, 1.0);
    }
  }
}

TEST(DynamicsPredictorTest, ZeroRandomnessGivesTheSameMeanPathForEverySeed) {
  RolloutRequest r;
  r.num_frames = 30;
  r.randomness = 0.0;
  r.seed = 1;
  const auto a = Predictor()->Rollout(r);
  r.seed = 99;
  EXPECT_EQ(SequenceDiff(a, Predictor()->Rollout(r)), 0.0);
}

TEST(DynamicsPredictorTest, KeepsObservedFramesAndContinuesAfterThem) {
  const auto motion = ProceduralMotion::Create(testing::TestModel(), {.seed = 3}).Generate(40);
  RolloutRequest r;
  r.observed.assign(motion.begin(), motion.begin() + 20);
  r.num_frames = 40;
  const auto out = Predictor()->Rollout(r);
  for (int t = 0; t < 20; ++t) EXPECT_LT(MaxAbsDiff(out[t], motion[t]), 1e-6) << "frame " << t;
  // The continuation starts where the observation ends (no jump).
  EXPECT_LT(MaxAbsDiff(out[20], out[19]), 0.25);
}

TEST(DynamicsPredictorTest, ReachesTargetAtFrameT) {
  Dynamics smile;
  smile.expression[Shape("mouthSmile_L")] = 0.8;
  smile.expression[Shape("mouthSmile_R")] = 0.8;
  smile.expression[Shape("cheekSquint_L")] = 0.4;
  smile.rotation = face3d::RotationFromEuler({8.0, -3.0, 2.0});
  smile.translation = Eigen::Vector3d(0.3, -0.2, 0.5);
  for (int big_t : {10, 25, 50}) {
    for (uint64_t seed : {1, 2}) {
      RolloutRequest r;
      r.num_frames = big_t + 20;
      r.seed = seed;
      r.target = PredictionTarget{smile, big_t};
      const auto out = Predictor()->Rollout(r);
      ASSERT_EQ(static_cast<int>(out.size()), big_t + 20);
      EXPECT_LT(MaxAbsDiff(out[big_t], smile), 1e-5) << "T " << big_t << " seed " << seed;
      // The smile comes on gradually: no single frame covers most of the way
      // (other shapes may move fast: sampled blinks close in ~2 frames).
      const int s = Shape("mouthSmile_L");
      double largest_step = 0;
      for (int t = 1; t <= big_t; ++t) {
        largest_step = std::max(largest_step, std::abs(out[t].expression[s] - out[t - 1].expression[s]));
      }
      EXPECT_LT(largest_step, 0.4 * 0.8) << "T " << big_t;
    }
  }
}

TEST(DynamicsPredictorTest, HoldsTheTargetExpressionAfterFrameTWhileTheHeadKeepsMoving) {
  Dynamics surprise;
  surprise.expression[Shape("browInnerUp_L")] = 0.7;
  surprise.expression[Shape("browInnerUp_R")] = 0.7;
  surprise.expression[Shape("eyeWide_L")] = 0.4;
  surprise.expression[Shape("eyeWide_R")] = 0.4;
  surprise.expression[Shape("jawOpen")] = 0.35;
  surprise.rotation = face3d::RotationFromEuler({-4.0, 6.0, 0.0});
  RolloutRequest r;
  r.num_frames = 100;
  r.seed = 3;
  r.blink_rate_per_min = 0.0;
  r.target = PredictionTarget{surprise, 25};
  const auto out = Predictor()->Rollout(r);
  double head_motion = 0.0;
  for (int t = 26; t < r.num_frames; ++t) {
    for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
      EXPECT_NEAR(out[t].expression[j], surprise.expression[j], 1e-6) << "frame " << t << " shape " << j;
    }
    head_motion = std::max(head_motion, (out[t].translation - out[25].translation).norm() +
                                            (out[t].rotation - out[25].rotation).norm());
  }
  // A drawn rollout (randomness 1) keeps moving the head after T.
  EXPECT_GT(head_motion, 1e-3);
}

// Blinks per minute: mean(eyeBlink_L, eyeBlink_R) crossing 0.5 upwards (the
// criterion of predictor_evaluation.h).
double BlinksPerMinute(const DynamicsSequence& seq, double fps) {
  int blinks = 0;
  auto closure = [&](int t) {
    return 0.5 * (seq[t].expression[Shape("eyeBlink_L")] + seq[t].expression[Shape("eyeBlink_R")]);
  };
  for (size_t t = 1; t < seq.size(); ++t) blinks += closure(t) >= 0.5 && closure(t - 1) < 0.5;
  return blinks / (seq.size() / fps / 60.0);
}

TEST(DynamicsPredictorTest, BlinkProcessDrivesTheModelsEyeBlinkShapes) {
  EXPECT_EQ(kEyeBlinkLeft, Shape("eyeBlink_L"));
  EXPECT_EQ(kEyeBlinkRight, Shape("eyeBlink_R"));
}

TEST(DynamicsPredictorTest, VideoPredictionBlinksAtTheRateOfRealGridClips) {
  // The rate measured from the held-out GRID clips' eye pixels spans 10-41
  // blinks/min on the earlier tracker's fits and 1-18 on the current one's
  // (the measure reads the box between the tracked eye corners and depends
  // on its dip threshold, docs/benchmarks.md); the bound is the first range,
  // around the 17/min at rest of the literature. The network alone gave
  // 0.8/min.
  double total = 0;
  constexpr int kSeeds = 4, kFrames = 1500;  // 4 minutes at 25 fps.
  for (int seed = 1; seed <= kSeeds; ++seed) {
    total += BlinksPerMinute(Predictor()->Rollout({.num_frames = kFrames, .seed = static_cast<uint64_t>(seed)}),
                             Predictor()->fps());
  }
  EXPECT_GE(total / kSeeds, 10.0);
  EXPECT_LE(total / kSeeds, 41.0);
}

TEST(DynamicsPredictorTest, BlinkProcessChangesOnlyTheEyelidsOfFreelyDrawnFrames) {
  const auto motion = ProceduralMotion::Create(testing::TestModel(), {.seed = 5, .blink_rate_per_min = 0}).Generate(60);
  Dynamics target = motion[40];
  RolloutRequest r;
  r.observed.assign(motion.begin(), motion.begin() + 10);
  r.num_frames = 400;
  r.seed = 11;
  r.target = PredictionTarget{target, 40};
  const auto with = Predictor()->Rollout(r);
  r.blink_rate_per_min = 0.0;
  const auto without = Predictor()->Rollout(r);
  const int l = Shape("eyeBlink_L"), rr = Shape("eyeBlink_R");
  int eyelid_frames = 0;
  for (int t = 0; t < r.num_frames; ++t) {
    EXPECT_EQ(with[t].rotation, without[t].rotation) << "frame " << t;
    EXPECT_EQ(with[t].translation, without[t].translation) << "frame " << t;
    for (int j = 0; j < face3d::kNumExpressionShapes; ++j) {
      if (j == l || j == rr) continue;
      EXPECT_EQ(with[t].expression[j], without[t].expression[j]) << "frame " << t << " shape " << j;
    }
    const bool eyelids = with[t].expression[l] != without[t].expression[l];
    // Given frames and the path up to the target are untouched.
    if (t <= 40) {
      EXPECT_FALSE(eyelids) << "frame " << t;
    }
    eyelid_frames += eyelids;
  }
  EXPECT_GT(eyelid_frames, 0);  // 14.4 s at 17/min: blinks after T.
  // The expected path (forecasting) has no blinks.
  r.randomness = 0.0;
  r.blink_rate_per_min = kDefaultBlinkRatePerMin;
  const auto mean_with = Predictor()->Rollout(r);
  r.blink_rate_per_min = 0.0;
  EXPECT_EQ(SequenceDiff(mean_with, Predictor()->Rollout(r)), 0.0);
}

TEST(DynamicsPredictorTest, BadRequestsThrowInvalidArgumentNamingTheField) {
  auto expect_invalid = [](const RolloutRequest& r, const std::string& field) {
    try {
      Predictor()->Rollout(r);
      ADD_FAILURE() << "no exception for " << field;
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), HasSubstr(field));
    }
  };
  RolloutRequest r;
  r.num_frames = 0;
  expect_invalid(r, "num_frames");
  r = {};
  r.target = PredictionTarget{{}, 100};  // == num_frames
  expect_invalid(r, "target.frame");
  r.target->frame = 0;
  expect_invalid(r, "target.frame");
  r = {};
  r.start_expression[0] = 1.5;
  expect_invalid(r, "start_expression");
  r = {};
  r.num_frames = 2;
  r.observed.resize(3);
  expect_invalid(r, "observed");
  r = {};
  r.blink_rate_per_min = -1.0;
  expect_invalid(r, "blink_rate_per_min");
  r = {};
  r.observed.resize(5);
  r.target = PredictionTarget{{}, 3};  // Inside the observed frames.
  expect_invalid(r, "target.frame");
  r = {};
  r.randomness = -1;
  expect_invalid(r, "randomness");
  EXPECT_THROW(DynamicsPredictor::Load({.weights = kWeights, .num_threads = 0}), std::invalid_argument);
  EXPECT_THROW(OnlinePredictor::Create(Predictor(), {.lookahead_frames = 6}), std::invalid_argument);
  EXPECT_THROW(OnlinePredictor::Create(Predictor(), {.max_gap_frames = -1}), std::invalid_argument);
  EXPECT_THROW(OnlinePredictor::Create(nullptr, {}), std::invalid_argument);
}

void ExpectModelError(const fs::path& path) {
  try {
    DynamicsPredictor::Load({.weights = path});
    ADD_FAILURE() << "no exception for " << path;
  } catch (const PredictorModelError& e) {
    EXPECT_THAT(e.what(), HasSubstr(path.string()));
    EXPECT_THAT(e.what(), HasSubstr("train-predictor"));
  }
}

TEST(DynamicsPredictorTest, MissingCorruptOrTruncatedWeightsNameTheFile) {
  const fs::path dir = testing::TempDir();
  ExpectModelError(dir / "missing.pt");
  {
    std::ofstream(dir / "garbage.pt") << "not a weights file";
  }
  ExpectModelError(dir / "garbage.pt");
  std::ifstream in(kWeights, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 1000u);
  {
    std::ofstream(dir / "truncated.pt", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  ExpectModelError(dir / "truncated.pt");
}

// A smooth synthetic head turn with talking-like jaw motion, as absolute faces.
std::vector<face3d::FaceParams> SmoothMotion(int frames) {
  std::vector<face3d::FaceParams> out;
  const int jaw = Shape("jawOpen");
  for (int t = 0; t < frames; ++t) {
    const double s = t / 25.0;
    face3d::FaceParams p;
    p.pose.rotation = face3d::RotationFromEuler({12.0 * std::sin(2 * std::numbers::pi * s / 2.5),
                                                 4.0 * std::sin(2 * std::numbers::pi * s / 3.0), 0.0});
    p.pose.translation = Eigen::Vector3d(1.0 * std::sin(2 * std::numbers::pi * s / 4.0), 0, 60);
    p.expression[jaw] = 0.25 + 0.2 * std::sin(2 * std::numbers::pi * s / 1.5);
    out.push_back(p);
  }
  return out;
}

double PoseExprDistance(const face3d::FaceParams& a, const face3d::FaceParams& b) {
  const Dynamics d = RelativeDynamics(a, b);
  return d.rotation.norm() * 180 / std::numbers::pi + (a.pose.translation - b.pose.translation).norm() +
         std::abs(a.expression[Shape("jawOpen")] - b.expression[Shape("jawOpen")]) * 10;
}

// Mouth motion three times faster than GRID speech (a 0.8 s jawOpen cycle):
// the network alone damps it and lags more than no prediction; the
// combination with constant velocity must lead it.
TEST(OnlinePredictorTest, LookAheadLeadsMouthMotionFasterThanTheTrainingData) {
  const int jaw = Shape("jawOpen");
  auto truth = [&](int t) { return 0.3 + 0.25 * std::sin(2 * std::numbers::pi * t / 20.0); };
  double err[2] = {0, 0};
  for (int lookahead : {0, 2}) {
    auto online = OnlinePredictor::Create(Predictor(), {.lookahead_frames = lookahead});
    for (int t = 0; t + 2 < 150; ++t) {
      face3d::FaceParams p;
      p.pose.translation = Eigen::Vector3d(0, 0, 60);
      p.expression[jaw] = truth(t);
      const auto out = online->Update(t * 40'000'000LL, p);
      ASSERT_TRUE(out.has_value());
      if (t >= 30) err[lookahead / 2] += std::abs(out->expression[jaw] - truth(t + 2));
    }
  }
  EXPECT_LT(err[1], 0.6 * err[0]) << "jawOpen lag error: no prediction " << err[0] << ", look-ahead " << err[1];
}

TEST(OnlinePredictorTest, LookAheadReducesLagUnderTwoFramesOfLatency) {
  const auto motion = SmoothMotion(150);
  double err[2] = {0, 0};
  for (int lookahead : {0, 2}) {
    auto online = OnlinePredictor::Create(Predictor(), {.lookahead_frames = lookahead});
    std::vector<face3d::FaceParams> out;
    for (int t = 0; t < 150; ++t) out.push_back(*online->Update(t * 40'000'000LL, motion[t]));
    // Displayed at t: the output computed from the frame of t - 2.
    for (int t = 10; t < 150; ++t) err[lookahead / 2] += PoseExprDistance(out[t - 2], motion[t]);
  }
  EXPECT_LT(err[1], 0.8 * err[0]) << "no prediction " << err[0] << ", look-ahead " << err[1];
}

TEST(OnlinePredictorTest, BridgesATenFrameDropoutWithoutAJump) {
  const auto motion = SmoothMotion(100);
  double real_step = 0;
  for (int t = 1; t < 100; ++t) real_step = std::max(real_step, PoseExprDistance(motion[t], motion[t - 1]));
  auto online = OnlinePredictor::Create(Predictor(), {.lookahead_frames = 0, .max_gap_frames = 10});
  std::vector<face3d::FaceParams> out;
  for (int t = 0; t < 100; ++t) {
    const bool lost = t >= 40 && t < 50;
    const auto res = online->Update(t * 40'000'000LL, lost ? std::nullopt : std::optional(motion[t]));
    ASSERT_TRUE(res.has_value()) << "frame " << t;
    out.push_back(*res);
  }
  double largest = 0;
  for (int t = 40; t <= 60; ++t) largest = std::max(largest, PoseExprDistance(out[t], out[t - 1]));
  EXPECT_LT(largest, 2.0 * real_step) << "real motion's largest step " << real_step;
  // Back on the tracked face once the blend is over.
  EXPECT_LT(PoseExprDistance(out[70], motion[70]), 0.5);
}

TEST(OnlinePredictorTest, GivesUpAfterMaxGapAndRestartsOnTheNextFace) {
  const auto motion = SmoothMotion(30);
  auto online = OnlinePredictor::Create(Predictor(), {.lookahead_frames = 2, .max_gap_frames = 3});
  EXPECT_FALSE(online->Update(0, std::nullopt).has_value());  // Before the first face.
  for (int t = 1; t < 10; ++t) ASSERT_TRUE(online->Update(t * 40'000'000LL, motion[t]).has_value());
  for (int t = 10; t < 13; ++t) EXPECT_TRUE(online->Update(t * 40'000'000LL, std::nullopt).has_value());
  EXPECT_FALSE(online->Update(13 * 40'000'000LL, std::nullopt).has_value());
  const auto back = online->Update(14 * 40'000'000LL, motion[14]);
  ASSERT_TRUE(back.has_value());
  // A fresh start, as for a new stream that begins with this face.
  auto fresh = OnlinePredictor::Create(Predictor(), {.lookahead_frames = 2, .max_gap_frames = 3});
  EXPECT_LT(PoseExprDistance(*back, *fresh->Update(0, motion[14])), 1e-9);
  // Skipped timestamps count as lost frames: 5 frames later > max_gap_frames.
  EXPECT_FALSE(online->Update(20 * 40'000'000LL, std::nullopt).has_value());
}

TEST(PredictorTrainingTest, SplitsTracksAtGapsRelativeToEachRun) {
  std::vector<std::optional<face3d::FaceParams>> track(12);
  for (int t = 0; t < 12; ++t) {
    if (t == 5) continue;
    face3d::FaceParams p;
    p.pose.translation = Eigen::Vector3d(t, 0, 60);
    track[t] = p;
  }
  const auto runs = TrackToDynamicsRuns(track, 4);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].size(), 5u);
  EXPECT_EQ(runs[1].size(), 6u);
  EXPECT_DOUBLE_EQ(runs[1][0].translation.x(), 0.0);
  EXPECT_DOUBLE_EQ(runs[1][3].translation.x(), 3.0);
  EXPECT_EQ(TrackToDynamicsRuns(track, 6).size(), 1u);
}

// Training options for a tiny network on a few short sequences (horizon 4,
// 2 mixture components).
PredictorTrainingOptions TinyTrainingOptions(int steps, int batch, int window, int hidden) {
  PredictorTrainingOptions o;
  o.steps = steps;
  o.batch = batch;
  o.window = window;
  o.horizon = 4;
  o.hidden = hidden;
  o.components = 2;
  return o;
}

TEST(PredictorTrainingTest, TrainingIsDeterministicGivenTheSeed) {
  const auto data = ProceduralTrainingSet(testing::TestModel(), 4, 40, 1);
  const fs::path dir = testing::TempDir();
  PredictorTrainingOptions o = TinyTrainingOptions(/*steps=*/3, /*batch=*/4, /*window=*/16, /*hidden=*/16);
  DynamicsSequence rolls[3];
  for (int run = 0; run < 3; ++run) {
    o.seed = run < 2 ? 5 : 6;
    o.out = dir / ("w" + std::to_string(run) + ".pt");
    TrainPredictor({}, data, testing::TestModel(), o, nullptr);
    const auto p = DynamicsPredictor::Load({.weights = o.out});
    rolls[run] = p->Rollout({.num_frames = 20, .seed = 3});
  }
  EXPECT_EQ(SequenceDiff(rolls[0], rolls[1]), 0.0);
  EXPECT_GT(SequenceDiff(rolls[0], rolls[2]), 0.0);
}

// Per-channel spread (mean over sequences of each channel's std over
// frames; state units: rad, cm, weights) of sequences of equal length.
std::vector<double> ChannelSpread(const std::vector<DynamicsSequence>& seqs) {
  std::vector<double> spread(6 + face3d::kNumExpressionShapes, 0.0);
  for (const auto& seq : seqs) {
    const double n = static_cast<double>(seq.size());
    for (size_t c = 0; c < spread.size(); ++c) {
      auto value = [&](const Dynamics& d) {
        return c < 3 ? d.rotation[c] : c < 6 ? d.translation[c - 3] : d.expression[c - 6];
      };
      double m = 0, m2 = 0;
      for (const auto& d : seq) {
        m += value(d);
        m2 += value(d) * value(d);
      }
      spread[c] += std::sqrt(std::max(0.0, m2 / n - (m / n) * (m / n))) / seqs.size();
    }
  }
  return spread;
}

// Sampling is calibrated per channel after training (dynamics_lstm.h): a
// channel that never moves in the training data gets the lowest temperature
// and stays still in video prediction, the others move; every correlation is
// in range. (Whether the calibrated spread matches real motion is checked on
// the committed weights below: a briefly trained network drifts by itself.)
TEST(PredictorTrainingTest, CalibrationKeepsAChannelThatNeverMovesInTheDataStill) {
  auto data = ProceduralTrainingSet(testing::TestModel(), 8, 60, 7);
  const int still = 6 + Shape("cheekPuff_L");
  for (auto& seq : data) {
    for (auto& d : seq) d.expression[still - 6] = 0.0;
  }
  PredictorTrainingOptions o = TinyTrainingOptions(/*steps=*/30, /*batch=*/8, /*window=*/20, /*hidden=*/24);
  o.seed = 3;
  o.out = fs::path(testing::TempDir()) / "calibrated.pt";
  const SamplingCalibration calibration = TrainPredictor({}, data, testing::TestModel(), o, nullptr);
  const size_t channels = 6 + face3d::kNumExpressionShapes;
  ASSERT_EQ(calibration.temperature.size(), channels);
  ASSERT_EQ(calibration.noise_correlation.size(), channels);
  EXPECT_EQ(calibration.temperature[still],
            *std::min_element(calibration.temperature.begin(), calibration.temperature.end()));
  for (double rho : calibration.noise_correlation) {
    EXPECT_GE(rho, 0.0);
    EXPECT_LE(rho, 0.95);
  }
  const auto predictor = DynamicsPredictor::Load({.weights = o.out});
  std::vector<DynamicsSequence> rolls;
  for (size_t i = 0; i < data.size(); ++i) {
    rolls.push_back(predictor->Rollout(
        {.observed = {data[i][0]}, .num_frames = 60, .seed = i + 1, .blink_rate_per_min = 0.0}));
  }
  const std::vector<double> want = ChannelSpread(data), got = ChannelSpread(rolls);
  const int jaw = 6 + Shape("jawOpen");
  ASSERT_GT(want[jaw], 0.01);
  std::printf("spread in video prediction: jawOpen %.4f (data %.4f), the still channel %.4f\n", got[jaw], want[jaw],
              got[still]);
  EXPECT_GT(got[jaw], 0.01);
  EXPECT_LT(got[still], 0.2 * got[jaw]);
}

// Video prediction with the committed weights moves the jaw as GRID speech
// does: its spread, speed and acceleration (mean |second difference|) over
// 3 s stretches lie within the range of the 200 GRID s1 clips as tracked by
// the current tracker (per clip: jawOpen std 0.037-0.158, speed 0.0088-0.030,
// acceleration 0.0079-0.028 per frame; docs/benchmarks.md, motion
// prediction). The format-4 weights, with one sampling temperature for all
// expression channels and i.i.d. draws, gave speed 0.0069.
TEST(DynamicsPredictorTest, VideoPredictionMovesTheJawLikeGridSpeech) {
  const int jaw = Shape("jawOpen");
  constexpr int kStretch = 75;  // 3 s at 25 fps, a GRID clip.
  std::vector<DynamicsSequence> stretches;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    const DynamicsSequence roll = Predictor()->Rollout({.num_frames = 4 * kStretch, .seed = seed});
    for (int k = 0; k < 4; ++k) stretches.emplace_back(roll.begin() + kStretch * k, roll.begin() + kStretch * (k + 1));
  }
  double speed = 0, accel = 0;
  for (const auto& s : stretches) {
    for (int t = 1; t < kStretch; ++t) speed += std::abs(s[t].expression[jaw] - s[t - 1].expression[jaw]);
    for (int t = 2; t < kStretch; ++t) {
      accel += std::abs(s[t].expression[jaw] - 2 * s[t - 1].expression[jaw] + s[t - 2].expression[jaw]);
    }
  }
  speed /= stretches.size() * (kStretch - 1.0);
  accel /= stretches.size() * (kStretch - 2.0);
  const double spread = ChannelSpread(stretches)[6 + jaw];
  std::printf("video prediction jawOpen: std %.4f, speed %.4f, acceleration %.4f per frame\n", spread, speed, accel);
  EXPECT_GE(spread, 0.037);
  EXPECT_LE(spread, 0.158);
  EXPECT_GE(speed, 0.0088);
  EXPECT_LE(speed, 0.030);
  EXPECT_GE(accel, 0.0079);
  EXPECT_LE(accel, 0.028);
}

}  // namespace
}  // namespace faceanime::predict
