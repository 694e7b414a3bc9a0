#include "face3d/morphable_model.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>

#include <nlohmann/json.hpp>

#include "face3d/data_paths.h"
#include "face3d/model_file.h"

namespace faceanime::face3d {
namespace {

namespace mf = model_file;

std::string FixHint() {
  return std::string(" Rebuild it with `") + kSetupCommand +
         "` (or `faceanime convert-ict --input <ICT-FaceKit FaceXModel dir> --output <file>`).";
}

[[noreturn]] void Fail(const std::filesystem::path& path, const std::string& what) {
  throw ModelFileError("morphable model file '" + path.string() + "': " + what + "." + FixHint());
}

}  // namespace

struct MorphableModel::Mapping {
  void* data = MAP_FAILED;
  size_t size = 0;
  ~Mapping() {
    if (data != MAP_FAILED) munmap(data, size);
  }
};

std::filesystem::path MorphableModel::DefaultPath() {
  return FaceanimeDataDir() / "ict_face_model.fam";
}

MorphableModel MorphableModel::Load(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Fail(path, std::string("cannot open (") + std::strerror(errno) + ")");
  struct stat st{};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    Fail(path, "cannot stat");
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->size = static_cast<size_t>(st.st_size);
  if (mapping->size < sizeof(mf::FileHeader)) {
    ::close(fd);
    Fail(path, "file is truncated (" + std::to_string(mapping->size) + " bytes)");
  }
  mapping->data = mmap(nullptr, mapping->size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  ::close(fd);
  if (mapping->data == MAP_FAILED) Fail(path, "cannot memory-map");

  const auto* base = static_cast<const uint8_t*>(mapping->data);
  mf::FileHeader header;
  std::memcpy(&header, base, sizeof(header));
  if (std::memcmp(header.magic, mf::kMagic, sizeof(mf::kMagic)) != 0) {
    Fail(path, "not a faceanime model file (bad magic)");
  }
  if (header.version != mf::kVersion) {
    Fail(path, "file format version " + std::to_string(header.version) +
                   ", this build reads version " + std::to_string(mf::kVersion));
  }
  if (header.file_size != mapping->size) {
    Fail(path, "file is truncated or padded: header says " + std::to_string(header.file_size) +
                   " bytes, file has " + std::to_string(mapping->size));
  }
  if (mf::Checksum64(base + sizeof(header), mapping->size - sizeof(header)) != header.checksum) {
    Fail(path, "checksum mismatch (file is corrupt)");
  }
  const size_t toc_end = sizeof(header) + header.num_sections * sizeof(mf::SectionEntry);
  if (toc_end > mapping->size) Fail(path, "table of contents runs past the end of the file");

  std::map<std::string, mf::SectionEntry> sections;
  for (uint32_t i = 0; i < header.num_sections; ++i) {
    mf::SectionEntry e;
    std::memcpy(&e, base + sizeof(header) + i * sizeof(e), sizeof(e));
    if (e.offset + e.bytes > mapping->size || e.offset % mf::kAlignment != 0) {
      Fail(path, "section out of bounds or misaligned");
    }
    sections[std::string(e.name, strnlen(e.name, sizeof(e.name)))] = e;
  }
  auto section = [&](const std::string& name, mf::DType type) -> const mf::SectionEntry& {
    auto it = sections.find(name);
    if (it == sections.end()) Fail(path, "missing section '" + name + "'");
    if (it->second.dtype != static_cast<uint32_t>(type)) Fail(path, "section '" + name + "' has the wrong type");
    return it->second;
  };

  MorphableModel model;
  model.mapping_ = mapping;
  model.path_ = path;

  const auto& neutral = section("neutral", mf::DType::kFloat32);
  const auto& identity = section("identity", mf::DType::kFloat32);
  const auto& expression = section("expression", mf::DType::kFloat32);
  const uint64_t nv = neutral.dims[0];
  if (neutral.rank != 2 || neutral.dims[1] != 3 || neutral.bytes != nv * 3 * sizeof(float)) {
    Fail(path, "section 'neutral' has the wrong shape");
  }
  if (identity.dims[0] != kNumIdentityShapes || identity.dims[1] != nv ||
      identity.bytes != identity.dims[0] * nv * 3 * sizeof(float)) {
    Fail(path, "section 'identity' has the wrong shape");
  }
  if (expression.dims[0] != kNumExpressionShapes || expression.dims[1] != nv ||
      expression.bytes != expression.dims[0] * nv * 3 * sizeof(float)) {
    Fail(path, "section 'expression' has the wrong shape");
  }
  model.num_vertices_ = static_cast<int>(nv);
  model.neutral_ = reinterpret_cast<const float*>(base + neutral.offset);
  model.identity_ = reinterpret_cast<const float*>(base + identity.offset);
  model.expression_ = reinterpret_cast<const float*>(base + expression.offset);

  auto read_triangles = [&](const std::string& name, int max_index) {
    const auto& s = section(name, mf::DType::kInt32);
    if (s.rank != 2 || s.dims[1] != 3 || s.bytes != s.dims[0] * 3 * sizeof(int32_t)) {
      Fail(path, "section '" + name + "' has the wrong shape");
    }
    std::vector<Triangle> tris(s.dims[0]);
    std::memcpy(tris.data(), base + s.offset, s.bytes);
    for (const auto& t : tris) {
      for (int k : t) {
        if (k < 0 || k >= max_index) Fail(path, "section '" + name + "' has an index out of range");
      }
    }
    return tris;
  };

  const auto& uv = section("uv", mf::DType::kFloat32);
  if (uv.rank != 2 || uv.dims[1] != 2 || uv.bytes != uv.dims[0] * 2 * sizeof(float)) {
    Fail(path, "section 'uv' has the wrong shape");
  }
  model.uv_.resize(uv.dims[0]);
  std::memcpy(model.uv_.data(), base + uv.offset, uv.bytes);
  model.triangles_ = read_triangles("triangles", model.num_vertices_);
  model.triangle_uvs_ = read_triangles("triangle_uvs", static_cast<int>(uv.dims[0]));
  if (model.triangle_uvs_.size() != model.triangles_.size()) Fail(path, "triangle and UV counts differ");

  const auto& meta_section = section("metadata", mf::DType::kUtf8);
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(
        std::string_view(reinterpret_cast<const char*>(base + meta_section.offset), meta_section.bytes));
    model.expression_names_ = meta.at("expression_names").get<std::vector<std::string>>();
    if (model.expression_names_.size() != kNumExpressionShapes) Fail(path, "wrong number of expression names");
    for (const auto& p : meta.at("parts")) {
      PartInfo info;
      info.name = p.at("name").get<std::string>();
      info.vertices = {p.at("vertices")[0].get<int>(), p.at("vertices")[1].get<int>()};
      info.polygons = {p.at("polygons")[0].get<int>(), p.at("polygons")[1].get<int>()};
      info.triangles = {p.at("triangles")[0].get<int>(), p.at("triangles")[1].get<int>()};
      model.parts_.push_back(std::move(info));
    }
    if (model.parts_.size() != kNumParts) Fail(path, "wrong number of mesh parts");
    const auto lms = meta.at("landmarks68").get<std::vector<int>>();
    if (lms.size() != kNumLandmarks) Fail(path, "wrong number of landmarks");
    std::copy(lms.begin(), lms.end(), model.landmarks_.begin());
    const auto& jaw = meta.at("jawline");
    model.jawline_.right = jaw.at("right").get<std::vector<int>>();
    model.jawline_.left = jaw.at("left").get<std::vector<int>>();
    model.jawline_.right_extended = jaw.at("right_extended").get<std::vector<int>>();
    model.jawline_.left_extended = jaw.at("left_extended").get<std::vector<int>>();
    for (const auto& au : meta.at("action_units")) {
      model.action_units_.push_back({au.at("name").get<std::string>(),
                                     au.at("description").get<std::string>(),
                                     au.at("shapes").get<std::vector<int>>()});
    }
    model.fitting_vertices_ = meta.at("fitting_vertices").get<std::vector<int>>();
    model.rigid_vertices_ = meta.at("rigid_vertices").get<std::vector<int>>();
    model.provenance_ = meta.value("provenance", std::string());
  } catch (const nlohmann::json::exception& e) {
    Fail(path, std::string("metadata is malformed (") + e.what() + ")");
  }
  auto check_vertex = [&](int v) {
    if (v < 0 || v >= model.num_vertices_) Fail(path, "metadata vertex index out of range");
  };
  for (int v : model.landmarks_) check_vertex(v);
  for (const auto* list : {&model.jawline_.right, &model.jawline_.left, &model.jawline_.right_extended,
                           &model.jawline_.left_extended, &model.fitting_vertices_, &model.rigid_vertices_}) {
    for (int v : *list) check_vertex(v);
  }
  for (const auto& au : model.action_units_) {
    for (int s : au.shapes) {
      if (s < 0 || s >= kNumExpressionShapes) Fail(path, "action unit shape index out of range");
    }
  }
  return model;
}

const float* MorphableModel::identity_delta(int i) const {
  return identity_ + static_cast<size_t>(i) * num_vertices_ * 3;
}

const float* MorphableModel::expression_delta(int j) const {
  return expression_ + static_cast<size_t>(j) * num_vertices_ * 3;
}

int MorphableModel::ExpressionIndex(std::string_view name) const {
  for (size_t j = 0; j < expression_names_.size(); ++j) {
    if (expression_names_[j] == name) return static_cast<int>(j);
  }
  return -1;
}

namespace {

void CheckCoefficientCounts(size_t identity, size_t expression) {
  if (identity > kNumIdentityShapes || expression > kNumExpressionShapes) {
    throw std::invalid_argument("MorphableModel: more coefficients than shapes (identity " +
                                std::to_string(identity) + "/100, expression " +
                                std::to_string(expression) + "/53)");
  }
}

}  // namespace

Vertices MorphableModel::Evaluate(std::span<const double> identity,
                                  std::span<const double> expression) const {
  CheckCoefficientCounts(identity.size(), expression.size());
  const size_t n = static_cast<size_t>(num_vertices_) * 3;
  Vertices out(num_vertices_, 3);
  float* dst = out.data();
  std::memcpy(dst, neutral_, n * sizeof(float));
  auto accumulate = [&](const float* delta, double w) {
    if (w == 0.0) return;
    const float wf = static_cast<float>(w);
    for (size_t k = 0; k < n; ++k) dst[k] += wf * delta[k];
  };
  for (size_t i = 0; i < identity.size(); ++i) accumulate(identity_delta(static_cast<int>(i)), identity[i]);
  for (size_t j = 0; j < expression.size(); ++j) accumulate(expression_delta(static_cast<int>(j)), expression[j]);
  return out;
}

Vertices MorphableModel::EvaluateSubset(std::span<const int> vertex_ids,
                                        std::span<const double> identity,
                                        std::span<const double> expression) const {
  CheckCoefficientCounts(identity.size(), expression.size());
  Vertices out(static_cast<Eigen::Index>(vertex_ids.size()), 3);
  for (size_t r = 0; r < vertex_ids.size(); ++r) {
    const int v = vertex_ids[r];
    if (v < 0 || v >= num_vertices_) throw std::out_of_range("MorphableModel: vertex id out of range");
    for (int c = 0; c < 3; ++c) {
      const size_t k = static_cast<size_t>(v) * 3 + c;
      double value = neutral_[k];
      for (size_t i = 0; i < identity.size(); ++i) value += identity[i] * identity_delta(static_cast<int>(i))[k];
      for (size_t j = 0; j < expression.size(); ++j) value += expression[j] * expression_delta(static_cast<int>(j))[k];
      out(static_cast<Eigen::Index>(r), c) = static_cast<float>(value);
    }
  }
  return out;
}

SubsetBasis SubsetBasis::Create(const MorphableModel& model, std::span<const int> vertex_ids) {
  SubsetBasis b;
  b.vertex_ids.assign(vertex_ids.begin(), vertex_ids.end());
  const int n = static_cast<int>(vertex_ids.size());
  b.mean.resize(3 * n);
  b.identity.resize(3 * n, kNumIdentityShapes);
  b.expression.resize(3 * n, kNumExpressionShapes);
  for (int r = 0; r < n; ++r) {
    const int v = vertex_ids[r];
    if (v < 0 || v >= model.num_vertices()) throw std::out_of_range("SubsetBasis: vertex id out of range");
    for (int c = 0; c < 3; ++c) {
      const size_t k = static_cast<size_t>(v) * 3 + c;
      b.mean(3 * r + c) = model.neutral()[k];
      for (int i = 0; i < kNumIdentityShapes; ++i) b.identity(3 * r + c, i) = model.identity_delta(i)[k];
      for (int j = 0; j < kNumExpressionShapes; ++j) b.expression(3 * r + c, j) = model.expression_delta(j)[k];
    }
  }
  return b;
}

}  // namespace faceanime::face3d
