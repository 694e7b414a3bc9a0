// The `faceanime` command line. Each subcommand is a thin layer over the
// libraries; errors are reported on stderr with a non-zero exit status.
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "face3d/data_paths.h"
#include "face3d/ict_converter.h"
#include "face3d/morphable_model.h"

namespace {

namespace fs = std::filesystem;
using faceanime::face3d::MorphableModel;

int RunConvertIct(const std::string& input, const std::string& output, const std::string& provenance) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto report = faceanime::face3d::ConvertIctFaceKit({input, output, provenance});
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("wrote %s: %d vertices, %d triangles, %d UVs, %.1f MiB in %.1f s\n", output.c_str(),
              report.num_vertices, report.num_triangles, report.num_uvs,
              static_cast<double>(report.file_bytes) / (1 << 20), s);
  return 0;
}

int RunModelInfo(const std::string& path) {
  const auto t0 = std::chrono::steady_clock::now();
  const MorphableModel model = MorphableModel::Load(path);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("model:       %s (loaded in %.1f ms)\n", model.path().c_str(), ms);
  std::printf("provenance:  %s\n", model.provenance().c_str());
  std::printf("vertices:    %d   triangles: %zu   uvs: %zu\n", model.num_vertices(),
              model.triangles().size(), model.uv().size());
  std::printf("identity:    %d PCA shapes   expression: %d shapes\n", faceanime::face3d::kNumIdentityShapes,
              faceanime::face3d::kNumExpressionShapes);
  std::printf("parts:\n");
  for (const auto& p : model.parts()) {
    std::printf("  %-22s vertices [%5d, %5d)  triangles [%5d, %5d)\n", p.name.c_str(), p.vertices.begin,
                p.vertices.end, p.triangles.begin, p.triangles.end);
  }
  std::printf("expressions:");
  for (size_t j = 0; j < model.expression_names().size(); ++j) {
    std::printf("%s%s", j % 6 == 0 ? "\n  " : " ", model.expression_names()[j].c_str());
  }
  std::printf("\naction units:\n");
  for (const auto& au : model.action_units()) {
    std::printf("  %-6s %-26s", au.name.c_str(), au.description.c_str());
    for (int s : au.shapes) std::printf(" %s", model.expression_names()[s].c_str());
    std::printf("\n");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "faceanime: bring a still portrait to life by 3D face retargeting.\n"
      "Data (face models) live in $FACEANIME_DATA (default ~/.cache/faceanime); run tools/setup to fetch them."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("faceanime 0.1.0"));

  std::string ict_input, ict_output = MorphableModel::DefaultPath().string(), provenance;
  auto* convert = app.add_subcommand("convert-ict",
                                     "Convert ICT-FaceKit's FaceXModel folder into faceanime's runtime model file");
  convert->add_option("--input", ict_input, "ICT-FaceKit FaceXModel folder (or its offline mirror)")
      ->required()
      ->check(CLI::ExistingDirectory);
  convert->add_option("--output", ict_output, "Model file to write")->capture_default_str();
  convert->add_option("--provenance", provenance, "Free text stored in the file (source, upstream commit)");

  std::string model_path = MorphableModel::DefaultPath().string();
  auto* info = app.add_subcommand("model-info", "Print what a runtime model file holds, and its load time");
  info->add_option("--model", model_path, "Model file")->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  try {
    if (*convert) return RunConvertIct(ict_input, ict_output, provenance);
    if (*info) return RunModelInfo(model_path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "faceanime: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
