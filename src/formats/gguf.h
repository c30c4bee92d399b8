// GGUF v2/v3 files: a bounds-checked reader over a memory map (or any byte range) and a
// streaming writer. Layout: header, metadata key/values, tensor infos, padding to the
// alignment, tensor data. Every count, length and offset read from a file is checked
// against the file size before use: a malformed file throws GgufError naming the problem.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "formats/tensor_type.h"

namespace st {

class GgufError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class GgufValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
  BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
// "UINT32", "STRING", ...; "unknown" for ids outside the enum.
std::string_view gguf_value_type_name(GgufValueType t);
// UINT8..INT64 (the eight integer types).
bool gguf_is_integer_type(GgufValueType t);

// One metadata value. Scalars keep their on-disk type; arrays keep their element type.
// Integer arrays are widened to int64 (uint64 values above INT64_MAX are rejected) and
// float arrays to double, so readers need one accessor per kind, not per width.
struct GgufValue {
  GgufValueType type = GgufValueType::UINT8;
  GgufValueType elem_type = GgufValueType::UINT8;  // meaningful when type == ARRAY
  std::variant<uint64_t, int64_t, double, bool, std::string,
               std::vector<int64_t>, std::vector<double>, std::vector<std::string>, std::vector<uint8_t>>
      data;  // bool arrays are stored as vector<uint8_t>

  // Unsigned scalars hold uint64_t, signed ones int64_t, FLOAT32/FLOAT64 double.
  static GgufValue u8(uint8_t v);
  static GgufValue i8(int8_t v);
  static GgufValue u16(uint16_t v);
  static GgufValue i16(int16_t v);
  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue u64(uint64_t v);
  static GgufValue i64(int64_t v);
  static GgufValue f32(float v);
  static GgufValue f64(double v);
  static GgufValue boolean(bool v);
  static GgufValue string(std::string v);
  static GgufValue string_array(std::vector<std::string> v);
  static GgufValue int_array(GgufValueType elem, std::vector<int64_t> v);  // elem: an integer type
  static GgufValue float_array(std::vector<double> v);                      // stored as FLOAT32
  static GgufValue float_array(GgufValueType elem, std::vector<double> v);  // elem: FLOAT32/FLOAT64
  static GgufValue bool_array(std::vector<uint8_t> v);                      // each 0 or 1

  // "UINT32", "array of STRING": for error messages.
  std::string type_name() const;
  // Element count of an array (0 for scalars).
  size_t array_size() const;
};

struct GgufTensorInfo {
  std::string name;
  TensorType type = TensorType::F32;
  int n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};  // ggml order: ne[0] is the fastest-varying (row) dimension
  uint64_t offset = 0;           // from the start of the data section (as stored)
  uint64_t file_offset = 0;      // absolute position in the file (for direct reads)
  uint64_t n_bytes = 0;          // validated: ne[0] a whole number of blocks, inside the file
  const uint8_t* data = nullptr; // into the mapping; valid while the GgufFile lives
  // `type` may be any ggml id (has_layout(type) false for ids without a known block layout:
  // then n_bytes is 0 and data null; the offset is still checked to lie inside the file).

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
};

class GgufFile {
 public:
  // Maps the file read-only. Throws GgufError (message starts with the path) on any problem.
  static std::unique_ptr<GgufFile> open(const std::string& path);
  // Parses bytes already in memory (kept by reference: they must outlive the GgufFile).
  static std::unique_ptr<GgufFile> parse(const uint8_t* bytes, size_t size, std::string name = "<memory>");
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return size_; }
  // Start of the file bytes (the mapping when opened from a path): tensor file_offset is relative to it.
  const uint8_t* bytes() const { return bytes_; }

  // Metadata in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }
  // Typed getters: throw GgufError naming the key when missing or of the wrong kind.
  // get_int accepts every integer type (and range-checks), get_float FLOAT32/FLOAT64.
  int64_t get_int(std::string_view key) const;
  double get_float(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  const std::string& get_string(std::string_view key) const;
  const std::vector<std::string>& get_string_array(std::string_view key) const;
  const std::vector<int64_t>& get_int_array(std::string_view key) const;
  const std::vector<double>& get_float_array(std::string_view key) const;
  const std::vector<uint8_t>& get_bool_array(std::string_view key) const;  // 0/1 per element
  // With defaults when the key is absent (still throw on a present key of the wrong kind).
  int64_t get_int_or(std::string_view key, int64_t fallback) const;
  double get_float_or(std::string_view key, double fallback) const;
  std::string get_string_or(std::string_view key, std::string fallback) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;

 private:
  GgufFile() = default;
  void parse_all();
  // The value of a present key of an accepted kind, or a GgufError naming key, kind and type.
  const GgufValue& expect(std::string_view key, std::string_view kind, bool ok_kind(const GgufValue&)) const;
  [[noreturn]] void fail_type(std::string_view key, std::string_view kind, const GgufValue& v) const;

  std::string path_;
  const uint8_t* bytes_ = nullptr;
  size_t size_ = 0;
  void* mapping_ = nullptr;  // owned mmap, if opened from a path
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::map<std::string, size_t, std::less<>> metadata_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

// Writes GGUF v3. Tensors are declared first (name, type, shape, and a function that fills
// their bytes), then write() streams header, metadata, infos and data, one tensor at a time,
// so a multi-GB file needs only one tensor's worth of memory.
class GgufWriter {
 public:
  using FillFn = std::function<void(std::span<uint8_t> dst)>;
  // An alignment other than 32 (the GGUF default) is recorded as general.alignment (UINT32).
  explicit GgufWriter(uint64_t alignment = 32);

  // Replaces an existing key, keeps order. Validates the value (type tag matches the stored
  // alternative, integers fit their width); setting general.alignment changes the alignment.
  void set(const std::string& key, GgufValue value);
  // ne in ggml order; ne[0] must be a whole number of blocks of `type`.
  void add_tensor(const std::string& name, TensorType type, std::vector<int64_t> ne, FillFn fill);
  void add_tensor(const std::string& name, TensorType type, std::vector<int64_t> ne, std::vector<uint8_t> bytes);
  // progress(done_tensors, total_tensors) after each tensor; may be empty.
  // Writes to a temporary file next to `path` and renames it over `path` only on success.
  void write(const std::string& path, const std::function<void(size_t, size_t)>& progress = {}) const;

  uint64_t alignment() const { return alignment_; }
  size_t n_tensors() const { return tensors_.size(); }

 private:
  struct Pending {
    std::string name;
    TensorType type;
    std::vector<int64_t> ne;
    uint64_t n_bytes;
    FillFn fill;
  };
  uint64_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::map<std::string, size_t, std::less<>> metadata_index_;  // key -> position in metadata_
  std::vector<Pending> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;    // name -> position in tensors_
};

}  // namespace st
