// The converter and the model file format on a small synthetic ICT-style
// folder: values survive the round trip exactly, and every kind of bad input
// (missing file, truncation, corruption, wrong version) gives an error that
// names the file.
#include "face3d/ict_converter.h"

#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "face3d/model_file.h"
#include "face3d/morphable_model.h"
#include "tests/test_support.h"

namespace faceanime::face3d {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// 17 parts x 4 vertices, one quad per part.
constexpr int kVerticesPerPart = 4;
constexpr int kNumVertices = kNumParts * kVerticesPerPart;

const char* const kExpressionNames[kNumExpressionShapes] = {
    "browDown_L", "browDown_R", "browInnerUp_L", "browInnerUp_R", "browOuterUp_L", "browOuterUp_R",
    "cheekPuff_L", "cheekPuff_R", "cheekSquint_L", "cheekSquint_R", "eyeBlink_L", "eyeBlink_R",
    "eyeLookDown_L", "eyeLookDown_R", "eyeLookIn_L", "eyeLookIn_R", "eyeLookOut_L", "eyeLookOut_R",
    "eyeLookUp_L", "eyeLookUp_R", "eyeSquint_L", "eyeSquint_R", "eyeWide_L", "eyeWide_R", "jawForward",
    "jawLeft", "jawOpen", "jawRight", "mouthClose", "mouthDimple_L", "mouthDimple_R", "mouthFrown_L",
    "mouthFrown_R", "mouthFunnel", "mouthLeft", "mouthLowerDown_L", "mouthLowerDown_R", "mouthPress_L",
    "mouthPress_R", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthSmile_L", "mouthSmile_R", "mouthStretch_L", "mouthStretch_R",
    "mouthUpperUp_L", "mouthUpperUp_R", "noseSneer_L", "noseSneer_R"};

float NeutralCoord(int v, int c) { return static_cast<float>(v * 3 + c) * 0.25f; }
// Shape s (identities 0..99, expressions 100..152) moves vertex v by this.
float DeltaCoord(int s, int v, int c) { return static_cast<float>((s + 1) * (c + 1)) * 0.001f + v * 1e-4f; }

void WriteObj(const fs::path& path, int shape, bool with_faces) {
  std::ofstream out(path);
  out << "# synthetic ICT-style mesh\n";
  for (int v = 0; v < kNumVertices; ++v) {
    out << "v";
    for (int c = 0; c < 3; ++c) out << ' ' << NeutralCoord(v, c) + (shape < 0 ? 0.f : DeltaCoord(shape, v, c));
    out << '\n';
  }
  if (!with_faces) return;
  for (int v = 0; v < kNumVertices; ++v) out << "vt " << v / 100.0 << ' ' << 1.0 - v / 100.0 << '\n';
  for (int p = 0; p < kNumParts; ++p) {
    const int b = p * kVerticesPerPart + 1;
    out << "f " << b << '/' << b << ' ' << b + 1 << '/' << b + 1 << ' ' << b + 2 << '/' << b + 2 << ' '
        << b + 3 << '/' << b + 3 << '\n';
  }
}

std::string IndexList(int count, int stride) {
  std::string s = "    ";
  for (int i = 0; i < count; ++i) s += (i ? ", " : "") + std::to_string((i * stride) % kNumVertices);
  return s;
}

fs::path MakeSyntheticIctFolder() {
  const fs::path dir = testing::TempDir() / "FaceXModel";
  fs::create_directories(dir);
  WriteObj(dir / "generic_neutral_mesh.obj", -1, true);
  for (int i = 0; i < kNumIdentityShapes; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "identity%03d.obj", i);
    WriteObj(dir / name, i, false);
  }
  for (int j = 0; j < kNumExpressionShapes; ++j) {
    WriteObj(dir / (std::string(kExpressionNames[j]) + ".obj"), kNumIdentityShapes + j, false);
  }
  std::vector<int> landmarks;
  for (int i = 0; i < kNumLandmarks; ++i) landmarks.push_back(i % kNumVertices);
  nlohmann::json indices = {{"expressions", std::vector<std::string>(kExpressionNames, kExpressionNames + 53)},
                            {"idx_to_landmark_verts", landmarks},
                            {"idx_to_fitting_verts", {0, 1, 2}},
                            {"idx_to_rigid_verts", {3, 4}}};
  std::ofstream(dir / "vertex_indices.json") << indices.dump();

  std::ofstream readme(dir / "README.md");
  readme << "| Ordinal#| Geometry name | Vertex indices | Polygon indices | #Vertices | #Faces |\n"
            "|---|---|---|---|---|---|\n";
  for (int p = 0; p < kNumParts; ++p) {
    readme << "| #" << p << " | Part " << p << " | [" << p * 4 << ':' << p * 4 + 3 << "] | [" << p << ':' << p
           << "] | 4 | 1 |\n";
  }
  readme << "\nMulti-PIE 68 point facial landmarks indices:\n\n" << IndexList(68, 1) << "\n\n";
  readme << "Right jawline (substitutes 0-7 in Multi PIE):\n\n" << IndexList(8, 2) << "\n\n";
  readme << "Left jawline (substitutes 9-16 in Multi PIE):\n\n" << IndexList(8, 3) << "\n\n";
  readme << "Right extended jawline (superset of right jawline):\n\n" << IndexList(17, 2) << "\n\n";
  readme << "Left extended jawline (superset of left jawline):\n\n" << IndexList(17, 3) << "\n\n";
  readme << "| FACS unit | Our shapes |\n|---|---|\n"
            "| AU12 Lip corner puller    | mouthSmile_L + mouthSmile_R |\n"
            "| AU27 Mouth stretch        | jawOpen |\n"
            "| AU30 Jaw sideways (left)  | jawLeft |\n";
  return dir;
}

class ConverterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    input_ = new fs::path(MakeSyntheticIctFolder());
    output_ = new fs::path(testing::TempDir() / "model.fam");
    ConvertIctFaceKit({*input_, *output_, "synthetic"});
  }
  static fs::path CopyModel() {
    const fs::path copy = testing::TempDir() / "copy.fam";
    fs::copy_file(*output_, copy, fs::copy_options::overwrite_existing);
    return copy;
  }
  static inline fs::path* input_ = nullptr;
  static inline fs::path* output_ = nullptr;
};

TEST_F(ConverterTest, RoundTripsShapesExactly) {
  const MorphableModel model = MorphableModel::Load(*output_);
  ASSERT_EQ(model.num_vertices(), kNumVertices);
  EXPECT_EQ(model.provenance(), "synthetic");
  for (int v = 0; v < kNumVertices; ++v) {
    for (int c = 0; c < 3; ++c) {
      EXPECT_FLOAT_EQ(model.neutral()[v * 3 + c], NeutralCoord(v, c));
      EXPECT_NEAR(model.identity_delta(7)[v * 3 + c], DeltaCoord(7, v, c), 1e-5);
      EXPECT_NEAR(model.expression_delta(26)[v * 3 + c], DeltaCoord(100 + 26, v, c), 1e-5);
    }
  }
  EXPECT_EQ(model.ExpressionIndex("jawOpen"), 26);
  EXPECT_EQ(model.ExpressionIndex("noSuchShape"), -1);
}

TEST_F(ConverterTest, TriangulatesQuadsAndMapsPartRanges) {
  const MorphableModel model = MorphableModel::Load(*output_);
  ASSERT_EQ(model.triangles().size(), 2u * kNumParts);
  EXPECT_EQ(model.triangles()[0], (Triangle{0, 1, 2}));
  EXPECT_EQ(model.triangles()[1], (Triangle{0, 2, 3}));
  const PartInfo& teeth = model.part(Part::kTeeth);
  EXPECT_EQ(teeth.name, "Part 6");
  EXPECT_EQ(teeth.vertices.begin, 24);
  EXPECT_EQ(teeth.vertices.end, 28);
  EXPECT_EQ(teeth.triangles.begin, 12);
  EXPECT_EQ(teeth.triangles.end, 14);
}

TEST_F(ConverterTest, ReadsLandmarksJawlineAndActionUnits) {
  const MorphableModel model = MorphableModel::Load(*output_);
  EXPECT_EQ(model.landmark_vertices()[67], 67 % kNumVertices);
  EXPECT_EQ(model.jawline().right.size(), 8u);
  EXPECT_EQ(model.jawline().left_extended.size(), 17u);
  EXPECT_EQ(model.jawline().left[1], 3);
  ASSERT_EQ(model.action_units().size(), 3u);
  EXPECT_EQ(model.action_units()[0].name, "AU12");
  EXPECT_THAT(model.action_units()[0].shapes, ::testing::ElementsAre(45, 46));
  EXPECT_EQ(model.action_units()[2].name, "AU30L");
}

TEST_F(ConverterTest, MissingInputNamesTheFile) {
  const fs::path broken = testing::TempDir() / "broken";
  fs::copy(*input_, broken);
  fs::remove(broken / "identity042.obj");
  try {
    ConvertIctFaceKit({broken, testing::TempDir() / "out.fam", ""});
    FAIL() << "expected ConversionError";
  } catch (const ConversionError& e) {
    EXPECT_THAT(e.what(), HasSubstr("identity042.obj"));
  }
  EXPECT_FALSE(fs::exists(testing::TempDir() / "out.fam"));
}

TEST_F(ConverterTest, ShapeWithWrongVertexCountIsRejected) {
  const fs::path broken = testing::TempDir() / "short";
  fs::copy(*input_, broken);
  std::ofstream(broken / "jawOpen.obj") << "v 0 0 0\n";
  try {
    ConvertIctFaceKit({broken, testing::TempDir() / "out2.fam", ""});
    FAIL() << "expected ConversionError";
  } catch (const ConversionError& e) {
    EXPECT_THAT(e.what(), HasSubstr("jawOpen.obj"));
    EXPECT_THAT(e.what(), HasSubstr("1 vertices"));
  }
}

void ExpectLoadError(const fs::path& path, const std::string& what) {
  try {
    MorphableModel::Load(path);
    FAIL() << "expected ModelFileError";
  } catch (const ModelFileError& e) {
    EXPECT_THAT(e.what(), HasSubstr(path.string()));
    EXPECT_THAT(e.what(), HasSubstr(what));
    EXPECT_THAT(e.what(), HasSubstr("tools/setup"));
  }
}

TEST_F(ConverterTest, MissingModelFileNamesPathAndFix) {
  ExpectLoadError(testing::TempDir() / "absent.fam", "cannot open");
}

TEST_F(ConverterTest, CorruptByteIsDetected) {
  const fs::path copy = CopyModel();
  std::fstream f(copy, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(fs::file_size(copy) / 2));
  char c;
  f.seekg(f.tellp());
  f.get(c);
  f.seekp(static_cast<std::streamoff>(fs::file_size(copy) / 2));
  f.put(static_cast<char>(c ^ 0x5a));
  f.close();
  ExpectLoadError(copy, "checksum");
}

TEST_F(ConverterTest, TruncatedFileIsDetected) {
  const fs::path copy = CopyModel();
  fs::resize_file(copy, fs::file_size(copy) - 100);
  ExpectLoadError(copy, "truncated");
}

TEST_F(ConverterTest, OtherVersionIsRejected) {
  const fs::path copy = CopyModel();
  std::fstream f(copy, std::ios::in | std::ios::out | std::ios::binary);
  const uint32_t version = model_file::kVersion + 1;
  f.seekp(8);
  f.write(reinterpret_cast<const char*>(&version), sizeof(version));
  f.close();
  ExpectLoadError(copy, "version 2");
}

TEST_F(ConverterTest, NotAModelFileIsRejected) {
  const fs::path path = testing::TempDir() / "text.fam";
  std::ofstream(path) << std::string(200, 'x');
  ExpectLoadError(path, "bad magic");
}

}  // namespace
}  // namespace faceanime::face3d
