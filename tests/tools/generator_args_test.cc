// The shared generator options of the rendering commands: --no-hair-follow
// reaches the classical warp's options, the default keeps hair following the
// skull.
#include "tools/cli/generator_args.h"

#include <gtest/gtest.h>

namespace faceanime::cli {
namespace {

pipeline::RetargeterOptions Parse(std::vector<std::string> argv) {
  CLI::App app("test");
  GeneratorArgs args;
  AddGeneratorOptions(&app, args);
  argv.insert(argv.begin(), "test");
  std::vector<const char*> raw;
  for (const std::string& a : argv) raw.push_back(a.c_str());
  app.parse(static_cast<int>(raw.size()), raw.data());
  pipeline::RetargeterOptions options;
  ApplyGeneratorArgs(args, 1, options);
  return options;
}

TEST(GeneratorArgsTest, HairFollowsTheSkullUnlessTurnedOff) {
  const pipeline::RetargeterOptions defaults = Parse({});
  EXPECT_TRUE(defaults.warp.hair_follows_skull);
  EXPECT_DOUBLE_EQ(defaults.warp.crop_raise, render::WarpOptions{}.crop_raise);
  EXPECT_GT(defaults.warp.crop_raise, 0.0);
  const pipeline::RetargeterOptions off = Parse({"--no-hair-follow"});
  EXPECT_FALSE(off.warp.hair_follows_skull);
  EXPECT_EQ(off.warp.crop_raise, 0.0);
  // The other generator options pass through alongside.
  const pipeline::RetargeterOptions neural = Parse({"--generator", "neural", "--no-hair-follow"});
  EXPECT_EQ(neural.generator, "neural");
  EXPECT_FALSE(neural.warp.hair_follows_skull);
  EXPECT_THROW(Parse({"--no-hair-follow=maybe"}), CLI::ParseError);
}

}  // namespace
}  // namespace faceanime::cli
