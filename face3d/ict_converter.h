// Converts ICT-FaceKit's "FaceXModel" folder into faceanime's runtime model
// file (see face3d/model_file.h and MorphableModel::Load).
//
// Reads, from `input_dir`:
//   generic_neutral_mesh.obj        vertices, texture coordinates, polygons
//   identity000..099.obj            `v` lines (other lines are ignored)
//   <53 expression names>.obj       `v` lines
//   vertex_indices.json             expression order, landmark and fitting vertices
//   README.md or UPSTREAM_README.md part ranges, jawline candidates, FACS table
#ifndef FACEANIME_FACE3D_ICT_CONVERTER_H_
#define FACEANIME_FACE3D_ICT_CONVERTER_H_

#include <filesystem>
#include <stdexcept>
#include <string>

namespace faceanime::face3d {

class ConversionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ConvertIctOptions {
  std::filesystem::path input_dir;  // The FaceXModel folder (or an offline mirror of it).
  std::filesystem::path output;     // The .fam file to write (atomically: temp + rename).
  std::string provenance;           // Free text stored in the file (e.g. upstream commit).
};

struct ConvertIctReport {
  int num_vertices = 0;
  int num_triangles = 0;
  int num_uvs = 0;
  uint64_t file_bytes = 0;
};

// Throws ConversionError naming the offending file on any missing or malformed
// input. Never leaves a partial output file behind.
ConvertIctReport ConvertIctFaceKit(const ConvertIctOptions& options);

}  // namespace faceanime::face3d

#endif  // FACEANIME_FACE3D_ICT_CONVERTER_H_
