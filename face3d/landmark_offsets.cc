// Calibrated landmark offsets of the face-api 68-point net against ICT-FaceKit's
// landmark vertices (face3d::DefaultLandmarkOffsets, face_fitter.h).
//
// Made by tools/calibrate_landmarks.cc (build/tools/calibrate_landmarks
// --shared ../shared, 2026-11-21): 152 closed-mouth frames of 6 people (GRID
// s1 and the GRID speakers clips of ../shared, and images/grace_hopper.jpg;
// no London photo), fitted with the expression held near neutral, the mean
// back-projected residual per landmark (each person weighted once) added
// until it settled (28 rounds, mean fit RMSE 1.67 -> 0.42 px), then made
// left-right symmetric. The largest offsets are on the jaw contour
// (landmarks 3-4 and 12-13 sit ~1 cm outward and up of ICT's jawline
// candidates); the mouth corners sit ~1.4 mm inward and ~1.3 mm down.
//
// Effect, measured with the London set (tests/face3d/london_fit_test.cc; not
// used to make these): median reprojection RMSE 1.73 -> 0.5 px, and fits of
// neutral photos no longer carry cheekPuff/eyeWide/eyeLookIn/mouthFrown near
// 0.7-0.9 (see docs/benchmarks.md, face3d).
// Model space, centimetres: +X the subject's left, +Y up, +Z out of the face.
#include "face3d/face_fitter.h"

namespace faceanime::face3d {

LandmarkOffsets DefaultLandmarkOffsets() {
  // Index = Multi-PIE landmark (0-16 jaw, 17-26 brows, 27-35 nose, 36-47
  // eyes, 48-67 mouth).
  return {
      Eigen::Vector3d(0.2432, -0.4013, 0.0000),
      Eigen::Vector3d(-0.3538, 0.0846, 0.0000),
      Eigen::Vector3d(-0.1420, -0.0279, 0.0000),
      Eigen::Vector3d(-0.5991, 0.9660, 0.0000),
      Eigen::Vector3d(-0.7630, 0.6887, 0.0000),
      Eigen::Vector3d(-0.4978, 0.0387, 0.0000),
      Eigen::Vector3d(-0.5009, 0.0167, 0.0000),
      Eigen::Vector3d(-0.4768, 0.0745, 0.0000),
      Eigen::Vector3d(0.0000, -0.2266, 0.0000),
      Eigen::Vector3d(0.4768, 0.0745, 0.0000),
      Eigen::Vector3d(0.5009, 0.0167, 0.0000),
      Eigen::Vector3d(0.4978, 0.0387, 0.0000),
      Eigen::Vector3d(0.7630, 0.6887, 0.0000),
      Eigen::Vector3d(0.5991, 0.9660, 0.0000),
      Eigen::Vector3d(0.1420, -0.0279, 0.0000),
      Eigen::Vector3d(0.3538, 0.0846, 0.0000),
      Eigen::Vector3d(-0.2432, -0.4013, 0.0000),
      Eigen::Vector3d(0.0625, -0.1284, 0.0000),
      Eigen::Vector3d(0.0932, -0.1600, 0.0000),
      Eigen::Vector3d(0.1282, -0.2219, 0.0000),
      Eigen::Vector3d(-0.2050, -0.2623, 0.0000),
      Eigen::Vector3d(-0.5624, -0.2793, 0.0000),
      Eigen::Vector3d(0.5624, -0.2793, 0.0000),
      Eigen::Vector3d(0.2050, -0.2623, 0.0000),
      Eigen::Vector3d(-0.1282, -0.2219, 0.0000),
      Eigen::Vector3d(-0.0932, -0.1600, 0.0000),
      Eigen::Vector3d(-0.0625, -0.1284, 0.0000),
      Eigen::Vector3d(0.0000, -0.2572, 0.0000),
      Eigen::Vector3d(0.0000, -0.3194, 0.0000),
      Eigen::Vector3d(0.0000, -0.3461, 0.0000),
      Eigen::Vector3d(0.0000, -0.0293, 0.0000),
      Eigen::Vector3d(0.1386, 0.2381, 0.0000),
      Eigen::Vector3d(0.0064, 0.2084, 0.0000),
      Eigen::Vector3d(0.0000, 0.1739, 0.0000),
      Eigen::Vector3d(-0.0064, 0.2084, 0.0000),
      Eigen::Vector3d(-0.1386, 0.2381, 0.0000),
      Eigen::Vector3d(0.0948, 0.1309, 0.0000),
      Eigen::Vector3d(0.2140, 0.0671, 0.0000),
      Eigen::Vector3d(0.1025, 0.0020, 0.0000),
      Eigen::Vector3d(-0.0592, 0.1548, 0.0000),
      Eigen::Vector3d(0.0803, 0.1292, 0.0000),
      Eigen::Vector3d(0.2255, 0.1283, 0.0000),
      Eigen::Vector3d(0.0592, 0.1548, 0.0000),
      Eigen::Vector3d(-0.1025, 0.0020, 0.0000),
      Eigen::Vector3d(-0.2140, 0.0671, 0.0000),
      Eigen::Vector3d(-0.0948, 0.1309, 0.0000),
      Eigen::Vector3d(-0.2255, 0.1283, 0.0000),
      Eigen::Vector3d(-0.0803, 0.1292, 0.0000),
      Eigen::Vector3d(0.1434, -0.1306, 0.0000),
      Eigen::Vector3d(0.1662, -0.0567, 0.0000),
      Eigen::Vector3d(0.2031, 0.1313, 0.0000),
      Eigen::Vector3d(0.0000, 0.0713, 0.0000),
      Eigen::Vector3d(-0.2031, 0.1313, 0.0000),
      Eigen::Vector3d(-0.1662, -0.0567, 0.0000),
      Eigen::Vector3d(-0.1434, -0.1306, 0.0000),
      Eigen::Vector3d(-0.2668, -0.0872, 0.0000),
      Eigen::Vector3d(-0.2583, -0.0752, 0.0000),
      Eigen::Vector3d(0.0000, -0.0676, 0.0000),
      Eigen::Vector3d(0.2583, -0.0752, 0.0000),
      Eigen::Vector3d(0.2668, -0.0872, 0.0000),
      Eigen::Vector3d(0.0105, -0.1445, 0.0000),
      Eigen::Vector3d(0.2723, 0.0609, 0.0000),
      Eigen::Vector3d(0.0000, 0.1385, 0.0000),
      Eigen::Vector3d(-0.2723, 0.0609, 0.0000),
      Eigen::Vector3d(-0.0105, -0.1445, 0.0000),
      Eigen::Vector3d(-0.3628, -0.1581, 0.0000),
      Eigen::Vector3d(0.0000, -0.1570, 0.0000),
      Eigen::Vector3d(0.3628, -0.1581, 0.0000)};
}

}  // namespace faceanime::face3d
