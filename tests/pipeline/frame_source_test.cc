// Decoding inputs: stills, video files with timestamps, and clear errors for
// missing or corrupt inputs.
#include "pipeline/frame_source.h"

#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "tests/test_support.h"

namespace faceanime::pipeline {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

TEST(FrameSourceTest, StillImageIsOneFrameAtTimeZero) {
  const fs::path path = fs::path(FACEANIME_TEST_ASSETS) / "astronaut.png";
  auto source = FrameSource::Open(path);
  EXPECT_TRUE(source->is_still());
  EXPECT_EQ(source->size(), cv::Size(512, 512));
  auto frame = source->Next();
  ASSERT_TRUE(frame.has_value());
  EXPECT_EQ(frame->pts_ns, 0);
  EXPECT_EQ(frame->bgr.type(), CV_8UC3);
  EXPECT_FALSE(source->Next().has_value());
}

TEST(FrameSourceTest, VideoFramesCarryContainerTimestamps) {
  // A small MJPEG AVI written here, 10 frames at 20 fps.
  const fs::path path = testing::TempDir() / "clip.avi";
  {
    cv::VideoWriter writer(path.string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 20.0, {64, 48});
    ASSERT_TRUE(writer.isOpened());
    for (int i = 0; i < 10; ++i) writer.write(cv::Mat(48, 64, CV_8UC3, cv::Scalar(i * 20, 0, 0)));
  }
  auto source = FrameSource::Open(path);
  EXPECT_FALSE(source->is_still());
  EXPECT_EQ(source->frame_count(), 10);
  EXPECT_NEAR(source->fps(), 20.0, 1e-6);
  int n = 0;
  int64_t last = -1;
  while (auto frame = source->Next()) {
    EXPECT_EQ(frame->index, n);
    EXPECT_NEAR(static_cast<double>(frame->pts_ns), n * 50e6, 1e6);
    EXPECT_GT(frame->pts_ns, last);
    last = frame->pts_ns;
    ++n;
  }
  EXPECT_EQ(n, 10);
}

TEST(FrameSourceTest, GridClipDecodesAllFrames) {
  const fs::path shared = testing::SharedDir();
  if (shared.empty()) GTEST_SKIP() << "../shared is absent: GRID clips unavailable";
  auto source = FrameSource::Open(shared / "data/grid/s1/bbaf2n.mpg");
  EXPECT_EQ(source->size(), cv::Size(360, 288));
  int n = 0;
  int64_t last = 0;
  while (auto frame = source->Next()) {
    last = frame->pts_ns;
    ++n;
  }
  EXPECT_EQ(n, 75);
  EXPECT_NEAR(static_cast<double>(last), 74 * 40e6, 1e6);  // 25 fps.
}

TEST(FrameSourceTest, MissingInputNamesThePath) {
  try {
    FrameSource::Open("/nonexistent/driver.mp4");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("/nonexistent/driver.mp4"));
    EXPECT_THAT(e.what(), HasSubstr("does not exist"));
  }
}

TEST(FrameSourceTest, CorruptInputIsAnErrorNotACrash) {
  const fs::path video = testing::TempDir() / "garbage.mp4";
  std::ofstream(video) << std::string(4096, 'z');
  EXPECT_THROW(FrameSource::Open(video), InputError);
  const fs::path image = testing::TempDir() / "garbage.png";
  std::ofstream(image) << "not a png";
  try {
    FrameSource::Open(image);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("garbage.png"));
  }
}

}  // namespace
}  // namespace faceanime::pipeline
