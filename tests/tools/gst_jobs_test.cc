// The retarget job's options reach the faceretarget element: every
// generator option the command accepts is set on it, and the command that
// --dry-run prints builds the same elements.
#include "tools/cli/gst_jobs.h"

#include <gst/gst.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

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

// The words a POSIX shell makes of `line` (sh's printf, one per line).
std::vector<std::string> ShellSplit(const std::string& line) {
  const std::string command = "printf '%s\\n' " + line;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  std::vector<std::string> words;
  if (pipe == nullptr) return words;
  char buffer[4096];
  while (std::fgets(buffer, sizeof(buffer), pipe.get()) != nullptr) {
    std::string word = buffer;
    if (!word.empty() && word.back() == '\n') word.pop_back();
    words.push_back(word);
  }
  return words;
}

std::string StringProperty(GstElement* element, const char* name) {
  gchar* value = nullptr;
  g_object_get(element, name, &value, nullptr);
  std::string out = value != nullptr ? value : "";
  g_free(value);
  return out;
}

GstElement* ByFactory(GstElement* pipeline, const char* factory) {
  GstIterator* it = gst_bin_iterate_recurse(GST_BIN(pipeline));
  GstElement* found = nullptr;
  GValue item = G_VALUE_INIT;
  while (found == nullptr && gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
    auto* e = GST_ELEMENT(g_value_get_object(&item));
    if (std::string(GST_OBJECT_NAME(gst_element_get_factory(e))) == factory) found = e;
    g_value_reset(&item);
  }
  g_value_unset(&item);
  gst_iterator_free(it);
  return found;
}

// A job with these paths (GStreamer initialised).
RetargetJob JobWithPaths(const std::string& source, const std::string& driving, const std::string& output) {
  InitGstreamer();
  RetargetJob job;
  job.source = source;
  job.driving = driving;
  job.output = output;
  return job;
}

TEST(RetargetJobTest, DryRunCommandBuildsTheJobsElements) {
  RetargetJob job = JobWithPaths("my portraits/it's \"me\".png", "clips/a b.mpg", "out dir/o'ut.mkv");
  job.crop_size = 256;
  job.threads = 3;
  job.motion.mode = pipeline::MotionMode::kAbsolute;
  job.motion.transfer_pose = false;
  job.motion.expression_gain = 1.3;
  job.generator.generator = "neural";
  job.generator.region = "face";
  job.generator.open_ramp = 0.3;
  job.generator.no_hair_follow = true;
  std::string line;
  for (const auto& word : RetargetPipelineWords(job, /*with_audio=*/true)) line += " " + ShellWord(word);

  // As gst-launch-1.0 reads its arguments.
  const std::vector<std::string> args = ShellSplit(line);
  ASSERT_GT(args.size(), 20u) << line;
  std::vector<const gchar*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  GError* error = nullptr;
  GstElement* pipeline = gst_parse_launchv(argv.data(), &error);
  ASSERT_NE(pipeline, nullptr) << (error ? error->message : "?") << "\n" << line;
  if (error != nullptr) FAIL() << error->message << "\n" << line;

  // Every faceretarget property equals the one SetRetargetProperties sets.
  GstElement* parsed = gst_bin_get_by_name(GST_BIN(pipeline), "retarget");
  ASSERT_NE(parsed, nullptr);
  GstElement* expected = gst_element_factory_make("faceretarget", nullptr);
  SetRetargetProperties(expected, job);
  guint count = 0;
  GParamSpec** specs = g_object_class_list_properties(G_OBJECT_GET_CLASS(expected), &count);
  int compared = 0;
  for (guint i = 0; i < count; ++i) {
    if (!(specs[i]->flags & G_PARAM_READABLE) || specs[i]->owner_type == GST_TYPE_OBJECT) continue;
    GValue a = G_VALUE_INIT, b = G_VALUE_INIT;
    g_value_init(&a, specs[i]->value_type);
    g_value_init(&b, specs[i]->value_type);
    g_object_get_property(G_OBJECT(parsed), specs[i]->name, &a);
    g_object_get_property(G_OBJECT(expected), specs[i]->name, &b);
    EXPECT_EQ(g_param_values_cmp(specs[i], &a, &b), 0) << specs[i]->name;
    ++compared;
    g_value_unset(&a);
    g_value_unset(&b);
  }
  g_free(specs);
  EXPECT_GE(compared, 15);
  EXPECT_EQ(StringProperty(parsed, "source"), job.source.string());
  gint threads = 0;
  GstElement* fit = gst_bin_get_by_name(GST_BIN(pipeline), "fit");
  ASSERT_NE(fit, nullptr);
  g_object_get(fit, "threads", &threads, nullptr);
  EXPECT_EQ(threads, 3);
  ASSERT_NE(ByFactory(pipeline, "filesrc"), nullptr);
  EXPECT_EQ(StringProperty(ByFactory(pipeline, "filesrc"), "location"), job.driving);
  ASSERT_NE(ByFactory(pipeline, "filesink"), nullptr);
  EXPECT_EQ(StringProperty(ByFactory(pipeline, "filesink"), "location"), job.output.string());
  EXPECT_NE(ByFactory(pipeline, "matroskamux"), nullptr);
  EXPECT_NE(ByFactory(pipeline, "avenc_aac"), nullptr);  // The audio branch.
  gst_object_unref(fit);
  gst_object_unref(parsed);
  gst_object_unref(expected);
  gst_object_unref(pipeline);
}

TEST(RetargetJobTest, DryRunLeavesTheAudioBranchOutWithoutAudio) {
  const RetargetJob job = JobWithPaths("p.png", "/dev/video0", "o.mp4");
  std::string description;
  for (const auto& word : RetargetPipelineWords(job, /*with_audio=*/false)) description += word + " ";
  EXPECT_EQ(description.find("avenc_aac"), std::string::npos) << description;
  EXPECT_EQ(description.find("decodebin"), std::string::npos) << description;
  EXPECT_NE(description.find("v4l2src device=/dev/video0 "), std::string::npos) << description;
  EXPECT_NE(description.find("mp4mux"), std::string::npos) << description;
}

}  // namespace
}  // namespace faceanime::cli
