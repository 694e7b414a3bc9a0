// Motion transfer: relative and absolute modes, switches, gain, and the
// no-face hold-then-ease behaviour on exact parameter arithmetic; the
// re-projection of the expression change on the landmark motion
// (project_expression) on the model's landmark vertices.
#include "pipeline/motion_transfer.h"

#include <cmath>
#include <cstdio>

#include <Eigen/Geometry>
#include <Eigen/SVD>
#include <gtest/gtest.h>

#include "tests/test_support.h"

namespace faceanime::pipeline {
namespace {

using face3d::FaceParams;
using testing::TestModel;

int Shape(const char* name) { return TestModel().ExpressionIndex(name); }

FaceParams Face(double yaw, double smile, double z = 50) {
  FaceParams p;
  p.pose.rotation = face3d::RotationFromEuler({yaw, 0, 0});
  p.pose.translation = Eigen::Vector3d(0, 0, z);
  p.expression[Shape("mouthSmile_L")] = smile;
  return p;
}

double Yaw(const FaceParams& p) { return face3d::ToEuler(p.pose).yaw; }

// Exact weight arithmetic: the fitted change as such, not re-projected on
// the landmark motion (project_expression has its own tests below).
MotionTransferOptions Exact() {
  MotionTransferOptions o;
  o.project_expression = false;
  return o;
}

constexpr int64_t kMs = 1'000'000;

TEST(MotionTransferTest, RelativeModeAppliesTheDriversChange) {
  auto mt = MotionTransfer::Create(TestModel(), Exact());
  FaceParams source = Face(-5, 0.3);
  source.expression[Shape("eyeBlink_L")] = 0.2;  // The source's own resting face.
  mt.SetSource(source);
  // First driver frame = its reference: the output is the source itself.
  const FaceParams ref = Face(10, 0.1, 80);
  FaceParams out = mt.Update(ref, 0);
  EXPECT_NEAR(Yaw(out), -5, 1e-9);
  EXPECT_NEAR(out.expression[Shape("mouthSmile_L")], 0.3, 1e-12);
  EXPECT_NEAR(out.expression[Shape("eyeBlink_L")], 0.2, 1e-12);
  // The driver turns 12° and smiles 0.4 more.
  FaceParams moved = Face(22, 0.5, 80);
  moved.pose.translation.x() = 4.0;  // 4 cm at 80 cm -> 2.5 cm at the source's 50 cm.
  out = mt.Update(moved, 40 * kMs);
  EXPECT_NEAR(Yaw(out), 7, 1e-9);
  EXPECT_NEAR(out.expression[Shape("mouthSmile_L")], 0.7, 1e-12);
  EXPECT_NEAR(out.pose.translation.x(), 2.5, 1e-12);
  EXPECT_EQ(out.identity, source.identity);
}

TEST(MotionTransferTest, RelativeExpressionIsClampedToUnitRange) {
  auto mt = MotionTransfer::Create(TestModel(), Exact());
  mt.SetSource(Face(0, 0.9));
  mt.Update(Face(0, 0.0), 0);
  EXPECT_EQ(mt.Update(Face(0, 0.8), 1).expression[Shape("mouthSmile_L")], 1.0);
}

TEST(MotionTransferTest, AbsoluteModeCopiesRotationAndExpressionWithGain) {
  MotionTransferOptions o;
  o.mode = MotionMode::kAbsolute;
  o.expression_gain = 0.5;
  auto mt = MotionTransfer::Create(TestModel(), o);
  const FaceParams source = Face(-5, 0.3, 40);
  mt.SetSource(source);
  const FaceParams out = mt.Update(Face(15, 0.8, 90), 0);
  EXPECT_NEAR(Yaw(out), 15, 1e-9);
  EXPECT_NEAR(out.expression[Shape("mouthSmile_L")], 0.4, 1e-12);
  EXPECT_EQ(out.pose.translation, source.pose.translation);  // Keeps its place.
}

TEST(MotionTransferTest, SwitchesKeepTheSourcesPoseExpressionOrGaze) {
  MotionTransferOptions o = Exact();
  o.transfer_pose = false;
  o.transfer_gaze = false;
  auto mt = MotionTransfer::Create(TestModel(), o);
  FaceParams source = Face(3, 0.0);
  source.expression[Shape("eyeLookUp_L")] = 0.25;
  mt.SetSource(source);
  mt.Update(Face(0, 0.0), 0);
  FaceParams driver = Face(20, 0.6);
  driver.expression[Shape("eyeLookUp_L")] = 0.9;
  const FaceParams out = mt.Update(driver, 1);
  EXPECT_NEAR(Yaw(out), 3, 1e-9);
  EXPECT_NEAR(out.expression[Shape("mouthSmile_L")], 0.6, 1e-12);
  EXPECT_NEAR(out.expression[Shape("eyeLookUp_L")], 0.25, 1e-12);

  o = Exact();
  o.transfer_expression = false;
  mt.set_options(o);
  const FaceParams out2 = mt.Update(driver, 2);
  EXPECT_NEAR(out2.expression[Shape("mouthSmile_L")], 0.0, 1e-12);
  EXPECT_EQ(out2.expression[Shape("eyeLookUp_L")], 1.0);  // 0.25 + 0.9, clamped.
  EXPECT_NEAR(Yaw(out2), 23, 1e-9);
}

TEST(MotionTransferTest, LostFaceHoldsThenEasesBackToRest) {
  MotionTransferOptions o = Exact();
  o.hold_s = 0.2;
  o.ease_s = 0.4;
  auto mt = MotionTransfer::Create(TestModel(), o);
  const FaceParams source = Face(0, 0.0);
  mt.SetSource(source);
  mt.Update(Face(0, 0.0), 0);
  const FaceParams last = mt.Update(Face(20, 0.8), 40 * kMs);
  const int smile = Shape("mouthSmile_L");
  // Lost at 80 ms: held until 280 ms.
  EXPECT_EQ(mt.Update(std::nullopt, 80 * kMs).expression[smile], last.expression[smile]);
  EXPECT_EQ(mt.Update(std::nullopt, 280 * kMs).expression[smile], last.expression[smile]);
  // Half-way through the ease: between the two, strictly.
  const FaceParams mid = mt.Update(std::nullopt, 480 * kMs);
  EXPECT_NEAR(mid.expression[smile], 0.4, 1e-9);  // Smoothstep(0.5) = 0.5.
  EXPECT_NEAR(Yaw(mid), 10, 1e-6);
  // After hold + ease: the source at rest.
  const FaceParams rest = mt.Update(std::nullopt, 700 * kMs);
  EXPECT_NEAR(rest.expression[smile], 0.0, 1e-12);
  EXPECT_NEAR(Yaw(rest), 0, 1e-9);
  // The face comes back: motion resumes at once against the same reference.
  EXPECT_NEAR(mt.Update(Face(20, 0.8), 740 * kMs).expression[smile], 0.8, 1e-12);
}

TEST(MotionTransferTest, NoFaceBeforeAnyDriverFrameRendersTheSource) {
  auto mt = MotionTransfer::Create(TestModel(), {});
  const FaceParams source = Face(7, 0.2);
  mt.SetSource(source);
  const FaceParams out = mt.Update(std::nullopt, 0);
  EXPECT_NEAR(Yaw(out), 7, 1e-9);
  EXPECT_EQ(out.expression, source.expression);
}

TEST(MotionTransferTest, ExplicitNeutralReferenceReplacesTheFirstFrame) {
  auto mt = MotionTransfer::Create(TestModel(), Exact());
  mt.SetSource(Face(0, 0.1));
  mt.SetDriverReference(Face(0, 0.3));  // The driver's neutral face smiles a bit.
  EXPECT_NEAR(mt.Update(Face(0, 0.5), 0).expression[Shape("mouthSmile_L")], 0.3, 1e-12);
}

// Model-space positions (cm) of the fixed landmark vertices (inner 17-67 and
// the chin), 3 x N.
Eigen::Matrix3Xd LandmarkShape(const FaceParams& p) {
  std::vector<int> ids = {TestModel().landmark_vertices()[8]};
  for (int l = 17; l < 68; ++l) ids.push_back(TestModel().landmark_vertices()[l]);
  const face3d::Vertices v = TestModel().EvaluateSubset(ids, p.identity, p.expression);
  return v.transpose().cast<double>();
}

// RMS distance (cm) of two shapes after the best similarity alignment (what
// a perspective camera sees of a shape does not change when shape and depth
// scale together; the re-expressed reference takes the scale as depth).
double AlignedRms(const Eigen::Matrix3Xd& a, const Eigen::Matrix3Xd& b) {
  const Eigen::Matrix4d t = Eigen::umeyama(b, a, /*with_scaling=*/true);
  const Eigen::Matrix3Xd moved = (t.topLeftCorner<3, 3>() * b).colwise() + t.topRightCorner<3, 1>();
  return std::sqrt((moved - a).squaredNorm() / a.cols());
}

TEST(MotionTransferTest, DriverIdentityUpdateReExpressesTheReferenceShape) {
  FaceParams source = Face(0, 0.0);
  source.expression.fill(0.5);  // Mid-range: out = 1 - reference below, no clamping.
  FaceParams reference = Face(0, 0.0);
  reference.expression[Shape("jawOpen")] = 0.3;
  reference.expression[Shape("mouthSmile_L")] = 0.2;
  FaceParams updated = reference;  // The tracker's refined identity.
  updated.identity[0] = 1.5;
  updated.identity[2] = -1.0;
  updated.identity[5] = 1.0;
  updated.expression.fill(0.5);

  auto mt = MotionTransfer::Create(TestModel(), Exact());
  mt.SetSource(source);
  mt.Update(reference, 0);
  const FaceParams out = mt.Update(updated, 40 * kMs);
  // out = source + (updated - reference') = 1 - reference'.
  FaceParams rebased = updated;
  for (size_t j = 0; j < out.expression.size(); ++j) rebased.expression[j] = 1.0 - out.expression[j];
  FaceParams naive = reference;  // The old weights read in the new identity.
  naive.identity = updated.identity;
  const double before = AlignedRms(LandmarkShape(reference), LandmarkShape(naive));
  const double after = AlignedRms(LandmarkShape(reference), LandmarkShape(rebased));
  std::printf("reference landmark shape in the new identity: RMS %.3f cm with the old weights, %.3f re-expressed\n",
              before, after);
  ASSERT_GT(before, 0.05);  // The identity update changes the landmark shape.
  EXPECT_LT(after, 0.7 * before);

  // Without re-basing, the new identity's weights are compared with the old
  // reference's as they are.
  MotionTransferOptions o = Exact();
  o.rebase_on_identity_change = false;
  auto plain = MotionTransfer::Create(TestModel(), o);
  plain.SetSource(source);
  plain.Update(reference, 0);
  EXPECT_NEAR(plain.Update(updated, 40 * kMs).expression[Shape("jawOpen")], 0.5 + 0.5 - 0.3, 1e-12);

  // An explicit reference of another identity (another photo's fit) is used
  // as given: only a change between driver frames re-bases it.
  auto still = MotionTransfer::Create(TestModel(), Exact());
  still.SetSource(source);
  still.SetDriverReference(reference);
  EXPECT_NEAR(still.Update(updated, 0).expression[Shape("jawOpen")], 0.5 + 0.5 - 0.3, 1e-12);
}

// A tracker that swaps in a larger identity sees the same image with the
// head further away (a perspective camera does not see a common scale): the
// re-expressed reference must take that depth, or the output moves away
// from the camera (shrinks) although the driver did not move.
TEST(MotionTransferTest, DriverIdentityUpdateThatRescalesTheFaceLeavesTheOutputInPlace) {
  constexpr double kScale = 1.06;
  FaceParams reference = Face(8, 0.2, 60);
  reference.pose.translation.head<2>() = Eigen::Vector2d(1.5, -2.0);
  reference.expression[Shape("jawOpen")] = 0.25;
  // The new identity: the one whose landmark shape (the reference's
  // expression held) is closest to the old shape scaled by kScale.
  const Eigen::Matrix3Xd old_shape = LandmarkShape(reference);
  FaceParams zero = reference;
  const Eigen::Matrix3Xd base = LandmarkShape(zero);
  Eigen::MatrixXd basis(base.size(), face3d::kNumIdentityShapes);
  for (int i = 0; i < face3d::kNumIdentityShapes; ++i) {
    FaceParams one = zero;
    one.identity[i] = 1.0;
    const Eigen::Matrix3Xd d = LandmarkShape(one) - base;
    basis.col(i) = Eigen::Map<const Eigen::VectorXd>(d.data(), d.size());
  }
  const Eigen::Matrix3Xd scaled_minus_base = kScale * old_shape - base;
  const Eigen::VectorXd a_new = basis.colPivHouseholderQr().solve(
      Eigen::Map<const Eigen::VectorXd>(scaled_minus_base.data(), scaled_minus_base.size()));
  FaceParams updated = reference;  // Same image, refined identity.
  for (int i = 0; i < face3d::kNumIdentityShapes; ++i) updated.identity[i] = a_new(i);
  updated.pose.translation = kScale * reference.pose.translation;
  // The new identity is (nearly) the old shape scaled: its scale-free
  // shape difference is small.
  const Eigen::Matrix3Xd new_shape = LandmarkShape(updated);
  const double residual = std::sqrt((new_shape - kScale * old_shape).squaredNorm() / old_shape.cols());
  std::printf("new identity vs the old landmark shape x %.2f: RMS %.3f cm\n", kScale, residual);
  ASSERT_LT(residual, 0.1);

  const FaceParams source = Face(-4, 0.1, 45);
  for (const bool rebase : {true, false}) {
    MotionTransferOptions o = Exact();
    o.rebase_on_identity_change = rebase;
    auto mt = MotionTransfer::Create(TestModel(), o);
    mt.SetSource(source);
    mt.Update(reference, 0);
    const FaceParams out = mt.Update(updated, 40 * kMs);
    const Eigen::Vector3d moved = out.pose.translation - source.pose.translation;
    std::printf("rebase %d: the output moved (%.3f, %.3f, %.3f) cm, turned %.3f deg\n", rebase, moved.x(), moved.y(),
                moved.z(), Yaw(out) - Yaw(source));
    if (rebase) {
      // Without the scale the output would move ~(kScale - 1) * 45 = 2.7 cm away.
      EXPECT_LT(moved.norm(), 0.1);
      EXPECT_NEAR(Yaw(out), Yaw(source), 0.2);
      EXPECT_NEAR(out.expression[Shape("jawOpen")], source.expression[Shape("jawOpen")], 0.05);
    } else {
      EXPECT_GT(moved.z(), 2.0);  // The depth the identity change implies, read as motion.
    }
  }
}

// Landmark-vertex motion (cm, model space, 3N) of an expression change.
Eigen::VectorXd LandmarkMotion(const std::array<double, face3d::kNumExpressionShapes>& from,
                               const std::array<double, face3d::kNumExpressionShapes>& to) {
  FaceParams a, b;
  a.expression = from;
  b.expression = to;
  const Eigen::Matrix3Xd d = LandmarkShape(b) - LandmarkShape(a);
  return Eigen::Map<const Eigen::VectorXd>(d.data(), d.size());
}

TEST(MotionTransferTest, ProjectedChangeMovesTheLandmarksAsTheDriversChange) {
  // A mouth opening with a smile and a blink: the re-projected change moves
  // the source's landmark vertices as the fitted change does, with the
  // weights of the jaw and the eyelid close to the fitted ones.
  auto mt = MotionTransfer::Create(TestModel(), {});
  FaceParams source = Face(0, 0.1);
  mt.SetSource(source);
  const FaceParams ref = Face(0, 0.0);
  mt.Update(ref, 0);
  FaceParams driver = ref;
  driver.expression[Shape("jawOpen")] = 0.4;
  driver.expression[Shape("mouthSmile_L")] = 0.3;
  driver.expression[Shape("eyeBlink_R")] = 0.6;
  driver.expression[Shape("eyeLookUp_L")] = 0.5;  // Gaze: moves no landmark.
  const FaceParams out = mt.Update(driver, 40 * kMs);
  const Eigen::VectorXd wanted = LandmarkMotion(ref.expression, driver.expression);
  const Eigen::VectorXd got = LandmarkMotion(source.expression, out.expression);
  const double rel = (got - wanted).norm() / wanted.norm();
  std::printf("landmark motion error of the re-projected change: %.3f of its size\n", rel);
  EXPECT_LT(rel, 0.1);
  EXPECT_NEAR(out.expression[Shape("jawOpen")], 0.4, 0.05);
  EXPECT_NEAR(out.expression[Shape("eyeBlink_R")], 0.6, 0.05);
  // The smile's landmark motion is partly taken by neighbouring mouth shapes
  // (the smallest change that moves the landmarks alike); most of it stays.
  EXPECT_GT(out.expression[Shape("mouthSmile_L")], 0.1 + 0.5 * 0.3);
  EXPECT_NEAR(out.expression[Shape("eyeLookUp_L")], 0.5, 1e-12);  // As fitted.
}

TEST(MotionTransferTest, ProjectedChangeDropsWeightCombinationsTheLandmarksDoNotShow) {
  // The combination of non-gaze shapes that moves the landmark vertices
  // least (the smallest singular vector of their landmark basis): a tracker
  // can drift along it without any landmark moving. Transferred as fitted,
  // it changes the weights by up to 0.4; re-projected, it nearly vanishes.
  constexpr int kE = face3d::kNumExpressionShapes;
  std::vector<int> shapes;
  for (int j = 0; j < kE; ++j) {
    if (TestModel().expression_names()[j].rfind("eyeLook", 0) != 0) shapes.push_back(j);
  }
  Eigen::MatrixXd basis(3 * 52, shapes.size());
  for (size_t k = 0; k < shapes.size(); ++k) {
    std::array<double, kE> unit{};
    unit[shapes[k]] = 1.0;
    basis.col(k) = LandmarkMotion({}, unit);
  }
  const Eigen::JacobiSVD<Eigen::MatrixXd> svd(basis, Eigen::ComputeFullV);
  const Eigen::VectorXd v = svd.matrixV().col(shapes.size() - 1);
  FaceParams source = Face(0, 0.0), ref = Face(0, 0.0), driver = Face(0, 0.0);
  source.expression.fill(0.5);
  ref.expression.fill(0.5);
  driver.expression.fill(0.5);
  for (size_t k = 0; k < shapes.size(); ++k) driver.expression[shapes[k]] += 0.4 * v(k) / v.cwiseAbs().maxCoeff();

  auto projected = MotionTransfer::Create(TestModel(), {});
  projected.SetSource(source);
  projected.Update(ref, 0);
  const FaceParams out = projected.Update(driver, 40 * kMs);
  auto exact = MotionTransfer::Create(TestModel(), Exact());
  exact.SetSource(source);
  exact.Update(ref, 0);
  const FaceParams raw = exact.Update(driver, 40 * kMs);
  double projected_change = 0, raw_change = 0;
  for (int j = 0; j < kE; ++j) {
    projected_change = std::max(projected_change, std::abs(out.expression[j] - 0.5));
    raw_change = std::max(raw_change, std::abs(raw.expression[j] - 0.5));
  }
  std::printf("largest weight change: %.3f as fitted, %.3f re-projected\n", raw_change, projected_change);
  EXPECT_NEAR(raw_change, 0.4, 1e-9);
  EXPECT_LT(projected_change, 0.05);
}

TEST(MotionTransferTest, ProjectedChangeKeepsWeightsInRangeAroundTheSource) {
  // The source's smile is already at 1: the driver's smile cannot be added
  // to it; the weights stay in [0, 1] and the other shapes do not go wild.
  auto mt = MotionTransfer::Create(TestModel(), {});
  mt.SetSource(Face(0, 1.0));
  mt.Update(Face(0, 0.0), 0);
  const FaceParams out = mt.Update(Face(0, 0.8), 40 * kMs);
  for (double w : out.expression) {
    EXPECT_GE(w, 0.0);
    EXPECT_LE(w, 1.0);
  }
  EXPECT_EQ(out.expression[Shape("mouthSmile_L")], 1.0);
}

TEST(MotionTransferTest, RejectsInvalidOptions) {
  MotionTransferOptions o;
  o.expression_gain = -1;
  EXPECT_THROW(MotionTransfer::Create(TestModel(), o), std::invalid_argument);
  o = {};
  o.ease_s = 0;
  EXPECT_THROW(MotionTransfer::Create(TestModel(), o), std::invalid_argument);
}

}  // namespace
}  // namespace faceanime::pipeline
