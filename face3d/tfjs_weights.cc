#include "face3d/tfjs_weights.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include <nlohmann/json.hpp>

#include "face3d/data_paths.h"

namespace faceanime::face3d {
namespace {

[[noreturn]] void Fail(const std::filesystem::path& file, const std::string& reason) {
  throw TfjsWeightsError("TF.js weights file " + file.string() + ": " + reason + ". Re-run " +
                         kSetupCommand + " to fetch the face models again.");
}

std::vector<uint8_t> ReadAll(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) Fail(file, "cannot be opened (missing?)");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) Fail(file, "read error");
  return bytes;
}

// IEEE 754 binary16 -> float.
float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h >> 15) & 1u;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  float value;
  if (exponent == 0) {
    value = std::ldexp(static_cast<float>(mantissa), -24);
  } else if (exponent == 31) {
    value = mantissa == 0 ? INFINITY : NAN;
  } else {
    value = std::ldexp(static_cast<float>(mantissa | 0x400u), static_cast<int>(exponent) - 25);
  }
  return sign ? -value : value;
}

template <typename T>
T ReadLe(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));  // x86/ARM little-endian hosts.
  return value;
}

}  // namespace

std::filesystem::path DefaultFaceApiModelDir() {
  return FaceanimeDataDir() / "npm" / "@vladmandic_face-api@1.7.15" / "model";
}

TfjsWeights TfjsWeights::Load(const std::filesystem::path& manifest_path) {
  TfjsWeights weights;
  weights.manifest_path_ = manifest_path;
  const std::vector<uint8_t> manifest_bytes = ReadAll(manifest_path);
  nlohmann::json manifest;
  try {
    manifest = nlohmann::json::parse(manifest_bytes.begin(), manifest_bytes.end());
  } catch (const nlohmann::json::exception& e) {
    Fail(manifest_path, std::string("is not valid JSON (") + e.what() + ")");
  }
  if (!manifest.is_array() || manifest.empty()) Fail(manifest_path, "is not a weights manifest array");

  try {
    for (const nlohmann::json& group : manifest) {
      // Concatenate the group's shards.
      std::vector<uint8_t> data;
      std::filesystem::path last_shard = manifest_path;
      for (const nlohmann::json& shard : group.at("paths")) {
        last_shard = manifest_path.parent_path() / shard.get<std::string>();
        const std::vector<uint8_t> bytes = ReadAll(last_shard);
        data.insert(data.end(), bytes.begin(), bytes.end());
      }
      size_t offset = 0;
      for (const nlohmann::json& entry : group.at("weights")) {
        TfjsTensor tensor;
        const std::string name = entry.at("name").get<std::string>();
        int64_t count = 1;
        for (const nlohmann::json& dim : entry.at("shape")) {
          const int64_t d = dim.get<int64_t>();
          if (d < 0) Fail(manifest_path, "negative dimension in tensor '" + name + "'");
          tensor.shape.push_back(d);
          count *= d;
        }
        tensor.values.resize(static_cast<size_t>(count));
        const std::string dtype = entry.value("dtype", std::string("float32"));
        const auto need = [&](size_t bytes_per_value) {
          if (offset + bytes_per_value * static_cast<size_t>(count) > data.size()) {
            Fail(last_shard, "is truncated: tensor '" + name + "' runs past its end (" +
                                 std::to_string(data.size()) + " bytes in the group)");
          }
        };
        if (entry.contains("quantization")) {
          const nlohmann::json& q = entry.at("quantization");
          const std::string qtype = q.at("dtype").get<std::string>();
          if (qtype == "uint8" || qtype == "uint16") {
            const double scale = q.at("scale").get<double>();
            const double min = q.at("min").get<double>();
            const size_t width = qtype == "uint8" ? 1 : 2;
            need(width);
            for (int64_t i = 0; i < count; ++i) {
              const uint8_t* p = data.data() + offset + static_cast<size_t>(i) * width;
              const double qv = width == 1 ? *p : ReadLe<uint16_t>(p);
              tensor.values[i] = static_cast<float>(qv * scale + min);
            }
            offset += width * static_cast<size_t>(count);
          } else if (qtype == "float16") {
            need(2);
            for (int64_t i = 0; i < count; ++i) {
              tensor.values[i] = HalfToFloat(ReadLe<uint16_t>(data.data() + offset + 2 * i));
            }
            offset += 2 * static_cast<size_t>(count);
          } else {
            Fail(manifest_path, "unsupported quantization dtype '" + qtype + "' for '" + name + "'");
          }
        } else if (dtype == "float32") {
          need(4);
          for (int64_t i = 0; i < count; ++i) {
            tensor.values[i] = ReadLe<float>(data.data() + offset + 4 * i);
          }
          offset += 4 * static_cast<size_t>(count);
        } else if (dtype == "int32") {
          need(4);
          for (int64_t i = 0; i < count; ++i) {
            tensor.values[i] = static_cast<float>(ReadLe<int32_t>(data.data() + offset + 4 * i));
          }
          offset += 4 * static_cast<size_t>(count);
        } else {
          Fail(manifest_path, "unsupported dtype '" + dtype + "' for '" + name + "'");
        }
        for (float v : tensor.values) {
          if (!std::isfinite(v)) Fail(last_shard, "tensor '" + name + "' holds non-finite values");
        }
        if (weights.tensors_.count(name) != 0) {
          Fail(manifest_path, "tensor '" + name + "' is listed twice");
        }
        weights.names_.push_back(name);
        weights.tensors_.emplace(name, std::move(tensor));
      }
      if (offset != data.size()) {
        Fail(last_shard, "has " + std::to_string(data.size()) + " bytes but the manifest describes " +
                             std::to_string(offset));
      }
    }
  } catch (const nlohmann::json::exception& e) {
    Fail(manifest_path, std::string("is malformed (") + e.what() + ")");
  }
  return weights;
}

bool TfjsWeights::Contains(std::string_view name) const { return tensors_.find(name) != tensors_.end(); }

const TfjsTensor& TfjsWeights::Get(std::string_view name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) Fail(manifest_path_, "has no tensor '" + std::string(name) + "'");
  return it->second;
}

const TfjsTensor& TfjsWeights::Get(std::string_view name,
                                   const std::vector<int64_t>& expected_shape) const {
  const TfjsTensor& tensor = Get(name);
  if (tensor.shape != expected_shape) {
    std::ostringstream message;
    message << "tensor '" << name << "' has shape [";
    for (size_t i = 0; i < tensor.shape.size(); ++i) message << (i ? ", " : "") << tensor.shape[i];
    message << "], expected [";
    for (size_t i = 0; i < expected_shape.size(); ++i) message << (i ? ", " : "") << expected_shape[i];
    message << "]";
    Fail(manifest_path_, message.str());
  }
  return tensor;
}

}  // namespace faceanime::face3d
