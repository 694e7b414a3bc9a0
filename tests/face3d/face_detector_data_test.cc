// Face detection on all 144 London photos in ../shared (every model finds the
// face; BlazeFace and YuNet agree). Slow: 432 detections.
#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "face3d/face_detector.h"
#include "tests/face3d/detector_fixtures.h"
#include "tests/test_support.h"

namespace faceanime::face3d {
namespace {

using testing::DetectorFor;

struct LondonPhoto {
  std::string name;
  cv::Mat bgr;
};

// The 144 London photos (72 neutral, 72 smiling), BGR; empty without ../shared.
const std::vector<LondonPhoto>& LondonPhotos() {
  static const std::vector<LondonPhoto> photos = [] {
    std::vector<LondonPhoto> out;
    const std::filesystem::path shared = faceanime::testing::SharedDir();
    if (shared.empty()) return out;
    for (const char* set : {"neutral", "smiling"}) {
      const auto dir = shared / "data" / "london" / set;
      if (!std::filesystem::is_directory(dir)) continue;
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::directory_iterator(dir)) {
        if (e.path().extension() == ".jpg") files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) {
        out.push_back({std::string(set) + "/" + f.filename().string(), cv::imread(f.string(), cv::IMREAD_COLOR)});
      }
    }
    return out;
  }();
  return photos;
}

// The best-scoring face of every London photo, per model (computed once: the
// per-model test and the agreement test share it).
const std::vector<std::optional<FaceDetection>>& LondonDetections(DetectorModel model) {
  static auto* cache = new std::map<DetectorModel, std::vector<std::optional<FaceDetection>>>();
  auto it = cache->find(model);
  if (it == cache->end()) {
    std::vector<std::optional<FaceDetection>> faces;
    for (const auto& photo : LondonPhotos()) {
      faces.push_back(BestScoringFace(DetectorFor(model).Detect(ViewOf(photo.bgr, PixelFormat::kBgr))));
    }
    it = cache->emplace(model, std::move(faces)).first;
  }
  return it->second;
}

class FaceDetectorDataTest : public ::testing::TestWithParam<DetectorModel> {};

TEST_P(FaceDetectorDataTest, FindsAFaceInEveryLondonPhoto) {
  const auto& photos = LondonPhotos();
  if (photos.empty()) GTEST_SKIP() << "no ../shared/data/london (third-party data mirror)";
  ASSERT_EQ(photos.size(), 144u);
  const auto& detections = LondonDetections(GetParam());
  int found = 0;
  for (size_t i = 0; i < photos.size(); ++i) {
    const LondonPhoto& photo = photos[i];
    ASSERT_FALSE(photo.bgr.empty()) << photo.name;
    const auto& face = detections[i];
    if (!face) {
      ADD_FAILURE() << "no face in " << photo.name;
      continue;
    }
    ++found;
    // One frontal face of about a third of the 512-pixel frame, near the centre.
    const Eigen::Vector2d size = face->box.sizes();
    EXPECT_GT(size.x(), 100) << photo.name;
    EXPECT_LT(size.x(), 300) << photo.name;
    EXPECT_LT((face->box.center() - Eigen::Vector2d(256, 270)).norm(), 80) << photo.name;
    EXPECT_LT(face->keypoints[kRightEye].x(), face->keypoints[kLeftEye].x()) << photo.name;
  }
  EXPECT_EQ(found, 144);
}

INSTANTIATE_TEST_SUITE_P(AllModels, FaceDetectorDataTest, testing::AllDetectorModels(), testing::DetectorTestName);

TEST(FaceDetectorDataTest, BlazeFaceAndYuNetBoxesAgreeOnLondonPhotos) {
  const auto& photos = LondonPhotos();
  if (photos.empty()) GTEST_SKIP() << "no ../shared/data/london (third-party data mirror)";
  double min_iou = 1.0;
  for (size_t i = 0; i < photos.size(); ++i) {
    const LondonPhoto& photo = photos[i];
    const auto& blaze = LondonDetections(DetectorModel::kBlazeFaceFront)[i];
    const auto& yunet = LondonDetections(DetectorModel::kYuNet)[i];
    ASSERT_TRUE(blaze && yunet) << photo.name;
    const double iou = BoxIoU(blaze->box, yunet->box);
    EXPECT_GT(iou, 0.5) << photo.name;
    min_iou = std::min(min_iou, iou);
    // Both models are trained on eye centres: they agree within a tenth of the face.
    EXPECT_LT((blaze->keypoints[kRightEye] - yunet->keypoints[kRightEye]).norm(), 0.1 * blaze->box.sizes().x())
        << photo.name;
    EXPECT_LT((blaze->keypoints[kLeftEye] - yunet->keypoints[kLeftEye]).norm(), 0.1 * blaze->box.sizes().x())
        << photo.name;
  }
  RecordProperty("min_iou", std::to_string(min_iou));
  std::printf("BlazeFace front vs YuNet on %zu London photos: min IoU %.3f\n", photos.size(), min_iou);
}

}  // namespace
}  // namespace faceanime::face3d
