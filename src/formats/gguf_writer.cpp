// GGUF v3 writer (little-endian). Header, metadata and tensor infos are small enough to build
// in memory (a 151k-token vocabulary is a few MB); tensor data is streamed one tensor at a time
// through a FillFn, so converting a multi-GB model needs one tensor's worth of memory. The
// output goes through OutputFile (output_file.h): a temporary file beside the target, renamed
// over it only after everything (including fsync) succeeded, so a failed or interrupted
// conversion never leaves a half-written model that a later load would trip over.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "formats/gguf.h"
#include "formats/output_file.h"

namespace st {

static_assert(std::endian::native == std::endian::little,
              "the GGUF writer stores fields in host order; add byte swapping for this host");

namespace {

constexpr uint32_t kVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint64_t kMaxAlignment = uint64_t{1} << 20;
constexpr std::string_view kAlignmentKey = "general.alignment";

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

void check_alignment(uint64_t a, const std::string& where) {
  if (a == 0 || !std::has_single_bit(a) || a > kMaxAlignment)
    throw GgufError(where + "alignment " + std::to_string(a) + " is not a power of two between 1 and " +
                    std::to_string(kMaxAlignment));
}

// ---- value validation: the tag must match the stored alternative and the values must fit ----

struct IntRange {
  int64_t min;
  uint64_t max;
};

IntRange int_range(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8: return {0, 0xff};
    case GgufValueType::INT8: return {-128, 127};
    case GgufValueType::UINT16: return {0, 0xffff};
    case GgufValueType::INT16: return {-32768, 32767};
    case GgufValueType::UINT32: return {0, 0xffffffffu};
    case GgufValueType::INT32: return {std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()};
    case GgufValueType::UINT64: return {0, std::numeric_limits<uint64_t>::max()};
    default: return {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()};
  }
}

bool is_unsigned(GgufValueType t) {
  return t == GgufValueType::UINT8 || t == GgufValueType::UINT16 || t == GgufValueType::UINT32 ||
         t == GgufValueType::UINT64;
}

bool fits(GgufValueType t, int64_t x) {
  const IntRange r = int_range(t);
  return x >= r.min && (x < 0 || static_cast<uint64_t>(x) <= r.max);
}

// Converting an out-of-range double to float is undefined behaviour, so check first.
bool fits_f32(double x) { return !std::isfinite(x) || std::fabs(x) <= std::numeric_limits<float>::max(); }

void validate(const std::string& key, const GgufValue& v) {
  const std::string where = "metadata key '" + key + "': ";
  auto bad = [&](const std::string& what) { throw GgufError(where + what); };
  auto holds_wrong = [&] { bad(v.type_name() + " value holds the wrong kind of data"); };
  if (key.empty()) throw GgufError("metadata key is empty");
  if (static_cast<uint32_t>(v.type) > static_cast<uint32_t>(GgufValueType::FLOAT64))
    bad("unknown value type id " + std::to_string(static_cast<uint32_t>(v.type)));

  if (gguf_is_integer_type(v.type)) {
    if (is_unsigned(v.type)) {
      const auto* u = std::get_if<uint64_t>(&v.data);
      if (!u) holds_wrong();
      if (*u > int_range(v.type).max) bad("value " + std::to_string(*u) + " does not fit " + v.type_name());
    } else {
      const auto* s = std::get_if<int64_t>(&v.data);
      if (!s) holds_wrong();
      if (!fits(v.type, *s)) bad("value " + std::to_string(*s) + " does not fit " + v.type_name());
    }
    return;
  }
  switch (v.type) {
    case GgufValueType::FLOAT32:
    case GgufValueType::FLOAT64: {
      const auto* d = std::get_if<double>(&v.data);
      if (!d) holds_wrong();
      if (v.type == GgufValueType::FLOAT32 && !fits_f32(*d)) bad("value " + std::to_string(*d) + " does not fit FLOAT32");
      return;
    }
    case GgufValueType::BOOL:
      if (!std::holds_alternative<bool>(v.data)) holds_wrong();
      return;
    case GgufValueType::STRING:
      if (!std::holds_alternative<std::string>(v.data)) holds_wrong();
      return;
    default:
      break;  // ARRAY
  }
  const GgufValueType e = v.elem_type;
  if (e == GgufValueType::ARRAY) bad("arrays of arrays are not supported");
  if (static_cast<uint32_t>(e) > static_cast<uint32_t>(GgufValueType::FLOAT64))
    bad("unknown array element type id " + std::to_string(static_cast<uint32_t>(e)));
  if (gguf_is_integer_type(e)) {
    const auto* xs = std::get_if<std::vector<int64_t>>(&v.data);
    if (!xs) holds_wrong();
    for (size_t i = 0; i < xs->size(); ++i)
      if (!fits(e, (*xs)[i]))
        bad("element " + std::to_string(i) + ": value " + std::to_string((*xs)[i]) + " does not fit " +
            std::string(gguf_value_type_name(e)));
  } else if (e == GgufValueType::FLOAT32 || e == GgufValueType::FLOAT64) {
    const auto* xs = std::get_if<std::vector<double>>(&v.data);
    if (!xs) holds_wrong();
    if (e == GgufValueType::FLOAT32)
      for (size_t i = 0; i < xs->size(); ++i)
        if (!fits_f32((*xs)[i])) bad("element " + std::to_string(i) + " does not fit FLOAT32");
  } else if (e == GgufValueType::BOOL) {
    const auto* xs = std::get_if<std::vector<uint8_t>>(&v.data);
    if (!xs) holds_wrong();
    for (size_t i = 0; i < xs->size(); ++i)
      if ((*xs)[i] > 1) bad("element " + std::to_string(i) + ": BOOL value " + std::to_string((*xs)[i]) + " is not 0 or 1");
  } else if (!std::holds_alternative<std::vector<std::string>>(v.data)) {
    holds_wrong();
  }
}

// ---- serialization -------------------------------------------------------------------------

class Blob {
 public:
  template <class T>
  void put(T v) {
    const size_t at = bytes.size();
    bytes.resize(at + sizeof(T));
    std::memcpy(bytes.data() + at, &v, sizeof(T));
  }
  void put_string(std::string_view s) {
    put<uint64_t>(s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
  }
  std::vector<uint8_t> bytes;
};

template <class T>
void put_ints(Blob& b, const std::vector<int64_t>& xs) {
  for (int64_t x : xs) b.put<T>(static_cast<T>(x));
}

// Writes one integer of on-disk type t; the value was range-checked by validate().
void put_int(Blob& b, GgufValueType t, uint64_t bits) {
  switch (t) {
    case GgufValueType::UINT8: case GgufValueType::INT8: b.put<uint8_t>(static_cast<uint8_t>(bits)); break;
    case GgufValueType::UINT16: case GgufValueType::INT16: b.put<uint16_t>(static_cast<uint16_t>(bits)); break;
    case GgufValueType::UINT32: case GgufValueType::INT32: b.put<uint32_t>(static_cast<uint32_t>(bits)); break;
    default: b.put<uint64_t>(bits); break;
  }
}

void put_value(Blob& b, const GgufValue& v) {
  if (gguf_is_integer_type(v.type)) {
    const auto* u = std::get_if<uint64_t>(&v.data);
    put_int(b, v.type, u ? *u : static_cast<uint64_t>(std::get<int64_t>(v.data)));
    return;
  }
  switch (v.type) {
    case GgufValueType::FLOAT32: b.put<float>(static_cast<float>(std::get<double>(v.data))); return;
    case GgufValueType::FLOAT64: b.put<double>(std::get<double>(v.data)); return;
    case GgufValueType::BOOL: b.put<uint8_t>(std::get<bool>(v.data) ? 1 : 0); return;
    case GgufValueType::STRING: b.put_string(std::get<std::string>(v.data)); return;
    default: break;  // ARRAY
  }
  const GgufValueType e = v.elem_type;
  b.put<uint32_t>(static_cast<uint32_t>(e));
  b.put<uint64_t>(v.array_size());
  if (gguf_is_integer_type(e)) {
    for (int64_t x : std::get<std::vector<int64_t>>(v.data)) put_int(b, e, static_cast<uint64_t>(x));
  } else if (e == GgufValueType::FLOAT32) {
    for (double x : std::get<std::vector<double>>(v.data)) b.put<float>(static_cast<float>(x));
  } else if (e == GgufValueType::FLOAT64) {
    for (double x : std::get<std::vector<double>>(v.data)) b.put<double>(x);
  } else if (e == GgufValueType::BOOL) {
    const auto& xs = std::get<std::vector<uint8_t>>(v.data);
    b.bytes.insert(b.bytes.end(), xs.begin(), xs.end());
  } else {
    for (const auto& s : std::get<std::vector<std::string>>(v.data)) b.put_string(s);
  }
}

// Zeros up to the next multiple of `alignment`.
void pad_to(OutputFile& out, uint64_t alignment) {
  static const uint8_t kZeros[4096] = {};
  uint64_t n = align_up(out.written(), alignment) - out.written();
  while (n > 0) {
    const size_t k = static_cast<size_t>(std::min<uint64_t>(n, sizeof kZeros));
    out.write(kZeros, k);
    n -= k;
  }
}

}  // namespace

GgufWriter::GgufWriter(uint64_t alignment) : alignment_(kDefaultAlignment) {
  check_alignment(alignment, "GgufWriter: ");
  if (alignment != kDefaultAlignment) set(std::string(kAlignmentKey), GgufValue::u32(static_cast<uint32_t>(alignment)));
}

void GgufWriter::set(const std::string& key, GgufValue value) {
  validate(key, value);
  if (key == kAlignmentKey) {
    if (!gguf_is_integer_type(value.type))
      throw GgufError("metadata key 'general.alignment': expected an integer, found " + value.type_name());
    const auto* u = std::get_if<uint64_t>(&value.data);
    const int64_t s = u ? 0 : std::get<int64_t>(value.data);
    const uint64_t a = u ? *u : (s > 0 ? static_cast<uint64_t>(s) : 0);
    check_alignment(a, "metadata key 'general.alignment': ");
    alignment_ = a;
  }
  auto it = metadata_index_.find(key);
  if (it != metadata_index_.end()) {
    metadata_[it->second].second = std::move(value);
    return;
  }
  metadata_index_.emplace(key, metadata_.size());
  metadata_.emplace_back(key, std::move(value));
}

void GgufWriter::add_tensor(const std::string& name, TensorType type, std::vector<int64_t> ne, FillFn fill) {
  const std::string where = "tensor '" + name + "': ";
  if (name.empty()) throw GgufError("tensor name is empty");
  if (tensor_index_.count(name)) throw GgufError(where + "added twice");
  if (ne.empty() || ne.size() > 4)
    throw GgufError(where + std::to_string(ne.size()) + " dimensions (GGUF allows 1 to 4)");
  if (!fill) throw GgufError(where + "no fill function");
  const TensorTypeInfo& info = tensor_type_info(type);
  uint64_t n_rows = 1;
  for (size_t d = 0; d < ne.size(); ++d) {
    if (ne[d] <= 0) throw GgufError(where + "ne[" + std::to_string(d) + "] = " + std::to_string(ne[d]) + " is not positive");
    if (d > 0 && __builtin_mul_overflow(n_rows, static_cast<uint64_t>(ne[d]), &n_rows))
      throw GgufError(where + "size overflows 64 bits");
  }
  if (ne[0] % info.block_size != 0)
    throw GgufError(where + "ne[0] = " + std::to_string(ne[0]) + " is not a whole number of " +
                    std::string(info.name) + " blocks (" + std::to_string(info.block_size) + ")");
  uint64_t n_elements = 0, n_bytes = 0;
  if (__builtin_mul_overflow(n_rows, static_cast<uint64_t>(ne[0]), &n_elements) ||
      n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
      __builtin_mul_overflow(static_cast<uint64_t>(ne[0] / info.block_size) * info.block_bytes, n_rows, &n_bytes))
    throw GgufError(where + "size overflows 64 bits");
  tensor_index_.emplace(name, tensors_.size());
  tensors_.push_back(Pending{name, type, std::move(ne), n_bytes, std::move(fill)});
}

void GgufWriter::add_tensor(const std::string& name, TensorType type, std::vector<int64_t> ne,
                            std::vector<uint8_t> bytes) {
  // std::function needs a copyable callable; share the bytes instead of copying them.
  auto data = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
  add_tensor(name, type, std::move(ne), [data](std::span<uint8_t> dst) {
    std::copy(data->begin(), data->end(), dst.begin());
  });
  const Pending& added = tensors_.back();
  if (added.n_bytes != data->size()) {
    const std::string msg = "tensor '" + name + "': " + std::to_string(data->size()) + " bytes given, " +
                            std::to_string(added.n_bytes) + " expected for its type and shape";
    tensor_index_.erase(name);
    tensors_.pop_back();
    throw GgufError(msg);
  }
}

void GgufWriter::write(const std::string& path, const std::function<void(size_t, size_t)>& progress) const {
  // Header, metadata and tensor infos, with each tensor's offset in the data section.
  Blob head;
  head.bytes.insert(head.bytes.end(), {'G', 'G', 'U', 'F'});
  head.put<uint32_t>(kVersion);
  head.put<uint64_t>(tensors_.size());
  head.put<uint64_t>(metadata_.size());
  for (const auto& [key, value] : metadata_) {
    head.put_string(key);
    head.put<uint32_t>(static_cast<uint32_t>(value.type));
    put_value(head, value);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    head.put_string(t.name);
    head.put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (int64_t n : t.ne) head.put<uint64_t>(static_cast<uint64_t>(n));
    head.put<uint32_t>(static_cast<uint32_t>(t.type));
    head.put<uint64_t>(offset);
    offset = align_up(offset + t.n_bytes, alignment_);
  }

  OutputFile out(path);
  out.write(head.bytes.data(), head.bytes.size());
  pad_to(out, alignment_);
  const uint64_t data_start = out.written();
  std::vector<uint8_t> buffer;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const Pending& t = tensors_[i];
    // Zeroed first, so a FillFn that leaves bytes untouched writes zeros, not the previous tensor.
    buffer.assign(t.n_bytes, 0);
    t.fill(std::span<uint8_t>(buffer.data(), buffer.size()));
    out.write(buffer.data(), buffer.size());
    pad_to(out, alignment_);  // llama.cpp pads after every tensor, the last one included
    if (progress) progress(i + 1, tensors_.size());
  }
  if (out.written() - data_start != offset)
    throw GgufError(path + ": internal error: wrote " + std::to_string(out.written() - data_start) +
                    " data bytes, expected " + std::to_string(offset));
  out.commit();
}

}  // namespace st
