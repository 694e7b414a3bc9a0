// The ICT-FaceKit linear morphable face model, loaded from faceanime's runtime
// model file (see tools `faceanime convert-ict` and face3d/ict_converter.h).
//
// Conventions (model space):
//   * Units: centimetres (as in ICT-FaceKit).
//   * Axes: right-handed; +X towards the subject's left, +Y up, +Z out of the
//     face (towards a viewer who looks at the subject). The tip of the nose is
//     near (0, 0.4, 13).
//   * Shape: v = neutral + sum_i identity[i] * I_i + sum_j expression[j] * E_j,
//     where I_i are the 100 identity PCA deltas (unit weight = one standard
//     deviation, so a N(0, 1) prior is appropriate) and E_j the 53 expression
//     deltas (ARKit names with _L/_R; weights in [0, 1]).
//   * "Left"/"right" in part and shape names are the subject's own.
#ifndef FACEANIME_FACE3D_MORPHABLE_MODEL_H_
#define FACEANIME_FACE3D_MORPHABLE_MODEL_H_

#include <array>
#include <filesystem>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <Eigen/Core>

namespace faceanime::face3d {

inline constexpr int kNumIdentityShapes = 100;
inline constexpr int kNumExpressionShapes = 53;
inline constexpr int kNumLandmarks = 68;

// Vertex positions, one row per vertex (x, y, z), model space, centimetres.
using Vertices = Eigen::Matrix<float, Eigen::Dynamic, 3, Eigen::RowMajor>;

// Thrown when a model file is missing, truncated, corrupt or of another
// version. what() names the file and how to rebuild it.
class ModelFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Mesh parts of the ICT topology, in file order (see the upstream README).
enum class Part {
  kFace = 0,
  kHeadAndNeck,
  kMouthSocket,
  kEyeSocketLeft,
  kEyeSocketRight,
  kGumsAndTongue,
  kTeeth,
  kEyeballLeft,
  kEyeballRight,
  kLacrimalFluidLeft,
  kLacrimalFluidRight,
  kEyeBlendLeft,
  kEyeBlendRight,
  kEyeOcclusionLeft,
  kEyeOcclusionRight,
  kEyelashesLeft,
  kEyelashesRight,
};
inline constexpr int kNumParts = 17;

// Half-open index range [begin, end).
struct IndexRange {
  int begin = 0;
  int end = 0;
  int size() const { return end - begin; }
  bool contains(int i) const { return i >= begin && i < end; }
};

struct PartInfo {
  std::string name;        // As in the upstream README, e.g. "Head and Neck".
  IndexRange vertices;     // Vertex indices of the part.
  IndexRange polygons;     // Polygon (quad/triangle) indices in the source OBJ.
  IndexRange triangles;    // Indices into MorphableModel::triangles(). Border
                           // triangles of head/neck, mouth and eye sockets also
                           // use face vertices (they stitch onto the face).
};

// One FACS action unit and the ICT expression shapes that realise it.
struct ActionUnitShapes {
  std::string name;                // "AU12", "AU30L", ...
  std::string description;         // "Lip corner puller".
  std::vector<int> shapes;         // Expression shape indices.
};

// Jawline contour candidates (ICT README): vertices that may carry Multi-PIE
// landmarks 0-7 (right) and 9-16 (left), and the extended supersets.
struct JawlineCandidates {
  std::vector<int> right;           // 8 vertices, substitute landmarks 0..7.
  std::vector<int> left;            // 8 vertices, substitute landmarks 9..16.
  std::vector<int> right_extended;  // 17 vertices, ordered top to chin.
  std::vector<int> left_extended;   // 17 vertices, ordered top to chin.
};

// Triangle as three vertex indices, counter-clockwise seen from outside the
// surface (the OBJ winding).
using Triangle = std::array<int, 3>;

class MorphableModel {
 public:
  // Loads a model file written by WriteModelFile(). Memory-maps it; verifies
  // magic, version, size and checksum. Throws ModelFileError naming the file.
  static MorphableModel Load(const std::filesystem::path& path);

  // The model file in the data directory (FaceanimeDataDir()/ict_face_model.fam).
  static std::filesystem::path DefaultPath();

  int num_vertices() const { return num_vertices_; }
  const std::filesystem::path& path() const { return path_; }

  // Raw (num_vertices x 3) row-major arrays in model space (centimetres).
  const float* neutral() const { return neutral_; }
  const float* identity_delta(int i) const;    // i in [0, 100).
  const float* expression_delta(int j) const;  // j in [0, 53).

  // Evaluates every vertex. Coefficient spans may be shorter than the full
  // count (missing ones are zero) but not longer.
  Vertices Evaluate(std::span<const double> identity,
                    std::span<const double> expression) const;
  // Evaluates only the given vertices (rows in the order given).
  Vertices EvaluateSubset(std::span<const int> vertex_ids,
                          std::span<const double> identity,
                          std::span<const double> expression) const;

  // Shape names and lookup. ExpressionIndex returns -1 when unknown.
  const std::vector<std::string>& expression_names() const { return expression_names_; }
  int ExpressionIndex(std::string_view name) const;

  const std::vector<Triangle>& triangles() const { return triangles_; }
  // Texture coordinates: uv() holds (u, v) pairs (OBJ convention, v up) in
  // UDIM tiles: floor(u) is the tile (0 face, 1 head/neck and sockets, 2 gums
  // and tongue, 3 teeth, ...), v in [0, 1]. triangle_uvs()[t][k] indexes uv()
  // for corner k of triangle t.
  const std::vector<Eigen::Vector2f>& uv() const { return uv_; }
  const std::vector<Triangle>& triangle_uvs() const { return triangle_uvs_; }

  const PartInfo& part(Part p) const { return parts_[static_cast<int>(p)]; }
  const std::vector<PartInfo>& parts() const { return parts_; }

  // Multi-PIE 68-point landmark vertices (0-based indices, upstream order).
  const std::array<int, kNumLandmarks>& landmark_vertices() const { return landmarks_; }
  const JawlineCandidates& jawline() const { return jawline_; }
  const std::vector<ActionUnitShapes>& action_units() const { return action_units_; }
  // Vertices the upstream fitting scripts use, and the rigid (skull) ones.
  const std::vector<int>& fitting_vertices() const { return fitting_vertices_; }
  const std::vector<int>& rigid_vertices() const { return rigid_vertices_; }

  // Provenance string stored by the converter (source folder, upstream commit).
  const std::string& provenance() const { return provenance_; }

 private:
  struct Mapping;
  std::shared_ptr<const Mapping> mapping_;
  std::filesystem::path path_;
  int num_vertices_ = 0;
  const float* neutral_ = nullptr;
  const float* identity_ = nullptr;
  const float* expression_ = nullptr;
  std::vector<std::string> expression_names_;
  std::vector<Triangle> triangles_;
  std::vector<Eigen::Vector2f> uv_;
  std::vector<Triangle> triangle_uvs_;
  std::vector<PartInfo> parts_;
  std::array<int, kNumLandmarks> landmarks_{};
  JawlineCandidates jawline_;
  std::vector<ActionUnitShapes> action_units_;
  std::vector<int> fitting_vertices_;
  std::vector<int> rigid_vertices_;
  std::string provenance_;
};

// A dense linear basis for a fixed vertex subset, for fast repeated
// evaluation (fitting): positions = mean + I * identity + E * expression,
// stacked as (x0, y0, z0, x1, ...). Model space, centimetres.
struct SubsetBasis {
  std::vector<int> vertex_ids;
  Eigen::VectorXd mean;                                        // 3n
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic> identity;   // 3n x 100
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic> expression; // 3n x 53

  static SubsetBasis Create(const MorphableModel& model, std::span<const int> vertex_ids);
  int size() const { return static_cast<int>(vertex_ids.size()); }
};

}  // namespace faceanime::face3d

#endif  // FACEANIME_FACE3D_MORPHABLE_MODEL_H_
