// End to end: a GRID clip -> the retarget job (decodebin -> facefit ->
// faceretarget -> x264/AAC -> MP4) -> an MP4 that decodes with the driver's
// frame count and duration, and carries an audio stream (or not, on request).
#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pipeline/frame_source.h"
#include "tests/test_support.h"
#include "tools/cli/gst_jobs.h"

namespace faceanime::cli {
namespace {

namespace fs = std::filesystem;

int DecodedFrames(const fs::path& path) {
  auto source = pipeline::FrameSource::Open(path);
  int n = 0;
  while (source->Next()) ++n;
  return n;
}

class RetargetEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    shared_ = testing::SharedDir();
    if (shared_.empty()) GTEST_SKIP() << "../shared is absent: no GRID clip to drive with";
    driver_ = shared_ / "data/grid/s1/bbaf2n.mpg";
  }
  fs::path shared_, driver_;
};

TEST_F(RetargetEndToEndTest, GridClipBecomesAnMp4WithTheDriversFramesDurationAndAudio) {
  const MediaInfo in = ProbeMedia(driver_);
  ASSERT_TRUE(in.has_audio);
  RetargetJob job;
  job.source = fs::path(FACEANIME_TEST_ASSETS) / "grace_hopper.jpg";
  job.driving = driver_.string();
  job.output = testing::TempDir() / "out.mp4";
  job.crop_size = 128;  // Keeps the test quick; the full size is exercised by the demo.
  job.quiet = true;
  const RetargetReport report = RunRetarget(job);
  EXPECT_EQ(report.frames, 75);
  EXPECT_TRUE(report.audio_muxed);

  const MediaInfo out = ProbeMedia(job.output);
  EXPECT_TRUE(out.has_video);
  EXPECT_TRUE(out.has_audio);
  EXPECT_EQ(out.width, 128);
  EXPECT_EQ(out.height, 128);
  EXPECT_NEAR(out.fps, 25.0, 0.01);
  // 75 frames at 25 fps = 3.0 s of video. (The discoverer's duration for the
  // MPEG-PS input is only an estimate, so compare with the frame count.) The
  // MP4's duration is that of its longer stream, audio included.
  const double video_s = 75 / 25.0;
  EXPECT_GE(out.duration_ns * 1e-9, video_s - 0.05);
  EXPECT_LE(out.duration_ns * 1e-9, video_s + 0.5);
  EXPECT_EQ(DecodedFrames(job.output), 75);
}

TEST_F(RetargetEndToEndTest, NoAudioOptionDropsTheAudio) {
  RetargetJob job;
  job.source = fs::path(FACEANIME_TEST_ASSETS) / "astronaut.png";
  job.driving = driver_.string();
  job.output = testing::TempDir() / "silent.mkv";
  job.audio = false;
  job.crop_size = 96;
  job.quiet = true;
  EXPECT_FALSE(RunRetarget(job).audio_muxed);
  const MediaInfo out = ProbeMedia(job.output);
  EXPECT_TRUE(out.has_video);
  EXPECT_FALSE(out.has_audio);
}

TEST(RetargetJobTest, UnreadableDriverIsAClearError) {
  RetargetJob job;
  job.source = fs::path(FACEANIME_TEST_ASSETS) / "astronaut.png";
  job.driving = (testing::TempDir() / "missing.mp4").string();
  job.output = testing::TempDir() / "never.mp4";
  try {
    RunRetarget(job);
    FAIL();
  } catch (const JobError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("missing.mp4"));
  }
}

}  // namespace
}  // namespace faceanime::cli
