// `faceanime predict` (RunPredict): a preset target becomes an MP4 with
// seconds x fps frames of the crop size; a target photo without a face is a
// clear error naming it.
#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "pipeline/frame_source.h"
#include "pipeline/prediction.h"
#include "tests/test_support.h"
#include "tools/cli/gst_jobs.h"
#include "tools/cli/predict_command.h"

namespace faceanime::cli {
namespace {

namespace fs = std::filesystem;

TEST(PredictCommandTest, ExpressionTargetWritesAnMp4WithSecondsTimesFpsFrames) {
  PredictArgs args;
  args.source = (fs::path(FACEANIME_TEST_ASSETS) / "astronaut.png").string();
  args.expression = "surprised";
  args.seconds = 1.2;
  args.fps = 25;
  args.crop = 96;
  args.quiet = true;
  args.output = (testing::TempDir() / "predicted.mp4").string();
  EXPECT_EQ(RunPredict(args), 0);

  const MediaInfo info = ProbeMedia(args.output);
  EXPECT_TRUE(info.has_video);
  EXPECT_EQ(info.width, 96);
  EXPECT_EQ(info.height, 96);
  EXPECT_NEAR(info.fps, 25.0, 0.01);
  auto source = pipeline::FrameSource::Open(args.output);
  int frames = 0;
  while (source->Next()) ++frames;
  EXPECT_EQ(frames, 30);
}

TEST(PredictCommandTest, TargetPhotoWithoutAFaceIsAClearError) {
  const fs::path blank = testing::TempDir() / "empty_wall.png";
  ASSERT_TRUE(cv::imwrite(blank.string(), cv::Mat(100, 100, CV_8UC3, cv::Scalar(200, 200, 200))));
  PredictArgs args;
  args.source = (fs::path(FACEANIME_TEST_ASSETS) / "astronaut.png").string();
  args.target = blank.string();
  args.crop = 64;
  args.quiet = true;
  args.output = (testing::TempDir() / "never.mp4").string();
  try {
    RunPredict(args);
    FAIL() << "no error";
  } catch (const pipeline::TargetError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("empty_wall.png"));
  }
  EXPECT_FALSE(fs::exists(args.output));
}

}  // namespace
}  // namespace faceanime::cli
