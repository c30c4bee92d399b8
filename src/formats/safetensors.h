// safetensors files (Hugging Face checkpoints): a bounds-checked reader over a memory map.
// Layout: u64 little-endian header length N, N bytes of JSON, then the data section.
// The JSON maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// relative to the data section, row-major, little-endian) plus an optional "__metadata__"
// object of strings. The file is untrusted: the header length, every shape, offset and
// size is checked before use, tensors may not overlap or reach past the end, and a
// malformed file throws SafetensorsError naming the file, the tensor and the problem.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace st {

class SafetensorsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The element types a SmallThinker checkpoint uses. Other safetensors dtypes (F64, I64,
// U8, F8_E4M3, ...) are rejected by name.
enum class SafetensorsDtype { F32, F16, BF16 };
std::string_view safetensors_dtype_name(SafetensorsDtype dtype);  // "F32", "F16", "BF16"
size_t safetensors_dtype_size(SafetensorsDtype dtype);

struct SafetensorsTensor {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::F32;
  std::vector<int64_t> shape;    // row-major as stored: a HF Linear weight is [out, in]
  uint64_t begin = 0, end = 0;   // byte range in the data section (validated)
  uint64_t file_offset = 0;      // absolute position of the first byte in the file
  const uint8_t* data = nullptr; // into the mapping; valid while the SafetensorsFile lives;
                                 // no alignment is guaranteed (copy before typed access)

  int64_t n_elements() const;
  uint64_t n_bytes() const { return end - begin; }
};

class SafetensorsFile {
 public:
  // The JSON header may not exceed this (the format's own reference limit): a hostile
  // length cannot make the reader allocate gigabytes.
  static constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;

  // Maps the file read-only. Throws SafetensorsError (message starts with the path).
  static std::unique_ptr<SafetensorsFile> open(const std::string& path);
  // Parses bytes already in memory (kept by reference: they must outlive the object).
  static std::unique_ptr<SafetensorsFile> parse(const uint8_t* bytes, size_t size, std::string name = "<memory>");
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t file_size() const { return size_; }
  uint64_t data_offset() const { return data_offset_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Tensors in data-offset order.
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  const SafetensorsTensor* find(std::string_view name) const;

  // Tells the kernel that bytes [begin, end) of tensor `t` are no longer needed, so the pages
  // of the mapping leave this process's resident set (streaming a file larger than RAM).
  // A no-op for parsed memory.
  void release(const SafetensorsTensor& t, uint64_t begin, uint64_t end) const;

 private:
  SafetensorsFile() = default;
  void parse_all();

  std::string path_;
  const uint8_t* bytes_ = nullptr;
  size_t size_ = 0;
  void* mapping_ = nullptr;  // owned mmap when opened from a path
  uint64_t data_offset_ = 0;
  std::map<std::string, std::string> metadata_;
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
};

}  // namespace st
