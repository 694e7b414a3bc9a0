// `faceanime eyelids`: the per-frame table of a real GRID clip reads its
// blink as closed on both eyes (where the landmark fit alone does not) and a
// talking frame as open; bad input is a clear error.
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "tests/test_support.h"
#include "tools/cli/eyelids_command.h"

namespace faceanime::cli {
namespace {

namespace fs = std::filesystem;

// The table's rows by frame index, each column name -> cell text.
std::map<int, std::map<std::string, std::string>> ReadTable(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  std::vector<std::string> header;
  for (std::istringstream h(line); std::getline(h, line, '\t');) header.push_back(line);
  std::map<int, std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    std::istringstream r(line);
    std::map<std::string, std::string> row;
    std::string cell;
    for (size_t k = 0; k < header.size() && std::getline(r, cell, '\t'); ++k) row[header[k]] = cell;
    rows[std::stoi(row.at("frame"))] = row;
  }
  return rows;
}

TEST(EyelidsCommandTest, GridBlinkReadsClosedOnBothEyesWhereTheLandmarkFitDoesNot) {
  const fs::path shared = testing::SharedDir();
  if (shared.empty()) GTEST_SKIP() << "../shared is absent: no GRID clip";
  EyelidsArgs args;
  args.input = (shared / "data/grid/s1/srbb6p.mpg").string();
  const fs::path dir = testing::TempDir();
  args.output = (dir / "srbb6p_eyelids.tsv").string();
  args.sheet = (dir / "srbb6p_eyelids.png").string();
  ASSERT_EQ(RunEyelids(args), 0);
  const auto rows = ReadTable(args.output);
  ASSERT_EQ(rows.size(), 75u);
  // Frame 40: both eyes shut (looked at); frame 20: open, talking.
  const auto& shut = rows.at(40);
  const auto& open = rows.at(20);
  for (const char* eye : {"R", "L"}) {
    const std::string closure = std::string("closure_") + eye;
    ASSERT_NE(shut.at(closure), "-") << eye;
    ASSERT_NE(open.at(closure), "-") << eye;
    EXPECT_GT(std::stod(shut.at(closure)), 0.5) << eye;
    EXPECT_LT(std::stod(open.at(closure)), 0.3) << eye;
    EXPECT_LT(std::stod(shut.at(std::string("fit_blink_") + eye)), 0.1) << eye << ": the landmarks do not see it";
  }
  // The first frames build the open-eye reference: no reading yet.
  EXPECT_EQ(rows.at(0).at("closure_R"), "-");
  const cv::Mat sheet = cv::imread(args.sheet);
  ASSERT_FALSE(sheet.empty());
  EXPECT_EQ(sheet.cols, 6 * 240);            // Six cells per row.
  EXPECT_EQ(sheet.rows, (75 + 5) / 6 * 110);  // One cell per frame.
}

TEST(EyelidsCommandTest, StillImageIsAClearError) {
  EyelidsArgs args;
  args.input = (fs::path(FACEANIME_TEST_ASSETS) / "astronaut.png").string();
  EXPECT_THAT([&] { RunEyelids(args); },
              ::testing::ThrowsMessage<std::runtime_error>(::testing::HasSubstr("needs a video")));
}

TEST(EyelidsCommandTest, UnwritableOutputNamesTheFile) {
  const fs::path shared = testing::SharedDir();
  if (shared.empty()) GTEST_SKIP() << "../shared is absent: no GRID clip";
  EyelidsArgs args;
  args.input = (shared / "data/grid/s1/srbb6p.mpg").string();
  args.output = "/nonexistent-dir/eyelids.tsv";
  EXPECT_THAT([&] { RunEyelids(args); },
              ::testing::ThrowsMessage<std::runtime_error>(::testing::HasSubstr("/nonexistent-dir/eyelids.tsv")));
}

}  // namespace
}  // namespace faceanime::cli
