// Helpers shared by the test suites.
#ifndef FACEANIME_TESTS_TEST_SUPPORT_H_
#define FACEANIME_TESTS_TEST_SUPPORT_H_

#include <filesystem>

#include "face3d/morphable_model.h"

namespace faceanime::testing {

// The converted ICT model from the data directory (tools/setup makes it).
// Loaded once per test binary. Fails the calling test with the fix when
// the file is missing.
const face3d::MorphableModel& TestModel();

// The third-party data mirror: $FACEANIME_SHARED, else <source>/../shared.
// Empty path when it does not exist.
std::filesystem::path SharedDir();

// A fresh, empty temporary directory removed at process exit.
std::filesystem::path TempDir();

}  // namespace faceanime::testing

#endif  // FACEANIME_TESTS_TEST_SUPPORT_H_
