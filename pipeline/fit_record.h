// `faceanime fit` output: one JSON object per line (JSONL), one line per
// frame (one line for a still image). The keys are a stable interface that
// tools and users read:
//
//   pts         int, nanoseconds (0 for a still image)
//   frame       int, 0-based frame index
//   box         [x, y, w, h] face box, image pixels       (absent: no face)
//   landmarks68 68 [x, y] pairs, image pixels             (empty: no face)
//   pose        {"rotation": [rx, ry, rz] angle-axis radians,
//                "translation": [tx, ty, tz] centimetres,
//                "yaw", "pitch", "roll": degrees}          (camera frame and
//               angle conventions of face3d/face_params.h)
//   camera      {"focal", "cx", "cy" (pixels), "width", "height"}
//   identity    100 numbers, N(0, 1) units
//   expression  {"browDown_L": w, ...} every ICT shape name -> weight in [0, 1]
//   confidence  number in [0, 1] (0 when no face)
//   rmse_px     landmark reprojection RMSE of the fit, pixels
#ifndef FACEANIME_PIPELINE_FIT_RECORD_H_
#define FACEANIME_PIPELINE_FIT_RECORD_H_

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <Eigen/Geometry>

#include "face3d/face_params.h"

namespace faceanime::pipeline {

struct FaceObservation {
  Eigen::AlignedBox2d box;           // Image pixels.
  face3d::Landmarks68 landmarks{};   // Image pixels.
  face3d::FaceParams params;
  face3d::Camera camera;
  double confidence = 0.0;
  double rmse_px = 0.0;
};

struct FitRecord {
  int64_t pts_ns = 0;
  int frame = 0;
  std::optional<FaceObservation> face;  // std::nullopt: no face in this frame.
};

// `expression_names` gives the order of FaceParams::expression (the model's).
std::string ToJsonLine(const FitRecord& record, const std::vector<std::string>& expression_names);

// Parses one line. Unknown keys are ignored; expression names missing from
// the line read as 0. Throws std::runtime_error on malformed input.
FitRecord FromJsonLine(std::string_view line, const std::vector<std::string>& expression_names);

// Reads a whole JSONL file; the error names the file and line.
std::vector<FitRecord> ReadFitFile(const std::filesystem::path& path,
                                   const std::vector<std::string>& expression_names);

}  // namespace faceanime::pipeline

#endif  // FACEANIME_PIPELINE_FIT_RECORD_H_
