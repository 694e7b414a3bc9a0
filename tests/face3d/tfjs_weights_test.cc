// TfjsWeights: manifest parsing, dequantisation, sharding, and the errors for
// missing or corrupt files (which must name the file and tools/setup).
#include "face3d/tfjs_weights.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "face3d/expression_classifier.h"
#include "face3d/face_recognizer.h"
#include "face3d/landmarker.h"
#include "tests/test_support.h"

namespace faceanime::face3d {
namespace {

using ::testing::HasSubstr;

void WriteFile(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void WriteText(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

template <typename T>
void Append(std::vector<uint8_t>& bytes, T value) {
  uint8_t raw[sizeof(T)];
  std::memcpy(raw, &value, sizeof(T));
  bytes.insert(bytes.end(), raw, raw + sizeof(T));
}

// A two-group manifest: group 1 (two shards) holds a uint8-quantised [2, 2]
// tensor and an unquantised float32 [3]; group 2 a uint16-quantised [2], a
// float16 [2] and an int32 [1].
std::filesystem::path WriteSyntheticModel(const std::filesystem::path& dir) {
  std::vector<uint8_t> group1;
  for (uint8_t q : {0, 1, 2, 255}) group1.push_back(q);
  for (float v : {1.5f, -2.25f, 1e-3f}) Append(group1, v);
  WriteFile(dir / "m-shard1", std::vector<uint8_t>(group1.begin(), group1.begin() + 6));
  WriteFile(dir / "m-shard2", std::vector<uint8_t>(group1.begin() + 6, group1.end()));
  std::vector<uint8_t> group2;
  Append<uint16_t>(group2, 0);
  Append<uint16_t>(group2, 1000);
  Append<uint16_t>(group2, 0x3C00);  // 1.0 in IEEE half.
  Append<uint16_t>(group2, 0xC500);  // -5.0.
  Append<int32_t>(group2, -7);
  WriteFile(dir / "m-group2.bin", group2);
  WriteText(dir / "m-weights_manifest.json", R"([
    {"paths": ["m-shard1", "m-shard2"], "weights": [
      {"name": "a/q8", "shape": [2, 2], "dtype": "float32",
       "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}},
      {"name": "a/f32", "shape": [3], "dtype": "float32"}]},
    {"paths": ["m-group2.bin"], "weights": [
      {"name": "b/q16", "shape": [2], "dtype": "float32",
       "quantization": {"dtype": "uint16", "scale": 0.01, "min": 2.0}},
      {"name": "b/f16", "shape": [2], "dtype": "float32", "quantization": {"dtype": "float16"}},
      {"name": "b/i32", "shape": [1], "dtype": "int32"}]}])");
  return dir / "m-weights_manifest.json";
}

TEST(TfjsWeightsTest, DequantisesEveryKindAcrossShardsAndGroups) {
  const auto manifest = WriteSyntheticModel(testing::TempDir());
  const TfjsWeights weights = TfjsWeights::Load(manifest);
  EXPECT_THAT(weights.names(),
              ::testing::ElementsAre("a/q8", "a/f32", "b/q16", "b/f16", "b/i32"));
  const TfjsTensor& q8 = weights.Get("a/q8", {2, 2});
  EXPECT_THAT(q8.values, ::testing::ElementsAre(-1.0f, -0.5f, 0.0f, 126.5f));
  EXPECT_THAT(weights.Get("a/f32").values, ::testing::ElementsAre(1.5f, -2.25f, 1e-3f));
  EXPECT_THAT(weights.Get("b/q16").values, ::testing::ElementsAre(2.0f, 12.0f));
  EXPECT_THAT(weights.Get("b/f16").values, ::testing::ElementsAre(1.0f, -5.0f));
  EXPECT_THAT(weights.Get("b/i32").values, ::testing::ElementsAre(-7.0f));
}

TEST(TfjsWeightsTest, UnknownTensorOrWrongShapeNamesTheTensor) {
  const auto manifest = WriteSyntheticModel(testing::TempDir());
  const TfjsWeights weights = TfjsWeights::Load(manifest);
  EXPECT_FALSE(weights.Contains("nope"));
  try {
    weights.Get("nope");
    FAIL() << "expected TfjsWeightsError";
  } catch (const TfjsWeightsError& e) {
    EXPECT_THAT(e.what(), HasSubstr("'nope'"));
  }
  try {
    weights.Get("a/q8", {4});
    FAIL() << "expected TfjsWeightsError";
  } catch (const TfjsWeightsError& e) {
    EXPECT_THAT(e.what(), HasSubstr("[2, 2]"));
  }
}

TEST(TfjsWeightsTest, MissingShardNamesTheFileAndSetup) {
  const auto dir = testing::TempDir();
  const auto manifest = WriteSyntheticModel(dir);
  std::filesystem::remove(dir / "m-shard2");
  try {
    TfjsWeights::Load(manifest);
    FAIL() << "expected TfjsWeightsError";
  } catch (const TfjsWeightsError& e) {
    EXPECT_THAT(e.what(), HasSubstr((dir / "m-shard2").string()));
    EXPECT_THAT(e.what(), HasSubstr("tools/setup"));
  }
}

TEST(TfjsWeightsTest, TruncatedOrOversizedShardNamesTheFile) {
  const auto dir = testing::TempDir();
  const auto manifest = WriteSyntheticModel(dir);
  WriteFile(dir / "m-group2.bin", {1, 2, 3});
  try {
    TfjsWeights::Load(manifest);
    FAIL() << "expected TfjsWeightsError";
  } catch (const TfjsWeightsError& e) {
    EXPECT_THAT(e.what(), HasSubstr("m-group2.bin"));
    EXPECT_THAT(e.what(), HasSubstr("truncated"));
  }
  WriteFile(dir / "m-group2.bin", std::vector<uint8_t>(64, 0));
  EXPECT_THROW(TfjsWeights::Load(manifest), TfjsWeightsError);
}

TEST(TfjsWeightsTest, CorruptManifestNamesTheManifest) {
  const auto dir = testing::TempDir();
  const auto manifest = WriteSyntheticModel(dir);
  WriteText(manifest, "[{\"paths\": [\"m-shard1\"], \"weights\": [{\"name\": 3");
  try {
    TfjsWeights::Load(manifest);
    FAIL() << "expected TfjsWeightsError";
  } catch (const TfjsWeightsError& e) {
    EXPECT_THAT(e.what(), HasSubstr(manifest.string()));
    EXPECT_THAT(e.what(), HasSubstr("tools/setup"));
  }
}

TEST(TfjsWeightsTest, RealLandmarkModelLoadsWithItsQuantisationRanges) {
  const auto manifest = DefaultFaceApiModelDir() / "face_landmark_68_model-weights_manifest.json";
  const TfjsWeights weights = TfjsWeights::Load(manifest);
  // dense0: regular conv0 (2 tensors) + 3 separable convs (3 each); dense1-3:
  // 4 separable convs each; fc weights and bias.
  EXPECT_EQ(weights.names().size(), 11u + 3u * 12u + 2u);
  // fc/bias: uint8, scale 0.0025084222648658005, min 0.07683877646923065.
  const TfjsTensor& bias = weights.Get("fc/bias", {136});
  for (float v : bias.values) {
    EXPECT_GE(v, 0.0768387f);
    EXPECT_LE(v, 0.0768388f + 255 * 0.0025084223f);
  }
  EXPECT_EQ(weights.Get("dense3/conv3/pointwise_filter").shape,
            (std::vector<int64_t>{1, 1, 256, 256}));
}

TEST(TfjsWeightsTest, NetsNameTheMissingModelFileAndSetup) {
  const auto empty_dir = testing::TempDir();
  const auto expect_names = [&](auto create, const std::string& file) {
    try {
      create();
      FAIL() << "expected an error for " << file;
    } catch (const std::runtime_error& e) {
      EXPECT_THAT(e.what(), HasSubstr((empty_dir / file).string()));
      EXPECT_THAT(e.what(), HasSubstr("tools/setup"));
    }
  };
  expect_names([&] { Landmarker::Create({.model_dir = empty_dir}); },
               "face_landmark_68_model-weights_manifest.json");
  expect_names([&] { Landmarker::Create({.model_dir = empty_dir, .tiny = true}); },
               "face_landmark_68_tiny_model-weights_manifest.json");
  expect_names([&] { FaceRecognizer::Create({.model_dir = empty_dir}); },
               "face_recognition_model-weights_manifest.json");
  expect_names([&] { ExpressionClassifier::Create({.model_dir = empty_dir}); },
               "face_expression_model-weights_manifest.json");
}

TEST(TfjsWeightsTest, CorruptRealModelBinNamesTheFile) {
  // A copy of the real manifest with a truncated .bin.
  const auto dir = testing::TempDir();
  const auto source = DefaultFaceApiModelDir();
  std::filesystem::copy_file(source / "face_landmark_68_tiny_model-weights_manifest.json",
                             dir / "face_landmark_68_tiny_model-weights_manifest.json");
  WriteFile(dir / "face_landmark_68_tiny_model.bin", std::vector<uint8_t>(1000, 7));
  try {
    Landmarker::Create({.model_dir = dir, .tiny = true});
    FAIL() << "expected TfjsWeightsError";
  } catch (const TfjsWeightsError& e) {
    EXPECT_THAT(e.what(), HasSubstr((dir / "face_landmark_68_tiny_model.bin").string()));
    EXPECT_THAT(e.what(), HasSubstr("tools/setup"));
  }
}

}  // namespace
}  // namespace faceanime::face3d
