#include "pipeline/fit_record.h"

#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace faceanime::pipeline {

using nlohmann::json;

std::string ToJsonLine(const FitRecord& record, const std::vector<std::string>& expression_names) {
  json j;
  j["pts"] = record.pts_ns;
  j["frame"] = record.frame;
  if (!record.face) {
    j["landmarks68"] = json::array();
    j["confidence"] = 0.0;
    return j.dump();
  }
  const FaceObservation& f = *record.face;
  const Eigen::Vector2d size = f.box.sizes();
  j["box"] = {f.box.min().x(), f.box.min().y(), size.x(), size.y()};
  json lm = json::array();
  for (const auto& p : f.landmarks) lm.push_back({p.x(), p.y()});
  j["landmarks68"] = std::move(lm);
  const face3d::EulerAngles e = face3d::ToEuler(f.params.pose);
  const auto& r = f.params.pose.rotation;
  const auto& t = f.params.pose.translation;
  j["pose"] = {{"rotation", {r.x(), r.y(), r.z()}},
               {"translation", {t.x(), t.y(), t.z()}},
               {"yaw", e.yaw},
               {"pitch", e.pitch},
               {"roll", e.roll}};
  j["camera"] = {{"focal", f.camera.focal},
                 {"cx", f.camera.cx},
                 {"cy", f.camera.cy},
                 {"width", f.camera.width},
                 {"height", f.camera.height}};
  j["identity"] = f.params.identity;
  json expression = json::object();
  for (size_t k = 0; k < expression_names.size() && k < f.params.expression.size(); ++k) {
    expression[expression_names[k]] = f.params.expression[k];
  }
  j["expression"] = std::move(expression);
  j["confidence"] = f.confidence;
  j["rmse_px"] = f.rmse_px;
  return j.dump();
}

FitRecord FromJsonLine(std::string_view line, const std::vector<std::string>& expression_names) {
  FitRecord record;
  try {
    const json j = json::parse(line);
    record.pts_ns = j.at("pts").get<int64_t>();
    record.frame = j.value("frame", 0);
    const json& lm = j.at("landmarks68");
    if (lm.empty()) return record;
    if (lm.size() != face3d::kNumLandmarks) throw std::runtime_error("landmarks68 must hold 68 points");
    FaceObservation f;
    for (int i = 0; i < face3d::kNumLandmarks; ++i) {
      f.landmarks[i] = Eigen::Vector2d(lm[i].at(0).get<double>(), lm[i].at(1).get<double>());
    }
    const json& box = j.at("box");
    f.box = Eigen::AlignedBox2d(Eigen::Vector2d(box.at(0).get<double>(), box.at(1).get<double>()),
                                Eigen::Vector2d(box.at(0).get<double>() + box.at(2).get<double>(),
                                                box.at(1).get<double>() + box.at(3).get<double>()));
    const json& pose = j.at("pose");
    for (int k = 0; k < 3; ++k) {
      f.params.pose.rotation[k] = pose.at("rotation").at(k).get<double>();
      f.params.pose.translation[k] = pose.at("translation").at(k).get<double>();
    }
    if (j.contains("camera")) {
      const json& c = j["camera"];
      f.camera.focal = c.at("focal").get<double>();
      f.camera.cx = c.at("cx").get<double>();
      f.camera.cy = c.at("cy").get<double>();
      f.camera.width = c.at("width").get<int>();
      f.camera.height = c.at("height").get<int>();
    }
    const auto identity = j.at("identity").get<std::vector<double>>();
    if (identity.size() > f.params.identity.size()) throw std::runtime_error("too many identity weights");
    std::copy(identity.begin(), identity.end(), f.params.identity.begin());
    const json& expression = j.at("expression");
    for (size_t k = 0; k < expression_names.size() && k < f.params.expression.size(); ++k) {
      f.params.expression[k] = expression.value(expression_names[k], 0.0);
    }
    f.confidence = j.value("confidence", 0.0);
    f.rmse_px = j.value("rmse_px", 0.0);
    record.face = f;
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string("malformed fit record: ") + e.what());
  }
  return record;
}

std::vector<FitRecord> ReadFitFile(const std::filesystem::path& path,
                                   const std::vector<std::string>& expression_names) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read fit file '" + path.string() + "'");
  std::vector<FitRecord> records;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    try {
      records.push_back(FromJsonLine(line, expression_names));
    } catch (const std::exception& e) {
      throw std::runtime_error(path.string() + ":" + std::to_string(number) + ": " + e.what());
    }
  }
  return records;
}

}  // namespace faceanime::pipeline
