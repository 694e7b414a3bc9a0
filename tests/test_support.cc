#include "tests/test_support.h"

#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

#include <gtest/gtest.h>

namespace faceanime::testing {

const face3d::MorphableModel& TestModel() {
  static const auto* model = [] {
    const auto path = face3d::MorphableModel::DefaultPath();
    if (!std::filesystem::exists(path)) {
      std::fprintf(stderr,
                   "faceanime tests: the model file %s is missing. Run tools/setup (or tools/run-tests, "
                   "which runs it) first, or point FACEANIME_DATA at a data directory.\n",
                   path.c_str());
      std::abort();
    }
    return new face3d::MorphableModel(face3d::MorphableModel::Load(path));
  }();
  return *model;
}

std::filesystem::path SharedDir() {
  std::filesystem::path dir;
  if (const char* env = std::getenv("FACEANIME_SHARED"); env != nullptr && *env != '\0') {
    dir = env;
  } else {
    dir = std::filesystem::path(FACEANIME_SOURCE_DIR).parent_path() / "shared";
  }
  return std::filesystem::is_directory(dir) ? dir : std::filesystem::path();
}

namespace {

// Owns the per-process temporary root and removes it at exit.
struct TempRoot {
  std::filesystem::path path;
  TempRoot() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "faceanime-test-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    path = tmpl;
  }
  ~TempRoot() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

std::filesystem::path TempDir() {
  static TempRoot root;
  static int counter = 0;
  auto dir = root.path / std::to_string(counter++);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace faceanime::testing
