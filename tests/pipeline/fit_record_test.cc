// The JSONL fit record: stable keys, lossless round trip, clear errors.
#include "pipeline/fit_record.h"

#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/test_support.h"

namespace faceanime::pipeline {
namespace {

std::vector<std::string> Names() {
  std::vector<std::string> names;
  for (int i = 0; i < face3d::kNumExpressionShapes; ++i) names.push_back("shape" + std::to_string(i));
  return names;
}

FitRecord Example() {
  FitRecord r;
  r.pts_ns = 1'234'567'890;
  r.frame = 31;
  FaceObservation f;
  f.box = Eigen::AlignedBox2d(Eigen::Vector2d(10, 20), Eigen::Vector2d(110, 140));
  for (int i = 0; i < face3d::kNumLandmarks; ++i) f.landmarks[i] = Eigen::Vector2d(i * 1.5, 200 - i * 0.25);
  f.params.pose.rotation = Eigen::Vector3d(0.1, -0.2, 0.05);
  f.params.pose.translation = Eigen::Vector3d(1, -2, 55);
  for (int i = 0; i < face3d::kNumIdentityShapes; ++i) f.params.identity[i] = 0.01 * i - 0.3;
  for (int j = 0; j < face3d::kNumExpressionShapes; ++j) f.params.expression[j] = j / 53.0;
  f.camera = face3d::Camera::ForImage(640, 480);
  f.confidence = 0.93;
  f.rmse_px = 1.25;
  r.face = f;
  return r;
}

TEST(FitRecordTest, UsesTheDocumentedKeys) {
  const auto j = nlohmann::json::parse(ToJsonLine(Example(), Names()));
  for (const char* key : {"pts", "frame", "box", "landmarks68", "pose", "camera", "identity", "expression",
                          "confidence", "rmse_px"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["pts"].get<int64_t>(), 1'234'567'890);
  EXPECT_EQ(j["landmarks68"].size(), 68u);
  EXPECT_EQ(j["identity"].size(), 100u);
  EXPECT_EQ(j["expression"].size(), 53u);
  EXPECT_DOUBLE_EQ(j["expression"]["shape52"].get<double>(), 52 / 53.0);
  EXPECT_DOUBLE_EQ(j["box"][2].get<double>(), 100.0);  // Width.
  EXPECT_TRUE(j["pose"].contains("yaw"));
}

TEST(FitRecordTest, RoundTripsLosslessly) {
  const FitRecord a = Example();
  const FitRecord b = FromJsonLine(ToJsonLine(a, Names()), Names());
  ASSERT_TRUE(b.face.has_value());
  EXPECT_EQ(b.pts_ns, a.pts_ns);
  EXPECT_EQ(b.frame, a.frame);
  EXPECT_EQ(b.face->landmarks, a.face->landmarks);
  EXPECT_EQ(b.face->params.identity, a.face->params.identity);
  EXPECT_EQ(b.face->params.expression, a.face->params.expression);
  EXPECT_EQ(b.face->params.pose.rotation, a.face->params.pose.rotation);
  EXPECT_EQ(b.face->box.min(), a.face->box.min());
  EXPECT_EQ(b.face->camera.focal, a.face->camera.focal);
  EXPECT_DOUBLE_EQ(b.face->rmse_px, 1.25);
}

TEST(FitRecordTest, NoFaceIsAnEmptyLandmarkList) {
  FitRecord r;
  r.pts_ns = 40'000'000;
  const std::string line = ToJsonLine(r, Names());
  const auto j = nlohmann::json::parse(line);
  EXPECT_TRUE(j["landmarks68"].empty());
  EXPECT_FALSE(j.contains("box"));
  EXPECT_FALSE(FromJsonLine(line, Names()).face.has_value());
}

TEST(FitRecordTest, MalformedFileNamesFileAndLine) {
  const auto path = testing::TempDir() / "fits.jsonl";
  {
    std::ofstream out(path);
    out << ToJsonLine(Example(), Names()) << "\n{\"pts\": 5, \"landmarks68\": [[1, 2]]}\n";
  }
  try {
    ReadFitFile(path, Names());
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("fits.jsonl:2"));
  }
}

}  // namespace
}  // namespace faceanime::pipeline
