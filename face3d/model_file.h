// The faceanime runtime model file (".fam"): layout and helpers shared by the
// writer (ict_converter.cc) and the reader (morphable_model.cc).
//
// Layout, all little-endian, every section 64-byte aligned:
//   FileHeader (64 bytes)
//   SectionEntry[num_sections] (table of contents)
//   section payloads
// `checksum` is Checksum64() over every byte after the header. A reader rejects
// a file whose magic, version, size or checksum does not match.
#ifndef FACEANIME_FACE3D_MODEL_FILE_H_
#define FACEANIME_FACE3D_MODEL_FILE_H_

#include <cstddef>
#include <cstdint>

namespace faceanime::face3d::model_file {

inline constexpr char kMagic[8] = {'F', 'A', 'M', 'O', 'D', 'E', 'L', '\0'};
inline constexpr uint32_t kVersion = 1;
inline constexpr size_t kAlignment = 64;

struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t num_sections;
  uint64_t file_size;  // Total bytes, header included.
  uint64_t checksum;   // Checksum64 of bytes [sizeof(FileHeader), file_size).
  uint8_t reserved[32];
};
static_assert(sizeof(FileHeader) == 64);

enum class DType : uint32_t { kFloat32 = 1, kInt32 = 2, kUtf8 = 3 };

struct SectionEntry {
  char name[32];    // NUL-padded section name, e.g. "neutral".
  uint32_t dtype;   // DType.
  uint32_t rank;    // Number of used dims.
  uint64_t dims[3];
  uint64_t offset;  // From the start of the file.
  uint64_t bytes;
};
static_assert(sizeof(SectionEntry) == 32 + 8 + 24 + 16);

// A fast 64-bit checksum (four multiply-xor lanes over 8-byte words, then a
// byte tail). Detects truncation and corruption; not cryptographic.
uint64_t Checksum64(const void* data, size_t size);

}  // namespace faceanime::face3d::model_file

#endif  // FACEANIME_FACE3D_MODEL_FILE_H_
