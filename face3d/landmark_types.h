// Result types shared by the landmark network (face3d/landmarker.h) and the
// face tracker (face3d/face_tracker.h).
#ifndef FACEANIME_FACE3D_LANDMARK_TYPES_H_
#define FACEANIME_FACE3D_LANDMARK_TYPES_H_

#include "face3d/face_params.h"

namespace faceanime::face3d {

struct LandmarkResult {
  Landmarks68 points;  // Full-image pixels (image space, see face_params.h).
  double confidence;   // [0, 1].
};

}  // namespace faceanime::face3d

#endif  // FACEANIME_FACE3D_LANDMARK_TYPES_H_
