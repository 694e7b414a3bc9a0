// Reader for TensorFlow.js "weights manifest" files (the format of the npm
// face-api.js models: <name>-weights_manifest.json + one or more .bin shards).
//
// The manifest is a JSON array of groups {"paths": [shard files], "weights":
// [{"name", "shape", "dtype", "quantization"?}]}. A group's tensors lie back to
// back in the concatenation of its shards, in manifest order. Supported:
//   * dtype "float32" unquantised (little-endian IEEE float32);
//   * dtype "int32" (converted to float);
//   * quantization {"dtype": "uint8"|"uint16", "scale", "min"}: value =
//     q * scale + min (TF.js's affine dequantisation);
//   * quantization {"dtype": "float16"}: IEEE half floats.
// Values keep TF.js's layout: row-major over `shape` (e.g. conv filters are
// [height, width, in_channels, out_channels], dense weights [in, out]).
#ifndef FACEANIME_FACE3D_TFJS_WEIGHTS_H_
#define FACEANIME_FACE3D_TFJS_WEIGHTS_H_

#include <cstdint>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace faceanime::face3d {

// Thrown for a missing, unreadable, truncated or malformed manifest or shard.
// what() names the file and the fix (re-run tools/setup).
class TfjsWeightsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One dequantised tensor.
struct TfjsTensor {
  std::vector<int64_t> shape;  // TF.js shape, e.g. {3, 3, 32, 1}.
  std::vector<float> values;   // Row-major over `shape`.

  int64_t size() const { return static_cast<int64_t>(values.size()); }
};

// The folder of the npm face-api.js models that tools/setup fetches:
// FaceanimeDataDir()/npm/@vladmandic_face-api@1.7.15/model.
std::filesystem::path DefaultFaceApiModelDir();

class TfjsWeights {
 public:
  // Reads `manifest_path` and the shards it names (resolved next to it),
  // dequantising every tensor. Throws TfjsWeightsError naming the file when
  // the manifest or a shard is missing or corrupt, or when the shards' total
  // size does not match what the manifest describes.
  static TfjsWeights Load(const std::filesystem::path& manifest_path);

  bool Contains(std::string_view name) const;
  // The tensor `name`. Throws TfjsWeightsError naming the manifest and the
  // tensor when absent.
  const TfjsTensor& Get(std::string_view name) const;
  // As Get(), and also checks the shape (throws naming the tensor when it differs).
  const TfjsTensor& Get(std::string_view name, const std::vector<int64_t>& expected_shape) const;
  // Tensor names in manifest order.
  const std::vector<std::string>& names() const { return names_; }
  const std::filesystem::path& manifest_path() const { return manifest_path_; }

 private:
  std::filesystem::path manifest_path_;
  std::vector<std::string> names_;
  std::map<std::string, TfjsTensor, std::less<>> tensors_;
};

}  // namespace faceanime::face3d

#endif  // FACEANIME_FACE3D_TFJS_WEIGHTS_H_
