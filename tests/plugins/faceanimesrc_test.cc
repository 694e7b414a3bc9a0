// faceanimesrc through GstHarness: duration x framerate RGB frames of the
// portrait's (crop) size with increasing timestamps, then EOS; the
// animation moves; bad settings are element errors naming the cause.
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <opencv2/core.hpp>

#include "plugins/elements.h"
#include "tests/test_support.h"

namespace {

using ::testing::HasSubstr;

const std::string kPortrait = std::string(FACEANIME_TEST_ASSETS) + "/astronaut.png";

class FaceanimeSrcTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gst_init(nullptr, nullptr);
    faceanime::plugins::RegisterStatic();
  }

  // The message of the first error a pipeline posts ("(no error)" on EOS).
  static std::string ErrorOf(const std::string& description) {
    GstElement* pipeline = gst_parse_launch(description.c_str(), nullptr);
    EXPECT_NE(pipeline, nullptr);
    gst_element_set_state(pipeline, GST_STATE_PLAYING);
    GstBus* bus = gst_element_get_bus(pipeline);
    GstMessage* msg = gst_bus_timed_pop_filtered(bus, 60 * GST_SECOND,
                                                 static_cast<GstMessageType>(GST_MESSAGE_ERROR | GST_MESSAGE_EOS));
    std::string text = "(no error)";
    if (msg != nullptr && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
      GError* error = nullptr;
      gchar* debug = nullptr;
      gst_message_parse_error(msg, &error, &debug);
      text = std::string(error->message) + " | " + (debug ? debug : "");
      g_error_free(error);
      g_free(debug);
    }
    if (msg) gst_message_unref(msg);
    gst_object_unref(bus);
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(pipeline);
    return text;
  }
};

TEST_F(FaceanimeSrcTest, EmitsDurationTimesFramerateFramesWithIncreasingTimestampsThenEos) {
  GstHarness* h = gst_harness_new_parse(
      ("faceanimesrc source=\"" + kPortrait + "\" expression=surprised duration=1.2 crop-size=64").c_str());
  gst_harness_set_sink_caps_str(h, "video/x-raw,format=RGB,framerate=30/1");
  gst_harness_play(h);
  std::vector<GstBuffer*> buffers;
  GstBuffer* buffer = nullptr;
  while (gst_harness_pull_until_eos(h, &buffer) && buffer != nullptr) buffers.push_back(buffer);
  // 1.2 s at 30 fps, then EOS (pull_until_eos returned TRUE with no buffer).
  ASSERT_EQ(buffers.size(), 36u);
  EXPECT_EQ(buffer, nullptr);

  GstCaps* caps = gst_pad_get_current_caps(h->sinkpad);
  GstVideoInfo info;
  ASSERT_TRUE(gst_video_info_from_caps(&info, caps));
  gst_caps_unref(caps);
  EXPECT_EQ(GST_VIDEO_INFO_FORMAT(&info), GST_VIDEO_FORMAT_RGB);
  EXPECT_EQ(GST_VIDEO_INFO_WIDTH(&info), 64);
  EXPECT_EQ(GST_VIDEO_INFO_HEIGHT(&info), 64);
  EXPECT_EQ(GST_VIDEO_INFO_FPS_N(&info), 30);

  for (size_t k = 0; k < buffers.size(); ++k) {
    EXPECT_EQ(GST_BUFFER_PTS(buffers[k]), gst_util_uint64_scale(k, GST_SECOND, 30)) << k;
    EXPECT_EQ(GST_BUFFER_PTS(buffers[k]) + GST_BUFFER_DURATION(buffers[k]),
              gst_util_uint64_scale(k + 1, GST_SECOND, 30))
        << k;
    EXPECT_EQ(gst_buffer_get_size(buffers[k]), GST_VIDEO_INFO_SIZE(&info));
  }
  // The face moves towards the target: the last frame differs from the first.
  auto mat = [&](GstBuffer* b) {
    GstMapInfo map;
    gst_buffer_map(b, &map, GST_MAP_READ);
    cv::Mat m = cv::Mat(64, 64, CV_8UC3, map.data, GST_VIDEO_INFO_PLANE_STRIDE(&info, 0)).clone();
    gst_buffer_unmap(b, &map);
    return m;
  };
  EXPECT_GT(cv::norm(mat(buffers.front()), mat(buffers.back()), cv::NORM_L1) / (64 * 64 * 3), 0.5);
  for (GstBuffer* b : buffers) gst_buffer_unref(b);
  gst_harness_teardown(h);
}

TEST_F(FaceanimeSrcTest, DefaultsToThePredictorsTwentyFiveFps) {
  GstHarness* h = gst_harness_new_parse(("faceanimesrc source=\"" + kPortrait + "\" duration=0.4 crop-size=32").c_str());
  gst_harness_play(h);
  int frames = 0;
  GstBuffer* buffer = nullptr;
  while (gst_harness_pull_until_eos(h, &buffer) && buffer != nullptr) {
    ++frames;
    gst_buffer_unref(buffer);
  }
  EXPECT_EQ(frames, 10);
  GstCaps* caps = gst_pad_get_current_caps(h->sinkpad);
  GstVideoInfo info;
  ASSERT_TRUE(gst_video_info_from_caps(&info, caps));
  gst_caps_unref(caps);
  EXPECT_EQ(GST_VIDEO_INFO_FPS_N(&info), 25);
  EXPECT_EQ(GST_VIDEO_INFO_FPS_D(&info), 1);
  gst_harness_teardown(h);
}

TEST_F(FaceanimeSrcTest, MissingSourceIsAnErrorNamingTheFile) {
  const std::string error = ErrorOf("faceanimesrc source=/nonexistent/portrait.png ! fakesink");
  EXPECT_THAT(error, HasSubstr("portrait.png"));
}

TEST_F(FaceanimeSrcTest, UnknownExpressionIsAnErrorListingThePresets) {
  const std::string error =
      ErrorOf("faceanimesrc source=\"" + kPortrait + "\" expression=grumpy crop-size=32 ! fakesink");
  EXPECT_THAT(error, HasSubstr("grumpy"));
  EXPECT_THAT(error, HasSubstr("surprised"));  // The list of presets.
}

TEST_F(FaceanimeSrcTest, InvalidGeneratorIsAnErrorListingTheValidOnes) {
  const std::string error =
      ErrorOf("faceanimesrc source=\"" + kPortrait + "\" generator=gan crop-size=32 ! fakesink");
  EXPECT_THAT(error, HasSubstr("'gan'"));
  EXPECT_THAT(error, HasSubstr("classical, neural"));
}

}  // namespace
