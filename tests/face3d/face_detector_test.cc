// Face detection on the bundled portraits: hand-picked boxes, tiles,
// blank images, pixel formats and strides, model file errors.
#include "face3d/face_detector.h"
#include "tests/face3d/detector_fixtures.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <utility>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "tests/test_support.h"

namespace faceanime::face3d {
namespace {

using ::testing::HasSubstr;

// A bundled portrait (assets/), BGR.
cv::Mat ReadAsset(const std::string& name) {
  cv::Mat bgr = cv::imread((std::filesystem::path(FACEANIME_TEST_ASSETS) / name).string(), cv::IMREAD_COLOR);
  EXPECT_FALSE(bgr.empty()) << "cannot read assets/" << name;
  return bgr;
}

// One detector per model for the whole binary (loading takes milliseconds,
// but every test would otherwise repeat it).
using testing::DetectorFor;

// Face boxes (hairline or brows to chin, cheek to cheek) picked by eye on a
// 25-pixel grid drawn over each portrait.
struct Portrait {
  const char* file;
  Eigen::AlignedBox2d face;
};
const Portrait kPortraits[] = {
    {"astronaut.png", Eigen::AlignedBox2d(Eigen::Vector2d(180, 75), Eigen::Vector2d(278, 172))},
    {"grace_hopper.jpg", Eigen::AlignedBox2d(Eigen::Vector2d(165, 145), Eigen::Vector2d(362, 332))},
};

class FaceDetectorModelTest : public ::testing::TestWithParam<DetectorModel> {
 protected:
  const FaceDetector& detector() const { return DetectorFor(GetParam()); }
};

TEST_P(FaceDetectorModelTest, FindsOneFaceMatchingTheHandPickedBoxInEachPortrait) {
  for (const Portrait& p : kPortraits) {
    SCOPED_TRACE(p.file);
    const cv::Mat bgr = ReadAsset(p.file);
    const auto faces = detector().Detect(ViewOf(bgr, PixelFormat::kBgr));
    ASSERT_EQ(faces.size(), 1u);
    const FaceDetection& f = faces[0];
    EXPECT_GT(BoxIoU(f.box, p.face), 0.6) << "box " << f.box.min().transpose() << " / "
                                         << f.box.max().transpose();
    EXPECT_GE(f.score, detector().options().score_threshold);
    EXPECT_LE(f.score, 1.0);
    for (const auto& k : f.keypoints) EXPECT_TRUE(p.face.contains(k)) << k.transpose();
    // Subject's right eye is on the image's left; eyes above nose above mouth.
    EXPECT_LT(f.keypoints[kRightEye].x(), f.keypoints[kLeftEye].x());
    EXPECT_LT(f.keypoints[kLeftEye].y(), f.keypoints[kNoseTip].y());
    EXPECT_LT(f.keypoints[kNoseTip].y(), f.keypoints[kMouthCenter].y());
    EXPECT_EQ(f.model_keypoints.size(), GetParam() == DetectorModel::kYuNet ? 5u : 6u);
  }
}

TEST_P(FaceDetectorModelTest, FindsBothFacesWhenTwoPortraitsAreTiledSideBySide) {
  // Head-and-shoulders crops of both portraits, 256x256 each, side by side.
  const cv::Mat astronaut = ReadAsset("astronaut.png")(cv::Rect(100, 0, 256, 256));
  cv::Mat hopper;
  cv::resize(ReadAsset("grace_hopper.jpg")(cv::Rect(100, 60, 330, 330)), hopper, {256, 256});
  cv::Mat tiled;
  cv::hconcat(astronaut, hopper, tiled);
  const auto faces = detector().Detect(ViewOf(tiled, PixelFormat::kBgr));
  ASSERT_EQ(faces.size(), 2u);
  const bool first_left = faces[0].box.center().x() < 256;
  const auto& left = faces[first_left ? 0 : 1];
  const auto& right = faces[first_left ? 1 : 0];
  EXPECT_LT(left.box.max().x(), 256 + 10);
  EXPECT_GT(right.box.min().x(), 256 - 10);
  // The astronaut's face in crop coordinates (hand-picked box shifted).
  EXPECT_GT(BoxIoU(left.box, Eigen::AlignedBox2d(Eigen::Vector2d(80, 75), Eigen::Vector2d(178, 172))), 0.5);
  EXPECT_GE(faces[0].score, faces[1].score);  // Highest score first.
}

TEST_P(FaceDetectorModelTest, FindsNoFaceInBlankOrNoiseImages) {
  for (int value : {0, 128, 255}) {
    const cv::Mat blank(480, 640, CV_8UC3, cv::Scalar::all(value));
    EXPECT_TRUE(detector().Detect(ViewOf(blank, PixelFormat::kBgr)).empty()) << value;
  }
  cv::Mat noise(480, 640, CV_8UC3);
  cv::randu(noise, 0, 256);
  EXPECT_TRUE(detector().Detect(ViewOf(noise, PixelFormat::kBgr)).empty());
  EXPECT_TRUE(detector().Detect(ImageView{}).empty());
}

TEST_P(FaceDetectorModelTest, GivesTheSameFaceForEveryPixelFormatAndStride) {
  const cv::Mat bgr = ReadAsset("grace_hopper.jpg");
  const auto reference = detector().Detect(ViewOf(bgr, PixelFormat::kBgr));
  ASSERT_EQ(reference.size(), 1u);
  cv::Mat rgb, rgba, bgra, gray;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  cv::cvtColor(bgr, rgba, cv::COLOR_BGR2RGBA);
  cv::cvtColor(bgr, bgra, cv::COLOR_BGR2BGRA);
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  // A strided view: the image inside a wider buffer (row padding of 100 pixels).
  cv::Mat wide(bgr.rows, bgr.cols + 100, CV_8UC3, cv::Scalar(0, 0, 255));
  bgr.copyTo(wide(cv::Rect(0, 0, bgr.cols, bgr.rows)));
  const cv::Mat strided = wide(cv::Rect(0, 0, bgr.cols, bgr.rows));
  ASSERT_FALSE(strided.isContinuous());

  struct Case {
    const char* name;
    ImageView view;
    double tolerance_px;
  };
  const Case cases[] = {
      {"RGB", ViewOf(rgb, PixelFormat::kRgb), 1e-3},
      {"RGBA", ViewOf(rgba, PixelFormat::kRgba), 1e-3},
      {"BGRA", ViewOf(bgra, PixelFormat::kBgra), 1e-3},
      {"strided BGR", ViewOf(strided, PixelFormat::kBgr), 1e-3},
      {"GRAY8", ViewOf(gray, PixelFormat::kGray), 6.0},  // Different input.
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const auto faces = detector().Detect(c.view);
    ASSERT_EQ(faces.size(), 1u);
    EXPECT_LT((faces[0].box.min() - reference[0].box.min()).norm(), c.tolerance_px);
    EXPECT_LT((faces[0].box.max() - reference[0].box.max()).norm(), c.tolerance_px);
  }
}

TEST_P(FaceDetectorModelTest, MapsBoxesBackToTheImageOfAnySizeAndAspectRatio) {
  const cv::Mat full = ReadAsset("astronaut.png");
  const auto reference = detector().Detect(ViewOf(full, PixelFormat::kBgr));
  ASSERT_EQ(reference.size(), 1u);
  // Each variant puts the same pixels at the same place of the network input
  // (centred crops that keep the 512-pixel long side; a half-size copy), so
  // only the letterbox mapping (and the padding and resampling around the
  // face) differs. Results must map back onto the reference to within 1.5
  // network pixels (6 image pixels at 128) or 6% of the face width (YuNet's
  // output moves a few pixels when the black padding changes); a mapping bug
  // (padding, scale) would be off by tens of pixels.
  const double tolerance =
      std::max(1.5 * 512.0 / detector().input_size(), 0.06 * reference[0].box.sizes().x());
  struct Variant {
    const char* name;
    cv::Mat image;
    Eigen::Vector2d offset;  // Variant pixel (0, 0) in full-image pixels.
    double scale;            // Variant pixels per full-image pixel.
  };
  cv::Mat half;
  cv::resize(full, half, {256, 256}, 0, 0, cv::INTER_AREA);
  const Variant variants[] = {
      {"wide crop 512x472", full(cv::Rect(0, 20, 512, 472)), {0, 20}, 1.0},
      {"tall crop 392x512", full(cv::Rect(60, 0, 392, 512)), {60, 0}, 1.0},
      {"half size 256x256", half, {0, 0}, 0.5},
  };
  // Variant pixel-centre coordinates -> full-image pixel-centre coordinates.
  const auto to_full = [](const Variant& v, const Eigen::Vector2d& p) -> Eigen::Vector2d {
    return (p + Eigen::Vector2d::Constant(0.5)) / v.scale - Eigen::Vector2d::Constant(0.5) + v.offset;
  };
  for (const Variant& v : variants) {
    SCOPED_TRACE(v.name);
    const auto faces = detector().Detect(ViewOf(v.image, PixelFormat::kBgr));
    ASSERT_EQ(faces.size(), 1u);
    EXPECT_LT((to_full(v, faces[0].box.min()) - reference[0].box.min()).norm(), tolerance);
    EXPECT_LT((to_full(v, faces[0].box.max()) - reference[0].box.max()).norm(), tolerance);
    for (int k = 0; k < kNumFaceKeypoints; ++k) {
      EXPECT_LT((to_full(v, faces[0].keypoints[k]) - reference[0].keypoints[k]).norm(), tolerance) << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllModels, FaceDetectorModelTest, testing::AllDetectorModels(), testing::DetectorTestName);

TEST(FaceDetectorTest, LongRangeModelsFindBothFacesInFullPortraitsSideBySide) {
  // The faces fill only about a tenth of a 1024-pixel-wide frame: below the
  // front model's range, within the back model's and YuNet's.
  const cv::Mat astronaut = ReadAsset("astronaut.png");
  const cv::Mat hopper = ReadAsset("grace_hopper.jpg");
  cv::Mat tiled(hopper.rows, astronaut.cols + hopper.cols, CV_8UC3, cv::Scalar::all(0));
  astronaut.copyTo(tiled(cv::Rect(0, 0, astronaut.cols, astronaut.rows)));
  hopper.copyTo(tiled(cv::Rect(astronaut.cols, 0, hopper.cols, hopper.rows)));
  for (DetectorModel model : {DetectorModel::kBlazeFaceBack, DetectorModel::kYuNet}) {
    SCOPED_TRACE(std::string(DetectorModelName(model)));
    const auto faces = DetectorFor(model).Detect(ViewOf(tiled, PixelFormat::kBgr));
    ASSERT_EQ(faces.size(), 2u);
    const auto largest = LargestFace(faces);
    EXPECT_GT(largest->box.center().x(), astronaut.cols);  // Grace Hopper's face is larger.
  }
}

TEST(FaceDetectorTest, MissingModelFileThrowsNamingTheFileAndTheFix) {
  FaceDetectorOptions options;
  options.model_path = faceanime::testing::TempDir() / "no_such_blazeface.onnx";
  try {
    FaceDetector::Create(options);
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("no_such_blazeface.onnx"));
    EXPECT_THAT(e.what(), HasSubstr("missing"));
    EXPECT_THAT(e.what(), HasSubstr("tools/setup"));
  }
}

TEST(FaceDetectorTest, CorruptModelFileThrowsNamingTheFileAndTheFix) {
  const auto path = faceanime::testing::TempDir() / "corrupt_yunet.onnx";
  std::ofstream(path) << "this is not a protobuf";
  FaceDetectorOptions options;
  options.model = DetectorModel::kYuNet;
  options.model_path = path;
  try {
    FaceDetector::Create(options);
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("corrupt_yunet.onnx"));
    EXPECT_THAT(e.what(), HasSubstr("tools/setup"));
  }
}

TEST(FaceDetectorTest, RejectsAModelFileOfAnotherNetwork) {
  FaceDetectorOptions blazeface;
  FaceDetectorOptions yunet;
  yunet.model = DetectorModel::kYuNet;
  for (auto [options, other] : {std::pair(blazeface, yunet), std::pair(yunet, blazeface)}) {
    options.model_path = FaceDetector::DefaultModelPath(other);
    try {
      FaceDetector::Create(options);
      ADD_FAILURE() << "expected an exception for " << options.model_path;
    } catch (const std::runtime_error& e) {
      EXPECT_THAT(e.what(), HasSubstr(options.model_path.filename().string()));
      EXPECT_THAT(e.what(), HasSubstr("tools/setup"));
    }
  }
}

TEST(FaceDetectorTest, YuNetAt320FindsThePortraitFace) {
  FaceDetectorOptions options320;
  options320.model = DetectorModel::kYuNet;
  options320.yunet_input_size = 320;
  EXPECT_EQ(FaceDetector::DefaultModelPath(options320).filename(), "yunet_n_320_320.onnx");
  const FaceDetector small = FaceDetector::Create(options320);
  EXPECT_EQ(small.input_size(), 320);
  EXPECT_EQ(small.Detect(ViewOf(ReadAsset("astronaut.png"), PixelFormat::kBgr)).size(), 1u);
}

TEST(FaceDetectorTest, RejectsInvalidOptions) {
  const auto with = [](auto change) {
    FaceDetectorOptions o;
    change(o);
    return o;
  };
  EXPECT_THROW(FaceDetector::Create(with([](auto& o) { o.score_threshold = 0.0; })), std::invalid_argument);
  EXPECT_THROW(FaceDetector::Create(with([](auto& o) { o.score_threshold = 1.0; })), std::invalid_argument);
  EXPECT_THROW(FaceDetector::Create(with([](auto& o) { o.nms_iou_threshold = 0.0; })), std::invalid_argument);
  EXPECT_THROW(FaceDetector::Create(with([](auto& o) { o.max_faces = 0; })), std::invalid_argument);
  EXPECT_THROW(FaceDetector::Create(with([](auto& o) { o.num_threads = -1; })), std::invalid_argument);
  EXPECT_THROW(FaceDetector::Create(with([](auto& o) {
                 o.model = DetectorModel::kYuNet;
                 o.yunet_input_size = 480;
               })),
               std::invalid_argument);
}

TEST(FaceDetectorTest, MaxFacesLimitsTheResult) {
  const cv::Mat astronaut = ReadAsset("astronaut.png")(cv::Rect(100, 0, 256, 256));
  cv::Mat tiled;
  cv::hconcat(astronaut, astronaut, tiled);
  FaceDetectorOptions options;
  options.max_faces = 1;
  const auto faces = FaceDetector::Create(options).Detect(ViewOf(tiled, PixelFormat::kBgr));
  EXPECT_EQ(faces.size(), 1u);
  EXPECT_EQ(DetectorFor(DetectorModel::kBlazeFaceFront).Detect(ViewOf(tiled, PixelFormat::kBgr)).size(), 2u);
}

TEST(FaceDetectorTest, PickHelpersChooseLargestBestOrIndexedFace) {
  FaceDetection small, large;
  small.box = Eigen::AlignedBox2d(Eigen::Vector2d(0, 0), Eigen::Vector2d(10, 10));
  small.score = 0.9;
  large.box = Eigen::AlignedBox2d(Eigen::Vector2d(20, 20), Eigen::Vector2d(60, 60));
  large.score = 0.6;
  const std::vector<FaceDetection> faces = {small, large};
  EXPECT_EQ(LargestFace(faces)->box.min(), large.box.min());
  EXPECT_EQ(BestScoringFace(faces)->box.min(), small.box.min());
  EXPECT_EQ(FaceAt(faces, 1)->box.min(), large.box.min());
  EXPECT_FALSE(FaceAt(faces, 2).has_value());
  EXPECT_FALSE(FaceAt(faces, -1).has_value());
  EXPECT_FALSE(LargestFace({}).has_value());
  EXPECT_FALSE(BestScoringFace({}).has_value());
  EXPECT_NEAR(BoxIoU(small.box, Eigen::AlignedBox2d(Eigen::Vector2d(5, 0), Eigen::Vector2d(15, 10))), 50.0 / 150.0,
              1e-12);
}

}  // namespace
}  // namespace faceanime::face3d
