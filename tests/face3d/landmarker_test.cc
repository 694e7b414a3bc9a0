// Landmarker on real portraits: plausible geometry, format/stride
// independence, mirror consistency, and a confidence that separates faces
// from crops with no face.
#include "face3d/landmarker.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "face3d/face_recognizer.h"
#include "face3d/expression_classifier.h"
#include "tests/test_support.h"

namespace faceanime::face3d {
namespace {

const std::filesystem::path kAssets = std::filesystem::path(FACEANIME_SOURCE_DIR) / "assets";

cv::Mat ReadBgr(const std::filesystem::path& path) {
  cv::Mat bgr = cv::imread(path.string(), cv::IMREAD_COLOR);
  EXPECT_FALSE(bgr.empty()) << path;
  return bgr;
}

Eigen::AlignedBox2d Box(double x0, double y0, double x1, double y1) {
  return Eigen::AlignedBox2d(Eigen::Vector2d(x0, y0), Eigen::Vector2d(x1, y1));
}

Eigen::Vector2d Mean(const Landmarks68& p, int begin, int end) {
  Eigen::Vector2d sum = Eigen::Vector2d::Zero();
  for (int i = begin; i < end; ++i) sum += p[i];
  return sum / (end - begin);
}

// Frontal-face layout: brows above eyes above nose tip above mouth above
// chin; the subject's right eye (36-41) at image left of the left eye
// (42-47); jaw from image left (0) to right (16); all inside the box grown
// by 25%.
void ExpectPlausibleFrontalFace(const Landmarks68& p, const Eigen::AlignedBox2d& box,
                                const std::string& what) {
  SCOPED_TRACE(what);
  const Eigen::Vector2d right_eye = Mean(p, 36, 42);
  const Eigen::Vector2d left_eye = Mean(p, 42, 48);
  const Eigen::Vector2d brows = Mean(p, 17, 27);
  const Eigen::Vector2d mouth = Mean(p, 48, 68);
  const double eye_distance = (left_eye - right_eye).norm();
  EXPECT_GT(eye_distance, 0.2 * box.sizes().x());
  EXPECT_LT(right_eye.x(), left_eye.x());
  EXPECT_LT(p[0].x(), p[8].x());
  EXPECT_LT(p[8].x(), p[16].x());
  EXPECT_LT(brows.y(), right_eye.y());
  EXPECT_LT(brows.y(), left_eye.y());
  EXPECT_LT(std::max(right_eye.y(), left_eye.y()), p[30].y());  // Nose tip below the eyes.
  EXPECT_LT(p[30].y(), mouth.y());
  EXPECT_LT(mouth.y(), p[8].y());  // Chin lowest.
  EXPECT_LT(p[51].y(), p[57].y());  // Upper lip above lower lip.
  EXPECT_LT(p[48].x(), p[54].x());  // Mouth corners in order.
  // The nose tip lies between the eyes horizontally.
  EXPECT_GT(p[30].x(), right_eye.x());
  EXPECT_LT(p[30].x(), left_eye.x());
  const Eigen::Vector2d half = 0.625 * box.sizes();
  const Eigen::AlignedBox2d grown(box.center() - half, box.center() + half);
  for (int i = 0; i < kNumLandmarks; ++i) EXPECT_TRUE(grown.contains(p[i])) << "point " << i;
}

struct Portrait {
  const char* file;
  Eigen::AlignedBox2d box;  // Picked by looking at the image.
};
const Portrait kPortraits[] = {{"astronaut.png", Box(168, 62, 284, 190)},
                               {"grace_hopper.jpg", Box(150, 125, 370, 345)}};

class LandmarkerVariantTest : public ::testing::TestWithParam<bool> {};

TEST_P(LandmarkerVariantTest, BundledPortraitsGetPlausibleConfidentLandmarks) {
  const auto landmarker = Landmarker::Create({.tiny = GetParam()});
  for (const Portrait& portrait : kPortraits) {
    const cv::Mat bgr = ReadBgr(kAssets / portrait.file);
    const LandmarkResult result = landmarker->Detect(ViewOf(bgr, PixelFormat::kBgr), portrait.box);
    ExpectPlausibleFrontalFace(result.points, portrait.box, portrait.file);
    EXPECT_GT(result.confidence, 0.7) << portrait.file;
  }
}

TEST_P(LandmarkerVariantTest, MirroredImageGivesMirroredLandmarks) {
  const auto landmarker = Landmarker::Create({.tiny = GetParam()});
  for (const Portrait& portrait : kPortraits) {
    const cv::Mat bgr = ReadBgr(kAssets / portrait.file);
    cv::Mat mirrored;
    cv::flip(bgr, mirrored, 1);
    const double w = bgr.cols;
    // Pixel x maps to w - 1 - x; a box [a, b] (continuous) to [w - 1 - b, w - 1 - a].
    const Eigen::AlignedBox2d box_m = Box(w - 1 - portrait.box.max().x(), portrait.box.min().y(),
                                          w - 1 - portrait.box.min().x(), portrait.box.max().y());
    const auto a = landmarker->Detect(ViewOf(bgr, PixelFormat::kBgr), portrait.box).points;
    const auto b = landmarker->Detect(ViewOf(mirrored, PixelFormat::kBgr), box_m).points;
    const double eye_distance = (Mean(a, 42, 48) - Mean(a, 36, 42)).norm();
    double sum2 = 0.0;
    for (int i = 0; i < kNumLandmarks; ++i) {
      const Eigen::Vector2d back(w - 1 - b[Landmarker::kMirror[i]].x(), b[Landmarker::kMirror[i]].y());
      sum2 += (back - a[i]).squaredNorm();
    }
    // RMS disagreement below 10% of the eye distance.
    EXPECT_LT(std::sqrt(sum2 / kNumLandmarks), 0.1 * eye_distance) << portrait.file;
  }
}

TEST_P(LandmarkerVariantTest, CropsWithoutFaceScoreFarBelowFaces) {
  const auto landmarker = Landmarker::Create({.tiny = GetParam()});
  const Eigen::AlignedBox2d box = Box(-0.5, -0.5, 159.5, 159.5);
  cv::RNG rng(7);
  double worst_no_face = 0.0;
  for (int level : {0, 40, 80, 128, 200, 255}) {
    const cv::Mat flat(160, 160, CV_8UC3, cv::Scalar::all(level));
    worst_no_face = std::max(worst_no_face, landmarker->Detect(ViewOf(flat, PixelFormat::kBgr), box).confidence);
  }
  for (double blur : {0.0, 2.0, 5.0}) {
    cv::Mat noise(160, 160, CV_8UC3);
    rng.fill(noise, cv::RNG::UNIFORM, 0, 256);
    if (blur > 0) cv::GaussianBlur(noise, noise, cv::Size(0, 0), blur);
    worst_no_face = std::max(worst_no_face, landmarker->Detect(ViewOf(noise, PixelFormat::kBgr), box).confidence);
  }
  // Background of the astronaut photo (flag, wall).
  const cv::Mat astronaut = ReadBgr(kAssets / "astronaut.png");
  for (const auto& background : {Box(0, 0, 110, 110), Box(380, 0, 511, 130)}) {
    worst_no_face = std::max(worst_no_face,
                             landmarker->Detect(ViewOf(astronaut, PixelFormat::kBgr), background).confidence);
  }
  double worst_face = 1.0;
  for (const Portrait& portrait : kPortraits) {
    const cv::Mat bgr = ReadBgr(kAssets / portrait.file);
    worst_face = std::min(worst_face, landmarker->Detect(ViewOf(bgr, PixelFormat::kBgr), portrait.box).confidence);
  }
  EXPECT_LT(worst_no_face, 0.2);
  EXPECT_GT(worst_face, 0.7);
}

INSTANTIATE_TEST_SUITE_P(FullAndTiny, LandmarkerVariantTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Tiny" : "Full"; });

TEST(LandmarkerTest, PixelFormatsAndStridesGiveIdenticalLandmarks) {
  const auto landmarker = Landmarker::Create({.flip_check = false});
  const cv::Mat bgr = ReadBgr(kAssets / "astronaut.png");
  const Eigen::AlignedBox2d box = kPortraits[0].box;
  const auto reference = landmarker->Detect(ViewOf(bgr, PixelFormat::kBgr), box);
  // RGBA inside a wider buffer (padded stride), and RGB.
  cv::Mat wide(bgr.rows, bgr.cols + 13, CV_8UC4, cv::Scalar::all(77));
  cv::Mat rgba = wide(cv::Rect(0, 0, bgr.cols, bgr.rows));
  cv::cvtColor(bgr, rgba, cv::COLOR_BGR2RGBA);
  ASSERT_EQ(rgba.data, wide.data);  // Still the padded buffer.
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  for (const ImageView& view : {ViewOf(rgba, PixelFormat::kRgba), ViewOf(rgb, PixelFormat::kRgb)}) {
    const auto other = landmarker->Detect(view, box);
    for (int i = 0; i < kNumLandmarks; ++i) {
      EXPECT_NEAR((other.points[i] - reference.points[i]).norm(), 0.0, 1e-4) << PixelFormatName(view.format);
    }
    EXPECT_NEAR(other.confidence, reference.confidence, 1e-6);
  }
}

TEST(LandmarkerTest, FaceNearTheImageBorderStillLandsOnTheFace) {
  // The astronaut's face cut so that the crop extends past the left and top
  // edges (filled with black, as face-api pads).
  const cv::Mat bgr = ReadBgr(kAssets / "astronaut.png");
  const cv::Mat cut = bgr(cv::Rect(200, 90, 250, 250));  // A strided view, no copy.
  const Eigen::AlignedBox2d box = Box(168 - 200, 62 - 90, 284 - 200, 190 - 90);
  const auto landmarker = Landmarker::Create();
  const auto full = landmarker->Detect(ViewOf(bgr, PixelFormat::kBgr), kPortraits[0].box);
  const auto part = landmarker->Detect(ViewOf(cut, PixelFormat::kBgr), box);
  // Points well inside the visible part move little (the black border changes the input).
  const Eigen::Vector2d shift(200, 90);
  for (int i : {30, 33, 45, 54, 57}) {
    EXPECT_LT((part.points[i] + shift - full.points[i]).norm(), 6.0) << "point " << i;
  }
}

TEST(LandmarkerTest, CropMapsBoxCentreAndScale) {
  const SquareCrop crop = SquareCropAround(Box(100, 50, 200, 250), 1.2);
  EXPECT_EQ(crop.side, 240);
  EXPECT_EQ(crop.x0, 31);  // Left edge 150 - 120 = 30 -> first pixel centre 30.5, rounded up.
  EXPECT_EQ(crop.y0, 31);
  const Eigen::Vector2d p(123.25, 77.5);
  EXPECT_TRUE(crop.ToImage(crop.ToRelative(p)).isApprox(p));
  // Relative (0, 0) is the crop's top-left pixel's outer corner.
  EXPECT_TRUE(crop.ToImage({0, 0}).isApprox(Eigen::Vector2d(crop.x0 - 0.5, crop.y0 - 0.5)));
  EXPECT_THROW(SquareCropAround(Box(0, 0, 10, 10), 0.0), std::invalid_argument);
  EXPECT_THROW(Landmarker::Create({.num_threads = 0}), std::invalid_argument);
  EXPECT_THROW(Landmarker::Create({.crop_scale = -1}), std::invalid_argument);
}

TEST(LandmarkerTest, MeanShapeIsTheIctNeutralFaceSeenFrontally) {
  const MorphableModel& model = testing::TestModel();
  Landmarks68 ict;
  for (int i = 0; i < kNumLandmarks; ++i) {
    const float* v = model.neutral() + 3 * model.landmark_vertices()[i];
    ict[i] = {v[0], -v[1]};
  }
  // Same shape up to position and scale: residual ~ rounding of the table.
  EXPECT_LT(Landmarker::ShapeResidual(ict), 1e-4);
  const auto& mean = Landmarker::MeanShape();
  EXPECT_LT(mean[36].x(), mean[45].x());  // Subject's right eye at image left.
  EXPECT_LT(mean[27].y(), mean[33].y());  // y down.
}

TEST(LandmarkerTest, ShapeResidualIsSimilarityInvariantAndRejectsMirrorAndShuffle) {
  const auto& mean = Landmarker::MeanShape();
  Landmarks68 moved, mirrored_unpermuted, shuffled;
  const Eigen::Rotation2Dd rotation(0.4);
  for (int i = 0; i < kNumLandmarks; ++i) {
    moved[i] = 37.0 * (rotation * mean[i]) + Eigen::Vector2d(300, -20);
    mirrored_unpermuted[i] = {-mean[i].x() * 1.3, mean[i].y() * 1.3};  // A reflection.
    shuffled[i] = mean[(i * 29) % kNumLandmarks];
  }
  EXPECT_LT(Landmarker::ShapeResidual(moved), 1e-9);
  EXPECT_DOUBLE_EQ(Landmarker::ShapeConfidence(moved), 1.0);
  // A reflection with landmark identities kept is not a similarity copy.
  EXPECT_GT(Landmarker::ShapeResidual(mirrored_unpermuted), 0.3);
  EXPECT_GT(Landmarker::ShapeResidual(shuffled), 0.5);
  EXPECT_DOUBLE_EQ(Landmarker::ShapeConfidence(shuffled), 0.0);
  Landmarks68 collapsed;
  collapsed.fill(Eigen::Vector2d(5, 5));
  EXPECT_DOUBLE_EQ(Landmarker::ShapeResidual(collapsed), 1.0);
}

// London face set (third-party, ../shared): frontal photos; a fixed box
// around the face region of these 512x512 portraits.
TEST(LandmarkerTest, LondonFacesGetPlausibleConfidentLandmarks) {
  const auto shared = testing::SharedDir();
  if (shared.empty() || !std::filesystem::is_directory(shared / "data/london/neutral")) {
    GTEST_SKIP() << "../shared/data/london is not available";
  }
  const auto landmarker = Landmarker::Create();
  const Eigen::AlignedBox2d box = Box(165, 165, 355, 385);
  int tested = 0;
  for (const char* id : {"001", "002", "003", "004", "005", "006", "007", "008", "009", "010"}) {
    for (const char* kind : {"neutral/%s_03.jpg", "smiling/%s_08.jpg"}) {
      char name[64];
      std::snprintf(name, sizeof(name), kind, id);
      const auto path = shared / "data/london" / name;
      if (!std::filesystem::exists(path)) continue;
      const cv::Mat bgr = ReadBgr(path);
      Landmarker::Diagnostics diagnostics;
      const auto result = landmarker->Detect(ViewOf(bgr, PixelFormat::kBgr), box, &diagnostics);
      ExpectPlausibleFrontalFace(result.points, box, name);
      EXPECT_GT(result.confidence, 0.5) << name << " residual " << diagnostics.shape_residual
                                        << " flip " << diagnostics.flip_disagreement;
      ++tested;
    }
  }
  EXPECT_GE(tested, 10);
}

}  // namespace
}  // namespace faceanime::face3d

namespace faceanime::face3d {
namespace {

// Expression and identity on London pairs (same person neutral / smiling).
TEST(FaceAnalysisTest, LondonSmilesAreHappierAndSamePersonIsClosest) {
  const auto shared = testing::SharedDir();
  if (shared.empty() || !std::filesystem::is_directory(shared / "data/london/neutral")) {
    GTEST_SKIP() << "../shared/data/london is not available";
  }
  const auto landmarker = Landmarker::Create();
  const auto recognizer = FaceRecognizer::Create();
  const auto classifier = ExpressionClassifier::Create();
  const Eigen::AlignedBox2d rough = Box(165, 165, 355, 385);
  std::vector<FaceRecognizer::Descriptor> neutral, smiling;
  std::vector<double> happy_neutral, happy_smiling;
  for (const char* id : {"001", "002", "003", "004", "005", "006"}) {
    for (const bool smile : {false, true}) {
      const auto path = shared / "data/london" / (smile ? "smiling" : "neutral") /
                        (std::string(id) + (smile ? "_08.jpg" : "_03.jpg"));
      if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is missing";
      const cv::Mat bgr = ReadBgr(path);
      const ImageView view = ViewOf(bgr, PixelFormat::kBgr);
      const auto landmarks = landmarker->Detect(view, rough).points;
      Eigen::AlignedBox2d face;
      for (const auto& p : landmarks) face.extend(p);
      const auto expression = classifier->Classify(view, face);
      (smile ? happy_smiling : happy_neutral).push_back(expression[ExpressionClassifier::kHappy]);
      (smile ? smiling : neutral).push_back(recognizer->Embed(view, landmarks));
    }
  }
  // Some "smiling" photos barely smile (005): compare on the whole.
  int happier = 0;
  double mean_neutral = 0.0, mean_smiling = 0.0;
  for (size_t i = 0; i < happy_neutral.size(); ++i) {
    happier += happy_smiling[i] > happy_neutral[i];
    mean_neutral += happy_neutral[i] / happy_neutral.size();
    mean_smiling += happy_smiling[i] / happy_smiling.size();
  }
  EXPECT_GE(happier, 5);
  EXPECT_GT(mean_smiling, mean_neutral + 0.3);
  for (size_t i = 0; i < neutral.size(); ++i) {
    const double same = FaceRecognizer::Distance(neutral[i], smiling[i]);
    EXPECT_LT(same, 0.6) << "identity " << i;
    for (size_t j = 0; j < smiling.size(); ++j) {
      if (j != i) {
        EXPECT_GT(FaceRecognizer::Distance(neutral[i], smiling[j]), same) << i << " vs " << j;
      }
    }
  }
}

}  // namespace
}  // namespace faceanime::face3d
