// faceretarget and the faceanime bin through GstHarness: output caps follow
// the portrait, timestamps pass through, frames without a face still render,
// motion properties act mid-stream, and bad set-ups fail with clear errors.
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "face3d/face_params.h"
#include "pipeline/retargeter.h"
#include "plugins/elements.h"
#include "plugins/face_meta.h"
#include "tests/plugins/harness_util.h"
#include "tests/test_support.h"

namespace {

using ::testing::HasSubstr;

const std::string kPortrait = std::string(FACEANIME_TEST_ASSETS) + "/astronaut.png";

class FaceRetargetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gst_init(nullptr, nullptr);
    faceanime::plugins::RegisterStatic();
  }

  // A small driver frame carrying a face meta with the given head yaw
  // (degrees) and jawOpen, or has_face = FALSE when `face` is false.
  static GstBuffer* DriverBuffer(GstClockTime pts, bool face, double yaw = 0, double jaw = 0) {
    GstBuffer* buffer = gst_buffer_new_allocate(nullptr, 64 * 48 * 3, nullptr);
    gst_buffer_memset(buffer, 0, 90, 64 * 48 * 3);
    GST_BUFFER_PTS(buffer) = pts;
    GST_BUFFER_DURATION(buffer) = 40 * GST_MSECOND;
    GstFaceMeta* meta = gst_buffer_add_face_meta(buffer);
    meta->has_face = face;
    if (face) {
      const Eigen::Vector3d r = faceanime::face3d::RotationFromEuler({yaw, 0, 0});
      for (int k = 0; k < 3; ++k) meta->rotation[k] = r[k];
      meta->translation[2] = 60;
      meta->expression[26] = jaw;  // jawOpen.
      meta->confidence = 0.9;
    }
    return buffer;
  }

  static GstHarness* Harness(const std::string& extra = "") {
    GstHarness* h = gst_harness_new_parse(("faceretarget source=\"" + kPortrait + "\" " + extra).c_str());
    gst_harness_set_src_caps_str(h, "video/x-raw,format=RGB,width=64,height=48,framerate=25/1");
    gst_harness_set_sink_caps_str(h, "video/x-raw,format=RGB");
    return h;
  }

  static cv::Mat ToMat(GstBuffer* buffer, int w, int h) {
    GstMapInfo map;
    gst_buffer_map(buffer, &map, GST_MAP_READ);
    cv::Mat m = cv::Mat(h, w, CV_8UC3, map.data).clone();
    gst_buffer_unmap(buffer, &map);
    return m;
  }

  static double MeanDiff(const cv::Mat& a, const cv::Mat& b) { return cv::norm(a, b, cv::NORM_L1) / a.total() / 3; }

  static std::string ErrorOf(const std::string& description) {
    GstElement* pipeline = gst_parse_launch(description.c_str(), nullptr);
    EXPECT_NE(pipeline, nullptr);
    gst_element_set_state(pipeline, GST_STATE_PLAYING);
    GstBus* bus = gst_element_get_bus(pipeline);
    GstMessage* msg = gst_bus_timed_pop_filtered(bus, 20 * GST_SECOND,
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

TEST_F(FaceRetargetTest, OutputHasThePortraitsSizeAndTheDriversTimestamps) {
  GstHarness* h = Harness();
  GstBuffer* out = gst_harness_push_and_pull(h, DriverBuffer(120 * GST_MSECOND, true));
  ASSERT_NE(out, nullptr);
  GstCaps* caps = gst_pad_get_current_caps(h->sinkpad);
  GstVideoInfo info;
  ASSERT_TRUE(gst_video_info_from_caps(&info, caps));
  EXPECT_EQ(GST_VIDEO_INFO_WIDTH(&info), 512);
  EXPECT_EQ(GST_VIDEO_INFO_HEIGHT(&info), 512);
  EXPECT_EQ(GST_BUFFER_PTS(out), 120 * GST_MSECOND);
  EXPECT_EQ(GST_BUFFER_DURATION(out), 40 * GST_MSECOND);
  // The first driver face is the reference: the portrait comes out as it is.
  cv::Mat portrait = cv::imread(kPortrait, cv::IMREAD_COLOR);
  cv::cvtColor(portrait, portrait, cv::COLOR_BGR2RGB);
  EXPECT_LT(MeanDiff(ToMat(out, 512, 512), portrait), 1.0);
  gst_caps_unref(caps);
  gst_buffer_unref(out);
  gst_harness_teardown(h);
}

TEST_F(FaceRetargetTest, CropSizeGivesASquareOutput) {
  GstHarness* h = Harness("crop-size=128");
  GstBuffer* out = gst_harness_push_and_pull(h, DriverBuffer(0, true));
  ASSERT_NE(out, nullptr);
  GstCaps* caps = gst_pad_get_current_caps(h->sinkpad);
  GstVideoInfo info;
  ASSERT_TRUE(gst_video_info_from_caps(&info, caps));
  EXPECT_EQ(GST_VIDEO_INFO_WIDTH(&info), 128);
  EXPECT_EQ(GST_VIDEO_INFO_HEIGHT(&info), 128);
  gst_caps_unref(caps);
  gst_buffer_unref(out);
  gst_harness_teardown(h);
}

TEST_F(FaceRetargetTest, MotionFollowsTheDriverAndPropertiesActMidStream) {
  GstHarness* h = Harness();
  GstBuffer* rest = gst_harness_push_and_pull(h, DriverBuffer(0, true, 0, 0));
  const cv::Mat rest_img = ToMat(rest, 512, 512);
  gst_buffer_unref(rest);
  // The driver turns and opens the mouth: the portrait changes.
  GstBuffer* moved = gst_harness_push_and_pull(h, DriverBuffer(40 * GST_MSECOND, true, 15, 0.6));
  const cv::Mat moved_img = ToMat(moved, 512, 512);
  gst_buffer_unref(moved);
  EXPECT_GT(MeanDiff(moved_img, rest_img), 2.0);
  // Switch every transfer off while playing: the same driver face now leaves
  // the portrait at rest.
  GstElement* retarget = gst_harness_find_element(h, "faceretarget");
  ASSERT_NE(retarget, nullptr);
  g_object_set(retarget, "transfer-pose", FALSE, "transfer-expression", FALSE, "transfer-gaze", FALSE, nullptr);
  gst_object_unref(retarget);
  GstBuffer* off = gst_harness_push_and_pull(h, DriverBuffer(80 * GST_MSECOND, true, 15, 0.6));
  EXPECT_LT(MeanDiff(ToMat(off, 512, 512), rest_img), 0.5);
  gst_buffer_unref(off);
  gst_harness_teardown(h);
}

TEST_F(FaceRetargetTest, ExpressionPresetAppliesAndClearsWhilePlaying) {
  GstHarness* h = Harness();
  GstBuffer* rest = gst_harness_push_and_pull(h, DriverBuffer(0, true));
  const cv::Mat rest_img = ToMat(rest, 512, 512);
  gst_buffer_unref(rest);
  GstElement* retarget = gst_harness_find_element(h, "faceretarget");
  ASSERT_NE(retarget, nullptr);
  gst_util_set_object_arg(G_OBJECT(retarget), "expression-mode", "replace");
  g_object_set(retarget, "expression", "surprised", nullptr);
  GstBuffer* edited = gst_harness_push_and_pull(h, DriverBuffer(40 * GST_MSECOND, true));
  EXPECT_GT(MeanDiff(ToMat(edited, 512, 512), rest_img), 1.0);  // Her smile goes, the mouth opens.
  gst_buffer_unref(edited);
  g_object_set(retarget, "expression", "", nullptr);
  GstBuffer* cleared = gst_harness_push_and_pull(h, DriverBuffer(80 * GST_MSECOND, true));
  EXPECT_LT(MeanDiff(ToMat(cleared, 512, 512), rest_img), 0.5);
  gst_buffer_unref(cleared);
  gst_object_unref(retarget);
  gst_harness_teardown(h);
}

TEST_F(FaceRetargetTest, InvalidActionUnitIsAnErrorListingTheValidOnes) {
  const std::string error = ErrorOf("videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width=64,height=48 ! "
                                    "facefit ! faceretarget source=\"" + kPortrait + "\" au=AU99=0.5 ! fakesink");
  EXPECT_THAT(error, HasSubstr("AU99"));
  EXPECT_THAT(error, HasSubstr("AU12"));  // The list of valid action units.
}

TEST_F(FaceRetargetTest, FramesWithoutAFaceStillRenderAndHoldTheLastMotion) {
  GstHarness* h = Harness();
  gst_buffer_unref(gst_harness_push_and_pull(h, DriverBuffer(0, true, 0, 0)));
  GstBuffer* moved = gst_harness_push_and_pull(h, DriverBuffer(40 * GST_MSECOND, true, 0, 0.6));
  const cv::Mat moved_img = ToMat(moved, 512, 512);
  gst_buffer_unref(moved);
  // Lost for one frame (within the hold time): the motion is held.
  GstBuffer* held = gst_harness_push_and_pull(h, DriverBuffer(80 * GST_MSECOND, false));
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(GST_BUFFER_PTS(held), 80 * GST_MSECOND);
  EXPECT_LT(MeanDiff(ToMat(held, 512, 512), moved_img), 0.2);
  gst_buffer_unref(held);
  gst_harness_teardown(h);
}

TEST_F(FaceRetargetTest, SurvivesFlushAndForwardsEos) {
  GstHarness* h = Harness();
  gst_buffer_unref(gst_harness_push_and_pull(h, DriverBuffer(0, true)));
  faceanime::testing::FlushAndRestart(h, "video/x-raw,format=RGB,width=64,height=48,framerate=25/1");
  GstBuffer* out = gst_harness_push_and_pull(h, DriverBuffer(0, true, 10, 0.2));
  ASSERT_NE(out, nullptr);
  gst_buffer_unref(out);
  EXPECT_TRUE(faceanime::testing::PushEosAndSeeItDownstream(h));
  gst_harness_teardown(h);
}

TEST_F(FaceRetargetTest, BinAnimatesThePortraitFromRawVideo) {
  // faceanime = facefit ! faceretarget: a raw portrait video drives itself.
  GstHarness* h = gst_harness_new_parse(("faceanime source=\"" + kPortrait + "\" crop-size=96").c_str());
  gst_harness_set_src_caps_str(h, "video/x-raw,format=BGR,width=512,height=512,framerate=25/1");
  gst_harness_set_sink_caps_str(h, "video/x-raw,format=RGB");
  const cv::Mat bgr = cv::imread(kPortrait, cv::IMREAD_COLOR);
  GstBuffer* in = gst_buffer_new_allocate(nullptr, bgr.total() * 3, nullptr);
  gst_buffer_fill(in, 0, bgr.data, bgr.total() * 3);
  GST_BUFFER_PTS(in) = 0;
  GstBuffer* out = gst_harness_push_and_pull(h, in);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(gst_buffer_get_size(out), 96u * 96 * 3);
  gst_buffer_unref(out);
  gst_harness_teardown(h);
}

TEST_F(FaceRetargetTest, MissingFaceMetaIsAnErrorThatNamesFacefit) {
  const std::string error = ErrorOf("videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width=64,height=48 ! "
                                    "faceretarget source=\"" + kPortrait + "\" ! fakesink");
  EXPECT_THAT(error, HasSubstr("facefit"));
}

TEST_F(FaceRetargetTest, MissingSourceImageIsAnErrorNamingTheFile) {
  const std::string error = ErrorOf("videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width=64,height=48 ! "
                                    "facefit ! faceretarget source=/nonexistent/me.png ! fakesink");
  EXPECT_THAT(error, HasSubstr("/nonexistent/me.png"));
  const std::string unset = ErrorOf("videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width=64,height=48 ! "
                                    "facefit ! faceretarget ! fakesink");
  EXPECT_THAT(unset, HasSubstr("source"));
}

// neural-trust-error and neural-open-ramp (RetargeterOptions::
// neural_trust_error, neural_open_ramp): the elements that own a Retargeter,
// and the bin, expose them with the options' defaults.
TEST_F(FaceRetargetTest, NeuralDoublePropertiesHaveTheRetargeterDefaultsOnEveryElement) {
  const faceanime::pipeline::RetargeterOptions defaults;
  EXPECT_DOUBLE_EQ(defaults.neural_trust_error, -1.0);  // The model's own threshold.
  const struct {
    const char* property;
    double expected_default, other;
  } cases[] = {{"neural-trust-error", defaults.neural_trust_error, 0.5},
               {"neural-open-ramp", defaults.neural_open_ramp, 0.3}};
  for (const char* name : {"faceretarget", "faceanime", "faceanimesrc"}) {
    GstElement* e = gst_element_factory_make(name, nullptr);
    ASSERT_NE(e, nullptr) << name;
    for (const auto& c : cases) {
      ASSERT_NE(g_object_class_find_property(G_OBJECT_GET_CLASS(e), c.property), nullptr) << name << " " << c.property;
      double value = 0;
      g_object_get(e, c.property, &value, nullptr);
      EXPECT_DOUBLE_EQ(value, c.expected_default) << name << " " << c.property;
      g_object_set(e, c.property, c.other, nullptr);
      g_object_get(e, c.property, &value, nullptr);
      EXPECT_DOUBLE_EQ(value, c.other) << name << " " << c.property;
    }
    gst_object_unref(e);
  }
}

TEST_F(FaceRetargetTest, HairFollowsHeadIsOnByDefaultOnEveryElementAndReachesTheWarp) {
  for (const char* name : {"faceretarget", "faceanime", "faceanimesrc"}) {
    GstElement* e = gst_element_factory_make(name, nullptr);
    ASSERT_NE(e, nullptr) << name;
    ASSERT_NE(g_object_class_find_property(G_OBJECT_GET_CLASS(e), "hair-follows-head"), nullptr) << name;
    gboolean value = FALSE;
    g_object_get(e, "hair-follows-head", &value, nullptr);
    EXPECT_TRUE(value) << name;  // WarpOptions::hair_follows_skull.
    g_object_set(e, "hair-follows-head", FALSE, nullptr);
    g_object_get(e, "hair-follows-head", &value, nullptr);
    EXPECT_FALSE(value) << name;
    gst_object_unref(e);
  }
  // The same turn renders the astronaut's hair (off the face mesh)
  // differently with and without it; the cheeks and nose (on the mesh) alike.
  cv::Mat turned[2];
  for (const bool follow : {true, false}) {
    GstHarness* h = Harness(follow ? "" : "hair-follows-head=false");
    gst_buffer_unref(gst_harness_push_and_pull(h, DriverBuffer(0, true, 0, 0)));
    GstBuffer* out = gst_harness_push_and_pull(h, DriverBuffer(40 * GST_MSECOND, true, 15, 0));
    ASSERT_NE(out, nullptr);
    turned[follow ? 0 : 1] = ToMat(out, 512, 512);
    gst_buffer_unref(out);
    gst_harness_teardown(h);
  }
  const cv::Rect hair(140, 20, 120, 60), face(170, 120, 60, 60);
  const double hair_diff = MeanDiff(turned[0](hair), turned[1](hair));
  const double face_diff = MeanDiff(turned[0](face), turned[1](face));
  std::printf("hair-follows-head true vs false after a 15 deg turn: hair %.2f, face %.2f grey levels\n", hair_diff,
              face_diff);
  EXPECT_GT(hair_diff, 1.0);
  EXPECT_LT(face_diff, 0.5 * hair_diff);
}

TEST_F(FaceRetargetTest, InvalidGeneratorIsAnErrorListingTheValidOnes) {
  const std::string error = ErrorOf("videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width=64,height=48 ! "
                                    "facefit ! faceretarget source=\"" + kPortrait + "\" generator=gan ! fakesink");
  EXPECT_THAT(error, HasSubstr("'gan'"));
  EXPECT_THAT(error, HasSubstr("classical, neural"));
}

TEST_F(FaceRetargetTest, CorruptNeuralModelIsAnErrorNamingTheFile) {
  const auto path = faceanime::testing::TempDir() / "corrupt_generator.pt";
  std::ofstream(path) << "not a generator";
  const std::string error =
      ErrorOf("videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width=64,height=48 ! facefit ! faceretarget "
              "source=\"" + kPortrait + "\" generator=neural model=\"" + path.string() + "\" ! fakesink");
  EXPECT_THAT(error, HasSubstr(path.string()));
}

TEST_F(FaceRetargetTest, MissingNeuralModelWarnsAndRendersClassically) {
  GstElement* pipeline = gst_parse_launch(
      ("videotestsrc num-buffers=2 ! video/x-raw,format=RGB,width=64,height=48 ! facefit ! faceretarget source=\"" +
       kPortrait + "\" generator=neural model=/nonexistent/pgfg.pt ! fakesink")
          .c_str(),
      nullptr);
  ASSERT_NE(pipeline, nullptr);
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  GstBus* bus = gst_element_get_bus(pipeline);
  std::string warning, error;
  bool eos = false;
  while (!eos && error.empty()) {
    GstMessage* msg = gst_bus_timed_pop_filtered(
        bus, 20 * GST_SECOND,
        static_cast<GstMessageType>(GST_MESSAGE_WARNING | GST_MESSAGE_ERROR | GST_MESSAGE_EOS));
    if (msg == nullptr) break;
    GError* e = nullptr;
    gchar* debug = nullptr;
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_WARNING) {
      gst_message_parse_warning(msg, &e, &debug);
      warning += std::string(e->message) + " | " + (debug ? debug : "") + "\n";
    } else if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
      gst_message_parse_error(msg, &e, &debug);
      error = e->message;
    } else {
      eos = true;
    }
    if (e) g_error_free(e);
    g_free(debug);
    gst_message_unref(msg);
  }
  gst_object_unref(bus);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
  EXPECT_TRUE(eos) << "the stream did not finish";
  EXPECT_EQ(error, "");
  EXPECT_THAT(warning, HasSubstr("/nonexistent/pgfg.pt"));
  EXPECT_THAT(warning, HasSubstr("classical"));
}

TEST_F(FaceRetargetTest, SourceWithoutAFaceIsAnError) {
  const auto path = faceanime::testing::TempDir() / "grey.png";
  cv::imwrite(path.string(), cv::Mat(200, 200, CV_8UC3, cv::Scalar(128, 128, 128)));
  const std::string error = ErrorOf("videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width=64,height=48 ! "
                                    "facefit ! faceretarget source=\"" + path.string() + "\" ! fakesink");
  EXPECT_THAT(error, HasSubstr("no face"));
}

}  // namespace
