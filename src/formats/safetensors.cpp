#include "formats/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "formats/mapped_pages.h"

namespace st {

static_assert(std::endian::native == std::endian::little, "safetensors stores little-endian data; add byte swapping");

namespace {

using nlohmann::json;

// Tensor names from the file go into messages; keep hostile names readable.
std::string shown(std::string_view s) {
  constexpr size_t kMax = 120;
  return s.size() <= kMax ? std::string(s) : std::string(s.substr(0, kMax)) + "...";
}

// The header nests at most three levels (root -> tensor entry -> shape array); anything
// deeper is malformed, and refusing it early keeps hostile nesting cheap.
constexpr int kMaxDepth = 4;

// All safetensors dtype names, so a known-but-unsupported one gets a precise message.
bool is_known_dtype(const std::string& s) {
  static const char* const kKnown[] = {"BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64",
                                       "F64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2"};
  return std::any_of(std::begin(kKnown), std::end(kKnown), [&](const char* k) { return s == k; });
}

}  // namespace

std::string_view safetensors_dtype_name(SafetensorsDtype d) {
  switch (d) {
    case SafetensorsDtype::F32: return "F32";
    case SafetensorsDtype::F16: return "F16";
    case SafetensorsDtype::BF16: return "BF16";
  }
  return "?";
}

size_t safetensors_dtype_size(SafetensorsDtype d) { return d == SafetensorsDtype::F32 ? 4 : 2; }

int64_t SafetensorsTensor::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // validated against overflow when parsed
  return n;
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  // O_NONBLOCK: a FIFO fails the regular-file check below instead of blocking the open.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw SafetensorsError(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw SafetensorsError(path + ": not a regular file");
  }
  const auto size = static_cast<size_t>(st.st_size);
  void* map = nullptr;
  if (size > 0) {
    map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      throw SafetensorsError(path + ": mmap failed: " + std::strerror(err));
    }
  }
  ::close(fd);
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->bytes_ = static_cast<const uint8_t*>(map);
  f->size_ = size;
  f->mapping_ = map;
  watch_mapping(map, size, path);  // truncated while mapped: a fatal error naming it, not SIGBUS
  f->parse_all();  // on a throw, the destructor unmaps
  return f;
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::parse(const uint8_t* bytes, size_t size, std::string name) {
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = std::move(name);
  f->bytes_ = bytes;
  f->size_ = size;
  f->parse_all();
  return f;
}

SafetensorsFile::~SafetensorsFile() {
  if (!mapping_) return;
  unwatch_mapping(mapping_);
  munmap(mapping_, size_);
}

const SafetensorsTensor* SafetensorsFile::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

void SafetensorsFile::release(const SafetensorsTensor& t, uint64_t begin, uint64_t end) const {
  if (begin >= end) return;
  release_mapped_pages(static_cast<const uint8_t*>(mapping_), size_, t.file_offset + begin, t.file_offset + end);
}

void SafetensorsFile::parse_all() {
  const auto fail = [&](const std::string& what) -> void { throw SafetensorsError(path_ + ": " + what); };
  if (size_ < 8) fail("file of " + std::to_string(size_) + " bytes is too short for a safetensors header (8-byte length + JSON)");
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes_, 8);
  if (header_len > kMaxHeaderBytes)
    fail("header length " + std::to_string(header_len) + " exceeds the limit of " + std::to_string(kMaxHeaderBytes) +
         " bytes (not a safetensors file, or corrupt)");
  if (header_len > size_ - 8)
    fail("header length " + std::to_string(header_len) + " runs past the end of the file (" + std::to_string(size_) +
         " bytes): truncated?");
  data_offset_ = 8 + header_len;
  const uint64_t data_size = size_ - data_offset_;

  const char* text = reinterpret_cast<const char*>(bytes_ + 8);
  json header;
  try {
    header = json::parse(text, text + header_len, [](int depth, json::parse_event_t, json&) {
      if (depth > kMaxDepth) throw SafetensorsError("nested too deeply");
      return true;
    });
  } catch (const json::exception& e) {
    fail(std::string("header is not valid JSON: ") + e.what());
  } catch (const SafetensorsError& e) {
    fail(std::string("header is ") + e.what() + " for a safetensors header");
  }
  if (!header.is_object()) fail("header is JSON but not an object");

  for (const auto& [name, entry] : header.items()) {
    const std::string where = "tensor '" + shown(name) + "': ";
    if (name == "__metadata__") {
      if (!entry.is_object()) fail("__metadata__ is not an object");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) fail("__metadata__ value for '" + shown(k) + "' is not a string");
        metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    if (!entry.is_object()) fail(where + "entry is not an object");
    const auto dt = entry.find("dtype");
    if (dt == entry.end() || !dt->is_string()) fail(where + "missing or non-string \"dtype\"");
    const std::string dtype = dt->get<std::string>();
    SafetensorsTensor t;
    t.name = name;
    if (dtype == "F32") t.dtype = SafetensorsDtype::F32;
    else if (dtype == "F16") t.dtype = SafetensorsDtype::F16;
    else if (dtype == "BF16") t.dtype = SafetensorsDtype::BF16;
    else if (is_known_dtype(dtype)) fail(where + "dtype " + dtype + " is not supported (only F32, F16 and BF16 weights)");
    else fail(where + "unknown dtype '" + shown(dtype) + "'");

    const auto sh = entry.find("shape");
    if (sh == entry.end() || !sh->is_array()) fail(where + "missing or non-array \"shape\"");
    if (sh->size() > 8) fail(where + "shape has " + std::to_string(sh->size()) + " dimensions (at most 8 supported)");
    uint64_t n = 1;
    for (const json& d : *sh) {
      if (!d.is_number_unsigned()) fail(where + "shape entry " + d.dump() + " is not a non-negative integer");
      const uint64_t v = d.get<uint64_t>();
      if (v > (uint64_t{1} << 62) || __builtin_mul_overflow(n, v, &n) || n > (uint64_t{1} << 62))
        fail(where + "shape " + sh->dump() + " has too many elements");
      t.shape.push_back(static_cast<int64_t>(v));
    }
    const auto off = entry.find("data_offsets");
    if (off == entry.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned())
      fail(where + "\"data_offsets\" must be [begin, end] with non-negative integers");
    t.begin = (*off)[0].get<uint64_t>();
    t.end = (*off)[1].get<uint64_t>();
    if (t.begin > t.end) fail(where + "data_offsets begin " + std::to_string(t.begin) + " > end " + std::to_string(t.end));
    if (t.end > data_size)
      fail(where + "data_offsets end " + std::to_string(t.end) + " is past the end of the data (" +
           std::to_string(data_size) + " bytes): truncated file?");
    uint64_t want = 0;
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(safetensors_dtype_size(t.dtype)), &want) || want != t.end - t.begin)
      fail(where + "data_offsets cover " + std::to_string(t.end - t.begin) + " bytes but shape " + sh->dump() + " of " +
           dtype + " needs " + std::to_string(n) + " x " + std::to_string(safetensors_dtype_size(t.dtype)));
    t.file_offset = data_offset_ + t.begin;
    t.data = bytes_ + t.file_offset;
    tensors_.push_back(std::move(t));
  }

  std::sort(tensors_.begin(), tensors_.end(), [](const SafetensorsTensor& a, const SafetensorsTensor& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < tensors_.size(); ++i) {
    const auto& prev = tensors_[i - 1];
    const auto& cur = tensors_[i];
    if (cur.begin < prev.end)
      fail("tensors '" + shown(prev.name) + "' [" + std::to_string(prev.begin) + ", " + std::to_string(prev.end) +
           ") and '" + shown(cur.name) + "' [" + std::to_string(cur.begin) + ", " + std::to_string(cur.end) + ") overlap");
  }
  for (size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
}

}  // namespace st
