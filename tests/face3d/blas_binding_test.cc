// Checks which BLAS LibTorch's sgemm_ binds to in a binary that links face3d.
//
// Debian's Ceres pulls in ATLAS's libf77blas, which exports sgemm_ as well. Unless
// the system BLAS comes first in the load order (faceanime_blas in the top-level
// CMakeLists.txt), LibTorch's fully connected / LSTM / matmul paths run on ATLAS.
#include <dlfcn.h>

#include <string>

#include <gtest/gtest.h>

#include "face3d/face_fitter.h"

namespace {

TEST(BlasBindingTest, SgemmResolvesToTheSystemBlasNotAtlas) {
  // Using the fitter links face_fitter.cc and with it Ceres (and ATLAS), as in
  // the CLI, the plugin and every test that fits.
  volatile auto create = &faceanime::face3d::FaceFitter::Create;
  ASSERT_NE(create, nullptr);
  // RTLD_DEFAULT searches the global scope in load order: the library found first
  // is the one every sgemm_ call (LibTorch's included) binds to.
  void* sgemm = dlsym(RTLD_DEFAULT, "sgemm_");
  ASSERT_NE(sgemm, nullptr) << "no sgemm_ in the process: LibTorch/BLAS not linked?";
  Dl_info info{};
  ASSERT_NE(dladdr(sgemm, &info), 0);
  const std::string library = info.dli_fname ? info.dli_fname : "";
  EXPECT_EQ(library.find("atlas"), std::string::npos) << library;
  EXPECT_EQ(library.find("f77blas"), std::string::npos) << library;
  EXPECT_NE(library.find("blas"), std::string::npos) << library;
}

}  // namespace
