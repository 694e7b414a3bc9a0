// The retarget job's options reach the faceretarget element: every
// generator option the command accepts is set on it.
#include "tools/cli/gst_jobs.h"

#include <gst/gst.h>
#include <gtest/gtest.h>

#include <string>

namespace faceanime::cli {
namespace {

TEST(RetargetJobTest, GeneratorOptionsReachTheElement) {
  InitGstreamer();
  GstElement* retarget = gst_element_factory_make("faceretarget", nullptr);
  ASSERT_NE(retarget, nullptr);
  RetargetJob job;
  job.source = "portrait.png";
  job.crop_size = 320;
  job.threads = 2;
  job.generator.generator = "neural";
  job.generator.model = "model.pt";
  job.generator.region = "face";
  job.generator.open_ramp = 0.3;
  job.generator.trust_error = 2.5;
  job.generator.no_hair_follow = true;
  SetRetargetProperties(retarget, job);
  gchar *generator = nullptr, *model = nullptr, *region = nullptr, *source = nullptr;
  gdouble trust_error = 0.0, open_ramp = 0.0;
  gboolean hair_follows_head = TRUE;
  gint crop_size = 0, threads = 0;
  g_object_get(retarget, "generator", &generator, "model", &model, "neural-region", &region, "neural-open-ramp",
               &open_ramp, "neural-trust-error", &trust_error, "hair-follows-head", &hair_follows_head, "source",
               &source, "crop-size", &crop_size, "threads", &threads, nullptr);
  EXPECT_STREQ(generator, "neural");
  EXPECT_STREQ(model, "model.pt");
  EXPECT_STREQ(region, "face");
  EXPECT_DOUBLE_EQ(open_ramp, 0.3);
  EXPECT_DOUBLE_EQ(trust_error, 2.5);
  EXPECT_FALSE(hair_follows_head);
  EXPECT_STREQ(source, "portrait.png");
  EXPECT_EQ(crop_size, 320);
  EXPECT_EQ(threads, 2);
  g_free(generator);
  g_free(model);
  g_free(region);
  g_free(source);
  // The defaults map back to the element's defaults.
  SetRetargetProperties(retarget, RetargetJob{});
  g_object_get(retarget, "neural-region", &region, "neural-open-ramp", &open_ramp, "hair-follows-head",
               &hair_follows_head, nullptr);
  EXPECT_STREQ(region, "mouth");
  EXPECT_DOUBLE_EQ(open_ramp, pipeline::RetargeterOptions{}.neural_open_ramp);
  EXPECT_TRUE(hair_follows_head);
  g_free(region);
  gst_object_unref(retarget);
}

}  // namespace
}  // namespace faceanime::cli
