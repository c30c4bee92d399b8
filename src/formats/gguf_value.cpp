// GGUF metadata values: type names, constructors, and GgufFile's typed getters. The getters
// are the only place that decides which on-disk types count as "an integer" or "a float", so
// a model file written with a different integer width (llama.cpp mixes UINT32 and INT32 for
// the same key across versions) still loads.
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "formats/gguf.h"

namespace st {

std::string_view gguf_value_type_name(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8: return "UINT8";
    case GgufValueType::INT8: return "INT8";
    case GgufValueType::UINT16: return "UINT16";
    case GgufValueType::INT16: return "INT16";
    case GgufValueType::UINT32: return "UINT32";
    case GgufValueType::INT32: return "INT32";
    case GgufValueType::FLOAT32: return "FLOAT32";
    case GgufValueType::BOOL: return "BOOL";
    case GgufValueType::STRING: return "STRING";
    case GgufValueType::ARRAY: return "ARRAY";
    case GgufValueType::UINT64: return "UINT64";
    case GgufValueType::INT64: return "INT64";
    case GgufValueType::FLOAT64: return "FLOAT64";
  }
  return "unknown";
}

bool gguf_is_integer_type(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8: case GgufValueType::INT8: case GgufValueType::UINT16:
    case GgufValueType::INT16: case GgufValueType::UINT32: case GgufValueType::INT32:
    case GgufValueType::UINT64: case GgufValueType::INT64:
      return true;
    default:
      return false;
  }
}

namespace {

GgufValue make(GgufValueType type, auto&& data) {
  GgufValue v;
  v.type = type;
  v.data = std::forward<decltype(data)>(data);
  return v;
}

GgufValue make_array(GgufValueType elem, auto&& data) {
  GgufValue v = make(GgufValueType::ARRAY, std::forward<decltype(data)>(data));
  v.elem_type = elem;
  return v;
}

bool is_float_type(GgufValueType t) { return t == GgufValueType::FLOAT32 || t == GgufValueType::FLOAT64; }

}  // namespace

GgufValue GgufValue::u8(uint8_t v) { return make(GgufValueType::UINT8, uint64_t{v}); }
GgufValue GgufValue::i8(int8_t v) { return make(GgufValueType::INT8, int64_t{v}); }
GgufValue GgufValue::u16(uint16_t v) { return make(GgufValueType::UINT16, uint64_t{v}); }
GgufValue GgufValue::i16(int16_t v) { return make(GgufValueType::INT16, int64_t{v}); }
GgufValue GgufValue::u32(uint32_t v) { return make(GgufValueType::UINT32, uint64_t{v}); }
GgufValue GgufValue::i32(int32_t v) { return make(GgufValueType::INT32, int64_t{v}); }
GgufValue GgufValue::u64(uint64_t v) { return make(GgufValueType::UINT64, v); }
GgufValue GgufValue::i64(int64_t v) { return make(GgufValueType::INT64, v); }
GgufValue GgufValue::f32(float v) { return make(GgufValueType::FLOAT32, double{v}); }
GgufValue GgufValue::f64(double v) { return make(GgufValueType::FLOAT64, v); }
GgufValue GgufValue::boolean(bool v) { return make(GgufValueType::BOOL, v); }
GgufValue GgufValue::string(std::string v) { return make(GgufValueType::STRING, std::move(v)); }

GgufValue GgufValue::string_array(std::vector<std::string> v) {
  return make_array(GgufValueType::STRING, std::move(v));
}

GgufValue GgufValue::int_array(GgufValueType elem, std::vector<int64_t> v) {
  if (!gguf_is_integer_type(elem))
    throw GgufError("GgufValue::int_array: element type " + std::string(gguf_value_type_name(elem)) +
                    " is not an integer type");
  return make_array(elem, std::move(v));
}

GgufValue GgufValue::float_array(std::vector<double> v) {
  return make_array(GgufValueType::FLOAT32, std::move(v));
}

GgufValue GgufValue::float_array(GgufValueType elem, std::vector<double> v) {
  if (!is_float_type(elem))
    throw GgufError("GgufValue::float_array: element type " + std::string(gguf_value_type_name(elem)) +
                    " is not FLOAT32 or FLOAT64");
  return make_array(elem, std::move(v));
}

GgufValue GgufValue::bool_array(std::vector<uint8_t> v) { return make_array(GgufValueType::BOOL, std::move(v)); }

std::string GgufValue::type_name() const {
  if (type == GgufValueType::ARRAY) return "array of " + std::string(gguf_value_type_name(elem_type));
  return std::string(gguf_value_type_name(type));
}

size_t GgufValue::array_size() const {
  if (type != GgufValueType::ARRAY) return 0;
  return std::visit(
      [](const auto& d) -> size_t {
        if constexpr (requires { d.size(); } && !std::is_same_v<std::decay_t<decltype(d)>, std::string>)
          return d.size();
        else
          return 0;
      },
      data);
}

// ---- GgufFile typed getters ---------------------------------------------------------------

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

void GgufFile::fail_type(std::string_view key, std::string_view kind, const GgufValue& v) const {
  throw GgufError(path_ + ": metadata key '" + std::string(key) + "': expected " + std::string(kind) +
                  ", found " + v.type_name());
}

const GgufValue& GgufFile::expect(std::string_view key, std::string_view kind,
                                  bool ok_kind(const GgufValue&)) const {
  const GgufValue* v = find(key);
  if (!v) throw GgufError(path_ + ": metadata key '" + std::string(key) + "' is missing (expected " +
                          std::string(kind) + ")");
  if (!ok_kind(*v)) fail_type(key, kind, *v);
  return *v;
}

namespace {

// The reader and the writer's validation guarantee the variant alternative matches the tag,
// so the kind predicates only look at the tags.
bool is_int(const GgufValue& v) { return gguf_is_integer_type(v.type); }
bool is_float(const GgufValue& v) { return is_float_type(v.type); }
bool is_bool(const GgufValue& v) { return v.type == GgufValueType::BOOL; }
bool is_string(const GgufValue& v) { return v.type == GgufValueType::STRING; }
bool is_array_of(const GgufValue& v, bool elem_ok(GgufValueType)) {
  return v.type == GgufValueType::ARRAY && elem_ok(v.elem_type);
}
bool is_string_array(const GgufValue& v) {
  return is_array_of(v, [](GgufValueType t) { return t == GgufValueType::STRING; });
}
bool is_int_array(const GgufValue& v) { return is_array_of(v, gguf_is_integer_type); }
bool is_float_array(const GgufValue& v) { return is_array_of(v, is_float_type); }
bool is_bool_array(const GgufValue& v) {
  return is_array_of(v, [](GgufValueType t) { return t == GgufValueType::BOOL; });
}

}  // namespace

int64_t GgufFile::get_int(std::string_view key) const {
  const GgufValue& v = expect(key, "an integer", is_int);
  if (const auto* u = std::get_if<uint64_t>(&v.data)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      throw GgufError(path_ + ": metadata key '" + std::string(key) + "': UINT64 value " + std::to_string(*u) +
                      " does not fit in a signed 64-bit integer");
    return static_cast<int64_t>(*u);
  }
  return std::get<int64_t>(v.data);
}

double GgufFile::get_float(std::string_view key) const {
  return std::get<double>(expect(key, "a float (FLOAT32 or FLOAT64)", is_float).data);
}

bool GgufFile::get_bool(std::string_view key) const { return std::get<bool>(expect(key, "a BOOL", is_bool).data); }

const std::string& GgufFile::get_string(std::string_view key) const {
  return std::get<std::string>(expect(key, "a STRING", is_string).data);
}

const std::vector<std::string>& GgufFile::get_string_array(std::string_view key) const {
  return std::get<std::vector<std::string>>(expect(key, "an array of STRING", is_string_array).data);
}

const std::vector<int64_t>& GgufFile::get_int_array(std::string_view key) const {
  return std::get<std::vector<int64_t>>(expect(key, "an array of integers", is_int_array).data);
}

const std::vector<double>& GgufFile::get_float_array(std::string_view key) const {
  return std::get<std::vector<double>>(expect(key, "an array of FLOAT32 or FLOAT64", is_float_array).data);
}

const std::vector<uint8_t>& GgufFile::get_bool_array(std::string_view key) const {
  return std::get<std::vector<uint8_t>>(expect(key, "an array of BOOL", is_bool_array).data);
}

int64_t GgufFile::get_int_or(std::string_view key, int64_t fallback) const {
  return has(key) ? get_int(key) : fallback;
}

double GgufFile::get_float_or(std::string_view key, double fallback) const {
  return has(key) ? get_float(key) : fallback;
}

std::string GgufFile::get_string_or(std::string_view key, std::string fallback) const {
  return has(key) ? get_string(key) : std::move(fallback);
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace st
