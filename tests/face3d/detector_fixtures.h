// Shared by the detector tests: one FaceDetector per model, created once per
// test binary (loading a network costs more than running it).
#ifndef FACEANIME_TESTS_FACE3D_DETECTOR_FIXTURES_H_
#define FACEANIME_TESTS_FACE3D_DETECTOR_FIXTURES_H_

#include <map>
#include <string>

#include <gtest/gtest.h>

#include "face3d/face_detector.h"

namespace faceanime::face3d::testing {

inline const FaceDetector& DetectorFor(DetectorModel model) {
  static auto* detectors = new std::map<DetectorModel, FaceDetector>();
  auto it = detectors->find(model);
  if (it == detectors->end()) {
    FaceDetectorOptions options;
    options.model = model;
    it = detectors->emplace(model, FaceDetector::Create(options)).first;
  }
  return it->second;
}

// Every detector model, for INSTANTIATE_TEST_SUITE_P.
inline auto AllDetectorModels() {
  return ::testing::Values(DetectorModel::kBlazeFaceFront, DetectorModel::kBlazeFaceBack, DetectorModel::kYuNet);
}

// Test-name suffix per model (DetectorModelName has spaces, which gtest
// names cannot).
inline std::string DetectorTestName(const ::testing::TestParamInfo<DetectorModel>& info) {
  switch (info.param) {
    case DetectorModel::kBlazeFaceFront: return "BlazeFaceFront";
    case DetectorModel::kBlazeFaceBack: return "BlazeFaceBack";
    case DetectorModel::kYuNet: return "YuNet";
  }
  return "Unknown";
}

}  // namespace faceanime::face3d::testing

#endif  // FACEANIME_TESTS_FACE3D_DETECTOR_FIXTURES_H_
