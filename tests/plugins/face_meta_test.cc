// GstFaceMeta: registration, copy with buffers, scaling with video frames,
// and the expression-name table against the model.
#include "plugins/face_meta.h"

#include <gst/gst.h>
#include <gst/video/video.h>

#include <string>

#include <gtest/gtest.h>

#include "tests/test_support.h"

namespace {

class FaceMetaTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gst_init(nullptr, nullptr); }
};

TEST_F(FaceMetaTest, AddedMetaStartsEmptyAndIsFound) {
  GstBuffer* buffer = gst_buffer_new();
  EXPECT_EQ(gst_buffer_get_primary_face_meta(buffer), nullptr);
  GstFaceMeta* meta = gst_buffer_add_face_meta(buffer);
  ASSERT_NE(meta, nullptr);
  EXPECT_FALSE(meta->has_face);
  EXPECT_EQ(meta->expression[52], 0.0);
  EXPECT_EQ(gst_buffer_get_primary_face_meta(buffer), meta);
  gst_buffer_unref(buffer);
}

TEST_F(FaceMetaTest, SecondaryFacesAreNotPrimary) {
  GstBuffer* buffer = gst_buffer_new();
  GstFaceMeta* other = gst_buffer_add_face_meta(buffer);
  other->face_index = 1;
  EXPECT_EQ(gst_buffer_get_primary_face_meta(buffer), nullptr);
  GstFaceMeta* primary = gst_buffer_add_face_meta(buffer);
  EXPECT_EQ(gst_buffer_get_primary_face_meta(buffer), primary);
  gst_buffer_unref(buffer);
}

TEST_F(FaceMetaTest, CopiesTravelWithBufferCopies) {
  GstBuffer* buffer = gst_buffer_new_allocate(nullptr, 16, nullptr);
  GstFaceMeta* meta = gst_buffer_add_face_meta(buffer);
  meta->has_face = TRUE;
  meta->landmarks[30][0] = 123.5f;
  meta->expression[26] = 0.7;
  GstBuffer* copy = gst_buffer_copy(buffer);
  GstFaceMeta* copied = gst_buffer_get_primary_face_meta(copy);
  ASSERT_NE(copied, nullptr);
  EXPECT_NE(copied, meta);
  EXPECT_TRUE(copied->has_face);
  EXPECT_EQ(copied->landmarks[30][0], 123.5f);
  EXPECT_EQ(copied->expression[26], 0.7);
  gst_buffer_unref(copy);
  gst_buffer_unref(buffer);
}

TEST_F(FaceMetaTest, ScalingTransformScalesImageQuantities) {
  GstBuffer* in = gst_buffer_new();
  GstFaceMeta* meta = gst_buffer_add_face_meta(in);
  meta->has_face = TRUE;
  meta->box[0] = 10;
  meta->box[2] = 100;
  meta->landmarks[0][0] = 49.5f;  // Pixel centre 49.5 at 2x -> 99.5.
  meta->landmarks[0][1] = 19.5f;
  meta->focal = 640;
  meta->rotation[1] = 0.3;
  GstVideoInfo in_info, out_info;
  gst_video_info_set_format(&in_info, GST_VIDEO_FORMAT_RGB, 320, 240);
  gst_video_info_set_format(&out_info, GST_VIDEO_FORMAT_RGB, 640, 480);
  GstVideoMetaTransform transform = {&in_info, &out_info};
  GstBuffer* out = gst_buffer_new();
  const GstMetaInfo* info = gst_face_meta_get_info();
  ASSERT_TRUE(info->transform_func(out, &meta->meta, in, gst_video_meta_transform_scale_get_quark(), &transform));
  GstFaceMeta* scaled = gst_buffer_get_primary_face_meta(out);
  ASSERT_NE(scaled, nullptr);
  EXPECT_FLOAT_EQ(scaled->box[0], 20);
  EXPECT_FLOAT_EQ(scaled->box[2], 200);
  EXPECT_FLOAT_EQ(scaled->landmarks[0][0], 99.5f);
  EXPECT_FLOAT_EQ(scaled->landmarks[0][1], 39.5f);
  EXPECT_DOUBLE_EQ(scaled->focal, 1280);
  EXPECT_DOUBLE_EQ(scaled->rotation[1], 0.3);  // Pose does not change.
  gst_buffer_unref(out);
  gst_buffer_unref(in);
}

TEST_F(FaceMetaTest, ExpressionNamesMatchTheModel) {
  const auto& names = faceanime::testing::TestModel().expression_names();
  ASSERT_EQ(names.size(), static_cast<size_t>(GST_FACE_META_NUM_EXPRESSION));
  for (guint i = 0; i < GST_FACE_META_NUM_EXPRESSION; ++i) {
    EXPECT_EQ(std::string(gst_face_meta_expression_name(i)), names[i]) << i;
  }
  EXPECT_EQ(gst_face_meta_expression_name(GST_FACE_META_NUM_EXPRESSION), nullptr);
}

}  // namespace
