// `faceanime eval --heldout`: the cases held out from training are picked by
// the same rule as gen-data and train-predictor (sorted index 0, 10, 20, ...).
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tools/cli/eval_command.h"

namespace faceanime::cli {
namespace {

std::vector<pipeline::EvalCase> Cases(int n) {
  std::vector<pipeline::EvalCase> cases;
  for (int i = 0; i < n; ++i) cases.push_back({"case" + std::to_string(i), "s", "d"});
  return cases;
}

std::vector<std::string> Names(const std::vector<pipeline::EvalCase>& cases) {
  std::vector<std::string> names;
  for (const auto& c : cases) names.push_back(c.name);
  return names;
}

TEST(EvalHeldOutTest, PicksEveryTenthCaseStartingWithTheFirst) {
  EXPECT_EQ(Names(HeldOutCases(Cases(25), 0)), (std::vector<std::string>{"case0", "case10", "case20"}));
}

TEST(EvalHeldOutTest, ClipsLimitCountsHeldOutCasesOnly) {
  EXPECT_EQ(Names(HeldOutCases(Cases(25), 2)), (std::vector<std::string>{"case0", "case10"}));
  EXPECT_TRUE(HeldOutCases({}, 0).empty());
}

TEST(EvalNamedCasesTest, KeepsTheNamedCasesInListingOrder) {
  EXPECT_EQ(Names(NamedCases(Cases(25), {"case12", "case3"})), (std::vector<std::string>{"case3", "case12"}));
}

TEST(EvalNamedCasesTest, RejectsANameWithNoCase) {
  EXPECT_THROW(NamedCases(Cases(3), {"case1", "swav1a"}), std::invalid_argument);
}

}  // namespace
}  // namespace faceanime::cli
