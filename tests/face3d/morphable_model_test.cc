// The converted ICT-FaceKit model (made by tools/setup from ../shared or
// upstream): structure matches the upstream description and evaluation is
// consistent between the full, subset and dense-basis paths.
#include "face3d/morphable_model.h"

#include <algorithm>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/test_support.h"

namespace faceanime::face3d {
namespace {

using testing::TestModel;

TEST(MorphableModelTest, HasIctTopology) {
  const MorphableModel& m = TestModel();
  EXPECT_EQ(m.num_vertices(), 26719);
  EXPECT_EQ(m.parts().size(), static_cast<size_t>(kNumParts));
  EXPECT_EQ(m.part(Part::kFace).vertices.end, 9409);
  EXPECT_EQ(m.part(Part::kHeadAndNeck).vertices.begin, 9409);
  EXPECT_EQ(m.part(Part::kHeadAndNeck).vertices.end, 11248);
  EXPECT_EQ(m.part(Part::kTeeth).vertices.begin, 17039);
  EXPECT_EQ(m.part(Part::kEyelashesRight).vertices.end, 26719);
  // 25836 quads and 548 triangles upstream.
  EXPECT_EQ(m.triangles().size(), 2u * 25836 + 548);
  EXPECT_EQ(m.part(Part::kEyelashesRight).triangles.end, static_cast<int>(m.triangles().size()));
}

// Parts are closed except where head and neck, mouth socket and eye sockets
// stitch onto the face: their border triangles share face vertices.
TEST(MorphableModelTest, PartTrianglesUseTheirOwnOrFaceVertices) {
  const MorphableModel& m = TestModel();
  const IndexRange face = m.part(Part::kFace).vertices;
  for (int p = 0; p < kNumParts; ++p) {
    const PartInfo& part = m.parts()[p];
    const bool stitched = p >= static_cast<int>(Part::kHeadAndNeck) && p <= static_cast<int>(Part::kEyeSocketRight);
    for (int t = part.triangles.begin; t < part.triangles.end; ++t) {
      for (int v : m.triangles()[t]) {
        ASSERT_TRUE(part.vertices.contains(v) || (stitched && face.contains(v))) << part.name << " triangle " << t;
      }
    }
  }
}

TEST(MorphableModelTest, LandmarksAreSymmetricAndInFace) {
  const MorphableModel& m = TestModel();
  const auto& lm = m.landmark_vertices();
  EXPECT_EQ(lm[0], 1225);
  EXPECT_EQ(lm[67], 5966);
  const float* n = m.neutral();
  // Jaw corners 0 and 16 mirror across x = 0; subject's right is -X.
  EXPECT_NEAR(n[lm[0] * 3 + 0], -n[lm[16] * 3 + 0], 1e-4);
  EXPECT_LT(n[lm[0] * 3 + 0], 0.0f);
  // The nose tip (30) is the most forward landmark.
  for (int k = 0; k < kNumLandmarks; ++k) EXPECT_LE(n[lm[k] * 3 + 2], n[lm[30] * 3 + 2] + 1e-4f);
  for (int v : lm) EXPECT_TRUE(m.part(Part::kFace).vertices.contains(v));
  EXPECT_EQ(m.jawline().right.size(), 8u);
  EXPECT_EQ(m.jawline().left.size(), 8u);
  EXPECT_EQ(m.jawline().right_extended.size(), 17u);
  EXPECT_EQ(m.jawline().left_extended.size(), 17u);
}

TEST(MorphableModelTest, ActionUnitTableMatchesUpstream) {
  const MorphableModel& m = TestModel();
  ASSERT_EQ(m.action_units().size(), 29u);
  const ActionUnitShapes* au12 = nullptr;
  for (const auto& au : m.action_units()) {
    if (au.name == "AU12") au12 = &au;
  }
  ASSERT_NE(au12, nullptr);
  EXPECT_EQ(au12->description, "Lip corner puller");
  EXPECT_THAT(au12->shapes,
              ::testing::UnorderedElementsAre(m.ExpressionIndex("mouthSmile_L"), m.ExpressionIndex("mouthSmile_R")));
}

TEST(MorphableModelTest, JawOpenMovesTheChinDown) {
  const MorphableModel& m = TestModel();
  std::vector<double> expression(kNumExpressionShapes, 0.0);
  expression[m.ExpressionIndex("jawOpen")] = 1.0;
  const Vertices neutral = m.Evaluate({}, {});
  const Vertices open = m.Evaluate({}, expression);
  const int chin = m.landmark_vertices()[8];
  EXPECT_LT(open(chin, 1), neutral(chin, 1) - 1.0f);  // More than 1 cm down.
  const int nose = m.landmark_vertices()[30];
  EXPECT_NEAR(open(nose, 1), neutral(nose, 1), 0.1);  // The nose tip moves < 1 mm.
}

TEST(MorphableModelTest, SubsetAndDenseBasisAgreeWithFullEvaluation) {
  const MorphableModel& m = TestModel();
  std::vector<double> identity(kNumIdentityShapes), expression(kNumExpressionShapes);
  for (int i = 0; i < kNumIdentityShapes; ++i) identity[i] = 0.03 * ((i * 7) % 11 - 5);
  for (int j = 0; j < kNumExpressionShapes; ++j) expression[j] = ((j * 5) % 9) / 9.0;
  const Vertices full = m.Evaluate(identity, expression);
  const std::vector<int> ids(m.landmark_vertices().begin(), m.landmark_vertices().end());
  const Vertices subset = m.EvaluateSubset(ids, identity, expression);
  const SubsetBasis basis = SubsetBasis::Create(m, ids);
  const Eigen::VectorXd dense = basis.mean + basis.identity * Eigen::Map<const Eigen::VectorXd>(identity.data(), 100) +
                                basis.expression * Eigen::Map<const Eigen::VectorXd>(expression.data(), 53);
  for (size_t r = 0; r < ids.size(); ++r) {
    for (int c = 0; c < 3; ++c) {
      EXPECT_NEAR(subset(r, c), full(ids[r], c), 1e-4);
      EXPECT_NEAR(dense(3 * r + c), full(ids[r], c), 1e-4);
    }
  }
}

TEST(MorphableModelTest, RejectsTooManyCoefficients) {
  std::vector<double> too_many(kNumIdentityShapes + 1, 0.0);
  EXPECT_THROW(TestModel().Evaluate(too_many, {}), std::invalid_argument);
}

// ICT lays UVs out in UDIM tiles: floor(u) picks the tile (0: face, 1:
// head and neck and sockets, 2: gums and tongue, 3: teeth, ...), v in [0, 1].
TEST(MorphableModelTest, UvsFollowUdimTiles) {
  const MorphableModel& m = TestModel();
  auto tile_range = [&](Part p) {
    float lo = 1e9f, hi = -1e9f;
    for (int t = m.part(p).triangles.begin; t < m.part(p).triangles.end; ++t) {
      for (int k : m.triangle_uvs()[t]) {
        lo = std::min(lo, m.uv()[k].x());
        hi = std::max(hi, m.uv()[k].x());
        EXPECT_GE(m.uv()[k].y(), 0.0f);
        EXPECT_LE(m.uv()[k].y(), 1.0f);
      }
    }
    return std::pair<float, float>(lo, hi);
  };
  const auto face = tile_range(Part::kFace);
  EXPECT_GE(face.first, 0.0f);
  EXPECT_LE(face.second, 1.0f);
  const auto teeth = tile_range(Part::kTeeth);
  EXPECT_GE(teeth.first, 3.0f);
  EXPECT_LE(teeth.second, 4.0f);
}

}  // namespace
}  // namespace faceanime::face3d
