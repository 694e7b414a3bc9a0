#include "tools/cli/progress.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace faceanime::cli {
namespace {

using ::testing::HasSubstr;

TEST(ProgressBarTest, ShowsCountsRateAndEta) {
  const std::string line = ProgressBar::Format("fit", 50, 200, 2.0, 10);
  EXPECT_THAT(line, HasSubstr("50/200"));
  EXPECT_THAT(line, HasSubstr("25.0 fps"));
  EXPECT_THAT(line, HasSubstr("ETA 0:06"));      // 150 frames at 25 fps.
  EXPECT_THAT(line, HasSubstr("[###       ]"));  // 25% of 10 cells, rounded.
}

TEST(ProgressBarTest, UnknownTotalHasNoBarOrEta) {
  const std::string line = ProgressBar::Format("fit", 12, -1, 3.0, 10);
  EXPECT_THAT(line, HasSubstr("12 frames"));
  EXPECT_THAT(line, ::testing::Not(HasSubstr("ETA")));
}

}  // namespace
}  // namespace faceanime::cli
