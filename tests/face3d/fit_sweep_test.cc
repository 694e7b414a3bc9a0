// The exact-landmark single-image fit (identity estimated, noise-free
// synthetic landmarks) over 224 faces: how many local minima of the
// jaw-contour correspondence FitOptions::restart_rmse_sigma leaves.
#include <cstdio>
#include <random>

#include <gtest/gtest.h>

#include "face3d/face_fitter.h"
#include "tests/face3d/synthetic_face.h"
#include "tests/test_support.h"

namespace faceanime::face3d {
namespace {

using testing::RandomFace;
using testing::RotationErrorDeg;
using testing::SyntheticCamera;
using testing::TestModel;

// Faces whose fit ends beyond 1 deg rotation error or 0.3 px RMSE, over 8
// faces each of 28 seeds (the first 7 are those face_fitter_test.cc reports
// on).
int FacesBeyondBounds(double restart_rmse_sigma) {
  FitOptions options;
  options.landmark_offsets_cm = ZeroLandmarkOffsets();
  options.landmark_sigma_px = 0.1;
  options.inner_landmarks_first = true;
  options.silhouette_consistency_weight = 1.0;
  options.restart_rmse_sigma = restart_rmse_sigma;
  const FaceFitter fitter = FaceFitter::Create(TestModel(), options);
  const Camera camera = SyntheticCamera();
  int beyond = 0;
  for (int seed : {11, 23, 37, 41, 53, 61, 67, 71, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149,
                   151, 157, 163, 167, 173, 179}) {
    std::mt19937 rng(seed);
    for (int t = 0; t < 8; ++t) {
      const FaceParams truth = RandomFace(TestModel(), rng);
      const FitResult r = fitter.Fit(fitter.landmark_model().Project(truth, camera), camera);
      const double rot = RotationErrorDeg(r.params.pose, truth.pose);
      if (rot > 1.0 || r.rmse_px > 0.3) {
        ++beyond;
        std::printf("restart_rmse_sigma %.1f: seed %d face %d rot %.3f deg rmse %.3f px\n", restart_rmse_sigma, seed,
                    t, rot, r.rmse_px);
      }
    }
  }
  std::printf("restart_rmse_sigma %.1f: %d of 224 faces beyond 1 deg or 0.3 px\n", restart_rmse_sigma, beyond);
  return beyond;
}

// Measured 2026-11-21: 15 of 224 without restarts, 2 with (seed 109 face 0,
// 1.16 deg; seed 157 face 3, 2.43 deg).
TEST(FitSweepTest, ContourRestartsLeaveAtMostTwoOf224NoiseFreeFacesBeyondOneDegreeOrPointThreePixels) {
  const int plain = FacesBeyondBounds(0.0);
  const int restarted = FacesBeyondBounds(0.5);
  EXPECT_LE(restarted, 2);
  EXPECT_LT(restarted, plain);
}

}  // namespace
}  // namespace faceanime::face3d
