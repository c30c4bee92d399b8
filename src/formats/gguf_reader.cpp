// GGUF reader. The file is untrusted input: every length, count and offset is checked
// against the bytes actually left before it is used to allocate or index, so a corrupt or
// hostile file produces a GgufError that names the file, the place and the problem, never an
// out-of-bounds read or a multi-gigabyte allocation.
//
// Layout (all little-endian; v2 and v3 share it, v1 used 32-bit counts and lengths):
//   "GGUF" u32 version, u64 n_tensors, u64 n_kv
//   n_kv    x { string key, u32 value type, value }
//   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset }
//   zero padding to the alignment, then the data section (tensor offsets are relative to it)
// where a string is u64 length + bytes and an array is u32 element type + u64 count + elements.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>

#include "formats/gguf.h"
#include "formats/mapped_pages.h"

namespace st {

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader copies little-endian fields directly; add byte swapping for this host");

namespace {

constexpr uint64_t kDefaultAlignment = 32;
constexpr uint64_t kMaxAlignment = uint64_t{1} << 20;
constexpr uint32_t kMaxDims = 4;
// Reservations are capped so that a count which is plausible for the file size but still
// huge only costs memory as elements are really parsed (vectors grow geometrically).
constexpr uint64_t kMaxReserve = uint64_t{1} << 20;

// Smallest encodings, used to bound counts before anything is allocated.
constexpr uint64_t kMinEntryBytes = 8 + 4 + 1;            // empty key, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // empty name, n_dims, ne[0], type, offset

// Names from the file go into messages; keep a hostile megabyte-long key readable.
std::string shown(std::string_view s) {
  constexpr size_t kMax = 120;
  if (s.size() <= kMax) return std::string(s);
  return std::string(s.substr(0, kMax)) + "...";
}

// On-disk size of a scalar value type; 0 for STRING/ARRAY (variable) and unknown ids.
uint64_t scalar_size(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8: case GgufValueType::INT8: case GgufValueType::BOOL: return 1;
    case GgufValueType::UINT16: case GgufValueType::INT16: return 2;
    case GgufValueType::UINT32: case GgufValueType::INT32: case GgufValueType::FLOAT32: return 4;
    case GgufValueType::UINT64: case GgufValueType::INT64: case GgufValueType::FLOAT64: return 8;
    default: return 0;
  }
}

// A bounds-checked position in the file. `where_` names the structure being read (e.g.
// "metadata key 'x'") so that every error message says where the problem is.
class Cursor {
 public:
  Cursor(const uint8_t* bytes, size_t size, const std::string& path) : bytes_(bytes), size_(size), path_(path) {}

  size_t pos() const { return pos_; }
  uint64_t left() const { return size_ - pos_; }
  void set_where(std::string where) { where_ = std::move(where); }

  [[noreturn]] void fail(const std::string& problem) const {
    throw GgufError(path_ + ": " + (where_.empty() ? std::string() : where_ + ": ") + problem);
  }

  // Returns n bytes and advances; `what` names them for the truncation message.
  const uint8_t* take(uint64_t n, std::string_view what) {
    if (n > left())
      fail("unexpected end of file reading " + std::string(what) + " (needs " + std::to_string(n) +
           " bytes, " + std::to_string(left()) + " left; truncated file?)");
    const uint8_t* p = bytes_ + pos_;
    pos_ += static_cast<size_t>(n);
    return p;
  }

  template <class T>
  T read(std::string_view what) {
    T v;
    std::memcpy(&v, take(sizeof(T), what), sizeof(T));
    return v;
  }

  // A string as a view into the file. `index` >= 0 names an array element in the message.
  std::string_view read_string(std::string_view what, int64_t index = -1) {
    if (left() < 8)
      fail("unexpected end of file reading the " + std::string(what) + " length (needs 8 bytes, " +
           std::to_string(left()) + " left; truncated file?)");
    const uint64_t n = read<uint64_t>(what);
    if (n > left()) {
      const std::string elem = index >= 0 ? "element " + std::to_string(index) + ": " : std::string();
      fail(elem + std::string(what) + " length " + std::to_string(n) + " exceeds the " + std::to_string(left()) +
           " bytes left in the file (truncated or corrupt file?)");
    }
    return {reinterpret_cast<const char*>(take(n, what)), static_cast<size_t>(n)};
  }

  // Fails unless `count` items of at least `min_bytes` each can fit in what is left.
  void check_count(uint64_t count, uint64_t min_bytes, std::string_view what) const {
    if (count > left() / min_bytes)
      fail(std::string(what) + " " + std::to_string(count) + " exceeds what the " + std::to_string(left()) +
           " bytes left in the file can hold (at least " + std::to_string(min_bytes) +
           " bytes each; truncated or corrupt file?)");
  }

 private:
  const uint8_t* bytes_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& path_;
  std::string where_;
};

GgufValueType read_type(Cursor& c, std::string_view what) {
  const uint32_t id = c.read<uint32_t>(what);
  if (id > static_cast<uint32_t>(GgufValueType::FLOAT64)) c.fail("unknown " + std::string(what) + " " + std::to_string(id));
  return static_cast<GgufValueType>(id);
}

bool read_bool(Cursor& c, const uint8_t* p, int64_t index) {
  if (*p > 1)
    c.fail((index >= 0 ? "element " + std::to_string(index) + ": " : std::string()) + "BOOL byte " +
           std::to_string(*p) + " is neither 0 nor 1");
  return *p != 0;
}

// Integer array elements of on-disk type T, widened to int64. One bounds check for the whole
// array (done by the caller), then a tight loop: the tokenizer's token_type array has 151k entries.
template <class T>
std::vector<int64_t> read_int_elems(Cursor& c, uint64_t n) {
  const uint8_t* p = c.take(n * sizeof(T), "array elements");
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (size_t i = 0; i < out.size(); ++i) {
    T x;
    std::memcpy(&x, p + i * sizeof(T), sizeof(T));
    if constexpr (std::is_same_v<T, uint64_t>) {
      if (x > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        c.fail("element " + std::to_string(i) + ": UINT64 value " + std::to_string(x) +
               " does not fit in a signed 64-bit integer");
    }
    out[i] = static_cast<int64_t>(x);
  }
  return out;
}

template <class T>
std::vector<double> read_float_elems(Cursor& c, uint64_t n) {
  const uint8_t* p = c.take(n * sizeof(T), "array elements");
  std::vector<double> out(static_cast<size_t>(n));
  for (size_t i = 0; i < out.size(); ++i) {
    T x;
    std::memcpy(&x, p + i * sizeof(T), sizeof(T));
    out[i] = x;
  }
  return out;
}

GgufValue read_array(Cursor& c) {
  GgufValue v;
  v.type = GgufValueType::ARRAY;
  v.elem_type = read_type(c, "array element type");
  if (v.elem_type == GgufValueType::ARRAY) c.fail("arrays of arrays are not supported");
  const uint64_t n = c.read<uint64_t>("array count");
  const bool is_string = v.elem_type == GgufValueType::STRING;
  // A string element is at least its 8-byte length.
  c.check_count(n, is_string ? 8 : scalar_size(v.elem_type),
                "array count (of " + std::string(gguf_value_type_name(v.elem_type)) + ")");
  switch (v.elem_type) {
    case GgufValueType::UINT8: v.data = read_int_elems<uint8_t>(c, n); break;
    case GgufValueType::INT8: v.data = read_int_elems<int8_t>(c, n); break;
    case GgufValueType::UINT16: v.data = read_int_elems<uint16_t>(c, n); break;
    case GgufValueType::INT16: v.data = read_int_elems<int16_t>(c, n); break;
    case GgufValueType::UINT32: v.data = read_int_elems<uint32_t>(c, n); break;
    case GgufValueType::INT32: v.data = read_int_elems<int32_t>(c, n); break;
    case GgufValueType::UINT64: v.data = read_int_elems<uint64_t>(c, n); break;
    case GgufValueType::INT64: v.data = read_int_elems<int64_t>(c, n); break;
    case GgufValueType::FLOAT32: v.data = read_float_elems<float>(c, n); break;
    case GgufValueType::FLOAT64: v.data = read_float_elems<double>(c, n); break;
    case GgufValueType::BOOL: {
      const uint8_t* p = c.take(n, "array elements");
      std::vector<uint8_t> out(static_cast<size_t>(n));
      for (size_t i = 0; i < out.size(); ++i) out[i] = read_bool(c, p + i, static_cast<int64_t>(i));
      v.data = std::move(out);
      break;
    }
    case GgufValueType::STRING: {
      std::vector<std::string> out;
      out.reserve(static_cast<size_t>(std::min(n, kMaxReserve)));
      for (uint64_t i = 0; i < n; ++i) out.emplace_back(c.read_string("string", static_cast<int64_t>(i)));
      v.data = std::move(out);
      break;
    }
    case GgufValueType::ARRAY: break;  // rejected above
  }
  return v;
}

GgufValue read_value(Cursor& c, GgufValueType type) {
  switch (type) {
    case GgufValueType::UINT8: return GgufValue::u8(c.read<uint8_t>("UINT8 value"));
    case GgufValueType::INT8: return GgufValue::i8(c.read<int8_t>("INT8 value"));
    case GgufValueType::UINT16: return GgufValue::u16(c.read<uint16_t>("UINT16 value"));
    case GgufValueType::INT16: return GgufValue::i16(c.read<int16_t>("INT16 value"));
    case GgufValueType::UINT32: return GgufValue::u32(c.read<uint32_t>("UINT32 value"));
    case GgufValueType::INT32: return GgufValue::i32(c.read<int32_t>("INT32 value"));
    case GgufValueType::UINT64: return GgufValue::u64(c.read<uint64_t>("UINT64 value"));
    case GgufValueType::INT64: return GgufValue::i64(c.read<int64_t>("INT64 value"));
    case GgufValueType::FLOAT32: return GgufValue::f32(c.read<float>("FLOAT32 value"));
    case GgufValueType::FLOAT64: return GgufValue::f64(c.read<double>("FLOAT64 value"));
    case GgufValueType::BOOL: return GgufValue::boolean(read_bool(c, c.take(1, "BOOL value"), -1));
    case GgufValueType::STRING: return GgufValue::string(std::string(c.read_string("string")));
    case GgufValueType::ARRAY: return read_array(c);
  }
  c.fail("unknown value type");  // unreachable: read_type validated the id
}

void read_header(Cursor& c, uint32_t& version) {
  c.set_where("header");
  const uint8_t* magic = c.take(4, "the magic number");
  if (std::memcmp(magic, "GGUF", 4) != 0) {
    char hex[32];
    std::snprintf(hex, sizeof hex, "%02x %02x %02x %02x", magic[0], magic[1], magic[2], magic[3]);
    c.fail(std::string("not a GGUF file (starts with bytes ") + hex + ", expected 'GGUF')");
  }
  version = c.read<uint32_t>("the version");
  // A big-endian writer stores the same magic bytes but a byte-swapped version (3 -> 0x03000000).
  const uint32_t swapped = __builtin_bswap32(version);
  if (version > 0xffff && swapped >= 1 && swapped <= 3)
    c.fail("big-endian GGUF file (version " + std::to_string(swapped) +
           " stored byte-swapped); only little-endian files are supported");
  if (version == 1)
    c.fail("GGUF version 1 is not supported (obsolete format with 32-bit counts; re-convert the model)");
  if (version != 2 && version != 3)
    c.fail("unsupported GGUF version " + std::to_string(version) + " (this reader supports versions 2 and 3)");
}

uint64_t alignment_from(Cursor& c, const GgufValue& v) {
  c.set_where("metadata key 'general.alignment'");
  if (!gguf_is_integer_type(v.type)) c.fail("expected an integer, found " + v.type_name());
  uint64_t a = 0;  // negative values stay 0 and are rejected below
  std::string text;
  if (const auto* u = std::get_if<uint64_t>(&v.data)) {
    a = *u;
    text = std::to_string(*u);
  } else {
    const int64_t s = std::get<int64_t>(v.data);
    a = s > 0 ? static_cast<uint64_t>(s) : 0;
    text = std::to_string(s);
  }
  if (a == 0 || !std::has_single_bit(a) || a > kMaxAlignment)
    c.fail("alignment " + text + " is not a power of two between 1 and " + std::to_string(kMaxAlignment));
  return a;
}

bool mul_overflows(uint64_t a, uint64_t b, uint64_t& out) { return __builtin_mul_overflow(a, b, &out); }

void read_data_offset(Cursor& c, GgufTensorInfo& t, uint64_t alignment) {
  t.offset = c.read<uint64_t>("the data offset");
  if (t.offset % alignment != 0)
    c.fail("data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
           std::to_string(alignment));
}

void read_tensor_info(Cursor& c, GgufTensorInfo& t, uint64_t alignment) {
  const uint32_t n_dims = c.read<uint32_t>("n_dims");
  if (n_dims < 1 || n_dims > kMaxDims)
    c.fail("n_dims " + std::to_string(n_dims) + " is outside 1.." + std::to_string(kMaxDims));
  t.n_dims = static_cast<int>(n_dims);
  uint64_t n_elements = 1;
  for (uint32_t d = 0; d < n_dims; ++d) {
    const uint64_t ne = c.read<uint64_t>("a dimension");
    const std::string which = "ne[" + std::to_string(d) + "] = " + std::to_string(ne);
    if (ne == 0) c.fail(which + ": dimensions must be positive");
    if (mul_overflows(n_elements, ne, n_elements) ||
        n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      c.fail(which + ": the element count overflows 64 bits");
    t.ne[d] = static_cast<int64_t>(ne);
  }
  const uint32_t type_id = c.read<uint32_t>("the tensor type");
  // Any id is accepted: a type without a known layout leaves n_bytes 0 and data null, so the
  // file still opens (inspect lists it) and whoever needs the data reports the type by name.
  t.type = static_cast<TensorType>(type_id);
  const auto info = tensor_type_info(type_id);
  if (!info) return read_data_offset(c, t, alignment);
  if (t.ne[0] % info->block_size != 0)
    c.fail("ne[0] = " + std::to_string(t.ne[0]) + " is not a whole number of " + std::string(info->name) +
           " blocks (" + std::to_string(info->block_size) + " elements each)");
  const uint64_t blocks_per_row = static_cast<uint64_t>(t.ne[0] / info->block_size);
  uint64_t row_size = 0;
  if (mul_overflows(blocks_per_row, info->block_bytes, row_size) ||
      mul_overflows(row_size, static_cast<uint64_t>(t.n_rows()), t.n_bytes))
    c.fail("the byte size overflows 64 bits");
  read_data_offset(c, t, alignment);
}

// Why a path that is not a regular file cannot be a model.
std::string not_a_file(mode_t mode) {
  if (S_ISDIR(mode)) return "is a directory, not a GGUF file (name the .gguf file inside it)";
  if (S_ISFIFO(mode)) return "is a FIFO (named pipe), not a GGUF file: models are mapped, so they must be regular files";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "is a device, not a GGUF file";
  if (S_ISSOCK(mode)) return "is a socket, not a GGUF file";
  return "is not a regular file";
}

}  // namespace

GgufFile::~GgufFile() {
  if (!mapping_) return;
  unwatch_mapping(mapping_);
  munmap(mapping_, size_);
}

std::unique_ptr<GgufFile> GgufFile::parse(const uint8_t* bytes, size_t size, std::string name) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = std::move(name);
  f->bytes_ = bytes;
  f->size_ = size;
  f->parse_all();
  return f;
}

std::unique_ptr<GgufFile> GgufFile::open(const std::string& path) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  // The type is checked before opening (opening a FIFO for reading blocks until a writer
  // comes; a device may act on open), and again on the descriptor, which O_NONBLOCK keeps
  // from blocking should the path change in between.
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) throw GgufError(path + ": cannot open: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw GgufError(path + ": " + not_a_file(st.st_mode));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw GgufError(path + ": cannot open: " + std::strerror(errno));
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw GgufError(path + ": " + not_a_file(st.st_mode));
  }
  if (st.st_size == 0) {
    ::close(fd);
    throw GgufError(path + ": the file is empty (0 bytes), not a GGUF model");
  }
  f->size_ = static_cast<size_t>(st.st_size);
  if (f->size_ > 0) {
    // Read-only private mapping: pages come from the page cache on demand, so opening a
    // multi-GB model costs nothing until tensors are touched.
    void* m = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      throw GgufError(path + ": cannot mmap " + std::to_string(f->size_) + " bytes: " + std::strerror(err));
    }
    f->mapping_ = m;
    f->bytes_ = static_cast<const uint8_t*>(m);
    watch_mapping(m, f->size_, path);  // a truncated file: a fatal error naming it, not SIGBUS
  }
  ::close(fd);  // the mapping keeps its own reference to the file
  f->parse_all();
  return f;
}

void GgufFile::parse_all() {
  Cursor c(bytes_, size_, path_);
  if (size_ < 4) c.fail("file is too small to be a GGUF file (" + std::to_string(size_) + " bytes)");
  read_header(c, version_);
  const uint64_t n_tensors = c.read<uint64_t>("the tensor count");
  const uint64_t n_kv = c.read<uint64_t>("the metadata entry count");
  c.check_count(n_kv, kMinEntryBytes, "metadata entry count");

  metadata_.reserve(static_cast<size_t>(std::min(n_kv, kMaxReserve)));
  for (uint64_t i = 0; i < n_kv; ++i) {
    c.set_where("metadata entry " + std::to_string(i + 1) + " of " + std::to_string(n_kv));
    std::string key(c.read_string("key"));
    if (key.empty()) c.fail("empty key");
    c.set_where("metadata key '" + shown(key) + "'");
    if (metadata_index_.count(key)) c.fail("duplicate key");
    const GgufValueType type = read_type(c, "value type");
    GgufValue value = read_value(c, type);
    metadata_index_.emplace(key, metadata_.size());
    metadata_.emplace_back(std::move(key), std::move(value));
  }
  alignment_ = kDefaultAlignment;
  if (const GgufValue* a = find("general.alignment")) alignment_ = alignment_from(c, *a);

  c.set_where("header");
  c.check_count(n_tensors, kMinTensorInfoBytes, "tensor count");
  tensors_.reserve(static_cast<size_t>(std::min(n_tensors, kMaxReserve)));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    c.set_where("tensor info " + std::to_string(i + 1) + " of " + std::to_string(n_tensors));
    GgufTensorInfo t;
    t.name = std::string(c.read_string("tensor name"));
    if (t.name.empty()) c.fail("empty tensor name");
    c.set_where("tensor '" + shown(t.name) + "'");
    if (tensor_index_.count(t.name)) c.fail("duplicate tensor name");
    read_tensor_info(c, t, alignment_);
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  // The data section starts at the first aligned offset after the infos. A file without
  // tensors may end before it (llama.cpp accepts that too), so only tensors are checked.
  data_offset_ = (c.pos() + alignment_ - 1) / alignment_ * alignment_;
  for (auto& t : tensors_) {
    c.set_where("tensor '" + shown(t.name) + "'");
    if (t.offset > size_ || data_offset_ > size_ - t.offset || t.n_bytes > size_ - data_offset_ - t.offset)
      c.fail("data [" + std::to_string(data_offset_) + " + " + std::to_string(t.offset) + ", " +
             std::to_string(t.n_bytes) + " bytes) extends beyond the end of the file (" + std::to_string(size_) +
             " bytes; truncated file?)");
    t.file_offset = data_offset_ + t.offset;
    t.data = has_layout(t.type) ? bytes_ + t.file_offset : nullptr;
  }
}

}  // namespace st
