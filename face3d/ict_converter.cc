#include "face3d/ict_converter.h"

#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "face3d/model_file.h"
#include "face3d/morphable_model.h"

namespace faceanime::face3d {
namespace {

namespace fs = std::filesystem;
namespace mf = model_file;

[[noreturn]] void Fail(const fs::path& file, const std::string& what) {
  throw ConversionError("ICT-FaceKit conversion: '" + file.string() + "': " + what);
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail(path, "cannot open (missing file?)");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Parses one floating-point token starting at `p`; advances `p`.
bool ParseFloat(const char*& p, const char* end, float* out) {
  while (p < end && (*p == ' ' || *p == '\t')) ++p;
  char* next = nullptr;
  *out = std::strtof(p, &next);
  if (next == p) return false;
  p = next;
  return true;
}

// Reads every `v x y z` line of an OBJ file.
std::vector<float> ReadObjVertices(const fs::path& path) {
  const std::string text = ReadFile(path);
  std::vector<float> v;
  v.reserve(26719 * 3);
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    const char* eol = static_cast<const char*>(std::memchr(p, '\n', end - p));
    if (eol == nullptr) eol = end;
    if (eol - p > 2 && p[0] == 'v' && p[1] == ' ') {
      const char* q = p + 2;
      float x, y, z;
      if (!ParseFloat(q, eol, &x) || !ParseFloat(q, eol, &y) || !ParseFloat(q, eol, &z)) {
        Fail(path, "malformed vertex line");
      }
      v.insert(v.end(), {x, y, z});
    }
    p = eol + 1;
  }
  return v;
}

struct NeutralMesh {
  std::vector<float> vertices;              // 3 per vertex.
  std::vector<float> uvs;                   // 2 per texture coordinate.
  std::vector<std::vector<int>> polygons;   // Vertex indices, 0-based.
  std::vector<std::vector<int>> poly_uvs;   // UV indices, 0-based.
};

NeutralMesh ReadNeutralMesh(const fs::path& path) {
  const std::string text = ReadFile(path);
  NeutralMesh mesh;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("v ", 0) == 0 || line.rfind("vt ", 0) == 0) {
      const bool is_uv = line[1] == 't';
      const char* p = line.data() + (is_uv ? 3 : 2);
      const char* end = line.data() + line.size();
      const int count = is_uv ? 2 : 3;
      for (int k = 0; k < count; ++k) {
        float value;
        if (!ParseFloat(p, end, &value)) Fail(path, "malformed line: " + line);
        (is_uv ? mesh.uvs : mesh.vertices).push_back(value);
      }
    } else if (line.rfind("f ", 0) == 0) {
      std::istringstream tokens(line.substr(2));
      std::string token;
      std::vector<int> poly, poly_uv;
      while (tokens >> token) {
        // v, v/vt, v/vt/vn or v//vn.
        const size_t slash = token.find('/');
        const int v = std::atoi(token.substr(0, slash).c_str());
        int vt = 0;
        if (slash != std::string::npos && slash + 1 < token.size() && token[slash + 1] != '/') {
          vt = std::atoi(token.c_str() + slash + 1);
        }
        if (v <= 0 || vt <= 0) Fail(path, "face without vertex/texture index: " + line);
        poly.push_back(v - 1);
        poly_uv.push_back(vt - 1);
      }
      if (poly.size() < 3) Fail(path, "degenerate face: " + line);
      mesh.polygons.push_back(std::move(poly));
      mesh.poly_uvs.push_back(std::move(poly_uv));
    }
  }
  if (mesh.vertices.empty() || mesh.polygons.empty()) Fail(path, "no vertices or faces");
  return mesh;
}

std::vector<int> ParseIntList(const std::string& line) {
  std::vector<int> out;
  std::istringstream ss(line);
  std::string token;
  while (std::getline(ss, token, ',')) {
    const char* b = token.data();
    while (*b == ' ' || *b == '\t') ++b;
    int value = 0;
    auto [ptr, ec] = std::from_chars(b, token.data() + token.size(), value);
    if (ec == std::errc()) out.push_back(value);
  }
  return out;
}

// The first indented, comma-separated list after the line containing `title`.
std::vector<int> ReadmeList(const std::string& readme, const fs::path& path, const std::string& title) {
  const size_t at = readme.find(title);
  if (at == std::string::npos) Fail(path, "section '" + title + "' not found");
  std::istringstream rest(readme.substr(at));
  std::string line;
  std::getline(rest, line);  // The title line itself.
  while (std::getline(rest, line)) {
    if (line.find(',') != std::string::npos) return ParseIntList(line);
  }
  Fail(path, "no index list after '" + title + "'");
}

struct ReadmeInfo {
  struct Part {
    std::string name;
    int v0, v1, p0, p1;  // Inclusive ranges, as printed upstream.
  };
  std::vector<Part> parts;
  std::vector<int> landmarks, jaw_right, jaw_left, jaw_right_ext, jaw_left_ext;
  struct Au {
    std::string name, description;
    std::vector<std::string> shapes;
  };
  std::vector<Au> aus;
};

std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  const size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

ReadmeInfo ParseReadme(const fs::path& path) {
  const std::string readme = ReadFile(path);
  ReadmeInfo info;
  // Part table: the first table whose rows look like "| #N | Name | [a:b] | [c:d] | ...".
  const std::regex part_row(R"(^\|\s*#(\d+)\s*\|\s*([^|]+?)\s*\|\s*\[(\d+):(\d+)\]\s*\|\s*\[(\d+):(\d+)\])");
  const std::regex au_row(R"(^\|\s*(AU\d+)\s+([^|]+?)\s*\|\s*([^|]+?)\s*\|)");
  std::istringstream lines(readme);
  std::string line;
  bool in_first_table = false, first_table_done = false;
  while (std::getline(lines, line)) {
    std::smatch m;
    if (!first_table_done && std::regex_search(line, m, part_row)) {
      in_first_table = true;
      info.parts.push_back({m[2].str(), std::stoi(m[3].str()), std::stoi(m[4].str()),
                            std::stoi(m[5].str()), std::stoi(m[6].str())});
    } else if (in_first_table && !first_table_done && Trim(line).empty()) {
      first_table_done = true;
    } else if (std::regex_search(line, m, au_row)) {
      ReadmeInfo::Au au{m[1].str(), m[2].str(), {}};
      // "Jaw sideways (left)" / "(right)" are two rows of AU30: name them AU30L / AU30R.
      if (au.description.find("(left)") != std::string::npos) au.name += "L";
      if (au.description.find("(right)") != std::string::npos) au.name += "R";
      std::istringstream shapes(m[3].str());
      std::string shape;
      while (std::getline(shapes, shape, '+')) au.shapes.push_back(Trim(shape));
      info.aus.push_back(std::move(au));
    }
  }
  if (info.parts.size() != kNumParts) {
    Fail(path, "expected " + std::to_string(kNumParts) + " rows in the geometry table, found " +
                   std::to_string(info.parts.size()));
  }
  if (info.aus.empty()) Fail(path, "FACS table not found");
  info.landmarks = ReadmeList(readme, path, "Multi-PIE 68 point facial landmarks indices");
  info.jaw_right = ReadmeList(readme, path, "Right jawline (");
  info.jaw_left = ReadmeList(readme, path, "Left jawline (");
  info.jaw_right_ext = ReadmeList(readme, path, "Right extended jawline");
  info.jaw_left_ext = ReadmeList(readme, path, "Left extended jawline");
  return info;
}

class SectionWriter {
 public:
  void AddFloat(const std::string& name, std::vector<uint64_t> dims, const std::vector<float>& data) {
    Add(name, mf::DType::kFloat32, std::move(dims), data.data(), data.size() * sizeof(float));
  }
  void AddInt(const std::string& name, std::vector<uint64_t> dims, const std::vector<int32_t>& data) {
    Add(name, mf::DType::kInt32, std::move(dims), data.data(), data.size() * sizeof(int32_t));
  }
  void AddText(const std::string& name, const std::string& text) {
    Add(name, mf::DType::kUtf8, {text.size()}, text.data(), text.size());
  }

  // Lays out header + TOC + aligned payloads; returns the whole file.
  std::vector<uint8_t> Finish() const {
    const size_t toc_bytes = sizeof(mf::FileHeader) + entries_.size() * sizeof(mf::SectionEntry);
    size_t offset = Align(toc_bytes);
    std::vector<mf::SectionEntry> entries = entries_;
    for (size_t i = 0; i < entries.size(); ++i) {
      entries[i].offset = offset;
      offset = Align(offset + payloads_[i].size());
    }
    std::vector<uint8_t> file(offset, 0);
    for (size_t i = 0; i < entries.size(); ++i) {
      std::memcpy(file.data() + entries[i].offset, payloads_[i].data(), payloads_[i].size());
      std::memcpy(file.data() + sizeof(mf::FileHeader) + i * sizeof(mf::SectionEntry), &entries[i],
                  sizeof(mf::SectionEntry));
    }
    mf::FileHeader header{};
    std::memcpy(header.magic, mf::kMagic, sizeof(header.magic));
    header.version = mf::kVersion;
    header.num_sections = static_cast<uint32_t>(entries.size());
    header.file_size = file.size();
    header.checksum = mf::Checksum64(file.data() + sizeof(header), file.size() - sizeof(header));
    std::memcpy(file.data(), &header, sizeof(header));
    return file;
  }

 private:
  static size_t Align(size_t n) { return (n + mf::kAlignment - 1) / mf::kAlignment * mf::kAlignment; }

  void Add(const std::string& name, mf::DType type, std::vector<uint64_t> dims, const void* data, size_t bytes) {
    mf::SectionEntry e{};
    std::strncpy(e.name, name.c_str(), sizeof(e.name) - 1);
    e.dtype = static_cast<uint32_t>(type);
    e.rank = static_cast<uint32_t>(dims.size());
    for (size_t k = 0; k < dims.size() && k < 3; ++k) e.dims[k] = dims[k];
    e.bytes = bytes;
    entries_.push_back(e);
    const auto* p = static_cast<const uint8_t*>(data);
    payloads_.emplace_back(p, p + bytes);
  }

  std::vector<mf::SectionEntry> entries_;
  std::vector<std::vector<uint8_t>> payloads_;
};

}  // namespace

ConvertIctReport ConvertIctFaceKit(const ConvertIctOptions& options) {
  const fs::path& dir = options.input_dir;
  if (!fs::is_directory(dir)) Fail(dir, "not a directory (expected ICT-FaceKit's FaceXModel folder)");

  fs::path readme_path = dir / "UPSTREAM_README.md";
  if (!fs::exists(readme_path)) readme_path = dir / "README.md";
  const ReadmeInfo readme = ParseReadme(readme_path);

  const fs::path json_path = dir / "vertex_indices.json";
  nlohmann::json indices;
  try {
    indices = nlohmann::json::parse(ReadFile(json_path));
  } catch (const nlohmann::json::exception& e) {
    Fail(json_path, std::string("malformed JSON: ") + e.what());
  }
  std::vector<std::string> expression_names;
  std::vector<int> landmarks, fitting, rigid;
  try {
    expression_names = indices.at("expressions").get<std::vector<std::string>>();
    landmarks = indices.at("idx_to_landmark_verts").get<std::vector<int>>();
    fitting = indices.at("idx_to_fitting_verts").get<std::vector<int>>();
    rigid = indices.at("idx_to_rigid_verts").get<std::vector<int>>();
  } catch (const nlohmann::json::exception& e) {
    Fail(json_path, std::string("missing key: ") + e.what());
  }
  if (expression_names.size() != kNumExpressionShapes) Fail(json_path, "expected 53 expressions");
  if (landmarks != readme.landmarks) Fail(json_path, "landmark vertices disagree with the README");

  const NeutralMesh mesh = ReadNeutralMesh(dir / "generic_neutral_mesh.obj");
  const size_t nv = mesh.vertices.size() / 3;
  const size_t n3 = nv * 3;

  auto read_delta = [&](const fs::path& path, std::vector<float>* out) {
    const std::vector<float> v = ReadObjVertices(path);
    if (v.size() != n3) {
      Fail(path, "has " + std::to_string(v.size() / 3) + " vertices, the neutral mesh has " + std::to_string(nv));
    }
    for (size_t k = 0; k < n3; ++k) out->push_back(v[k] - mesh.vertices[k]);
  };
  std::vector<float> identity;
  identity.reserve(kNumIdentityShapes * n3);
  for (int i = 0; i < kNumIdentityShapes; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "identity%03d.obj", i);
    read_delta(dir / name, &identity);
  }
  std::vector<float> expression;
  expression.reserve(kNumExpressionShapes * n3);
  for (const auto& name : expression_names) read_delta(dir / (name + ".obj"), &expression);

  // Triangulate: polygon (a, b, c, d) -> (a, b, c), (a, c, d). Keeps the OBJ winding.
  std::vector<int32_t> tris, tri_uvs;
  std::vector<int> first_triangle_of_polygon(mesh.polygons.size() + 1, 0);
  for (size_t p = 0; p < mesh.polygons.size(); ++p) {
    first_triangle_of_polygon[p] = static_cast<int>(tris.size() / 3);
    const auto& poly = mesh.polygons[p];
    const auto& puv = mesh.poly_uvs[p];
    for (size_t k = 1; k + 1 < poly.size(); ++k) {
      tris.insert(tris.end(), {poly[0], poly[k], poly[k + 1]});
      tri_uvs.insert(tri_uvs.end(), {puv[0], puv[k], puv[k + 1]});
    }
  }
  first_triangle_of_polygon[mesh.polygons.size()] = static_cast<int>(tris.size() / 3);
  const int num_uvs = static_cast<int>(mesh.uvs.size() / 2);
  for (size_t k = 0; k < tris.size(); ++k) {
    if (tris[k] < 0 || tris[k] >= static_cast<int>(nv) || tri_uvs[k] < 0 || tri_uvs[k] >= num_uvs) {
      Fail(dir / "generic_neutral_mesh.obj", "face index out of range");
    }
  }

  nlohmann::json meta;
  meta["expression_names"] = expression_names;
  meta["parts"] = nlohmann::json::array();
  for (const auto& part : readme.parts) {
    if (part.v1 >= static_cast<int>(nv) || part.p1 >= static_cast<int>(mesh.polygons.size())) {
      Fail(readme_path, "part '" + part.name + "' is out of range of the mesh");
    }
    meta["parts"].push_back({{"name", part.name},
                             {"vertices", {part.v0, part.v1 + 1}},
                             {"polygons", {part.p0, part.p1 + 1}},
                             {"triangles",
                              {first_triangle_of_polygon[part.p0], first_triangle_of_polygon[part.p1 + 1]}}});
  }
  meta["landmarks68"] = landmarks;
  meta["jawline"] = {{"right", readme.jaw_right},
                     {"left", readme.jaw_left},
                     {"right_extended", readme.jaw_right_ext},
                     {"left_extended", readme.jaw_left_ext}};
  meta["action_units"] = nlohmann::json::array();
  for (const auto& au : readme.aus) {
    std::vector<int> shapes;
    for (const auto& s : au.shapes) {
      const auto it = std::find(expression_names.begin(), expression_names.end(), s);
      if (it == expression_names.end()) Fail(readme_path, au.name + " names unknown shape '" + s + "'");
      shapes.push_back(static_cast<int>(it - expression_names.begin()));
    }
    meta["action_units"].push_back({{"name", au.name}, {"description", au.description}, {"shapes", shapes}});
  }
  meta["fitting_vertices"] = fitting;
  meta["rigid_vertices"] = rigid;
  meta["provenance"] = options.provenance;
  meta["units"] = "centimetres";

  SectionWriter writer;
  writer.AddText("metadata", meta.dump());
  writer.AddFloat("neutral", {nv, 3}, mesh.vertices);
  writer.AddFloat("identity", {kNumIdentityShapes, nv, 3}, identity);
  writer.AddFloat("expression", {kNumExpressionShapes, nv, 3}, expression);
  writer.AddFloat("uv", {static_cast<uint64_t>(num_uvs), 2}, mesh.uvs);
  writer.AddInt("triangles", {tris.size() / 3, 3}, tris);
  writer.AddInt("triangle_uvs", {tri_uvs.size() / 3, 3}, tri_uvs);
  const std::vector<uint8_t> file = writer.Finish();

  if (!options.output.parent_path().empty()) fs::create_directories(options.output.parent_path());
  const fs::path tmp = options.output.string() + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) Fail(tmp, "cannot write");
    out.write(reinterpret_cast<const char*>(file.data()), static_cast<std::streamsize>(file.size()));
    if (!out) {
      out.close();
      fs::remove(tmp);
      Fail(options.output, "write failed (disk full?)");
    }
  }
  fs::rename(tmp, options.output);

  ConvertIctReport report;
  report.num_vertices = static_cast<int>(nv);
  report.num_triangles = static_cast<int>(tris.size() / 3);
  report.num_uvs = num_uvs;
  report.file_bytes = file.size();
  return report;
}

}  // namespace faceanime::face3d
