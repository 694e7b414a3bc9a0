// Face detection in every frame of three GRID clips in ../shared (speaker s1,
// 360x288, 75 frames each), decoded with cv::VideoCapture. Slow: 675
// detections.
#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/videoio.hpp>

#include "face3d/face_detector.h"
#include "tests/face3d/detector_fixtures.h"
#include "tests/test_support.h"

namespace faceanime::face3d {
namespace {

std::vector<std::filesystem::path> GridClips(int count) {
  std::vector<std::filesystem::path> clips;
  const auto shared = faceanime::testing::SharedDir();
  if (shared.empty() || !std::filesystem::is_directory(shared / "data/grid/s1")) return clips;
  for (const auto& e : std::filesystem::directory_iterator(shared / "data/grid/s1")) {
    if (e.path().extension() == ".mpg") clips.push_back(e.path());
  }
  std::sort(clips.begin(), clips.end());
  if (static_cast<int>(clips.size()) > count) clips.resize(count);
  return clips;
}

class GridVideoTest : public ::testing::TestWithParam<DetectorModel> {};

TEST_P(GridVideoTest, FindsTheSpeakersFaceInEveryFrameOfThreeGridClips) {
  const auto clips = GridClips(3);
  if (clips.empty()) GTEST_SKIP() << "no ../shared/data/grid/s1 (third-party data mirror)";
  // GRID frames are 360x288: YuNet runs at its 320 input (about the frame's
  // own resolution; 640 would upsample and cost four times as much).
  FaceDetectorOptions options;
  options.model = GetParam();
  options.yunet_input_size = 320;
  const FaceDetector detector = FaceDetector::Create(options);
  for (const auto& clip : clips) {
    SCOPED_TRACE(clip.filename().string());
    cv::VideoCapture capture(clip.string());
    ASSERT_TRUE(capture.isOpened());
    cv::Mat frame;
    int frames = 0, found = 0;
    std::optional<Eigen::AlignedBox2d> previous;
    while (capture.read(frame)) {
      ++frames;
      ASSERT_EQ(frame.cols, 360);
      ASSERT_EQ(frame.rows, 288);
      const auto face = LargestFace(detector.Detect(ViewOf(frame, PixelFormat::kBgr)));
      if (!face) {
        ADD_FAILURE() << "no face in frame " << frames - 1;
        continue;
      }
      ++found;
      // One seated speaker: a face of 60-200 px that barely moves between frames.
      EXPECT_GT(face->box.sizes().x(), 60);
      EXPECT_LT(face->box.sizes().x(), 200);
      if (previous) {
        EXPECT_GT(BoxIoU(*previous, face->box), 0.7) << "frame " << frames - 1;
      }
      previous = face->box;
    }
    EXPECT_EQ(frames, 75);
    EXPECT_EQ(found, frames);
  }
}

INSTANTIATE_TEST_SUITE_P(AllModels, GridVideoTest, testing::AllDetectorModels(), testing::DetectorTestName);

}  // namespace
}  // namespace faceanime::face3d
