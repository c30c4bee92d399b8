#include "runtime/kv_state.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "formats/output_file.h"

namespace st {
namespace {

constexpr char kMagic[8] = {'S', 'T', 'K', 'V', 'S', 'T', 'A', 'T'};
constexpr uint32_t kMaxName = 4096;

// Hash of the byte stream (the same however it is split into writes and reads), a word at a
// time: hashing a GiB cache must not dominate saving it.
class Hash {
 public:
  void add(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    while (n > 0 && n_tail_ > 0) tail_byte(*p++), --n;
    for (; n >= 8; p += 8, n -= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      mix(w);
    }
    while (n > 0) tail_byte(*p++), --n;
  }
  uint64_t value() const {
    uint64_t h = h_;
    if (n_tail_) h = (h ^ tail_ ^ (uint64_t{n_tail_} << 56)) * 0x100000001b3ull;
    return h ^ (h >> 29);
  }

 private:
  void mix(uint64_t w) {
    h_ = (h_ ^ w) * 0x100000001b3ull;
    h_ ^= h_ >> 31;
  }
  void tail_byte(uint8_t b) {
    tail_ |= uint64_t{b} << (8 * n_tail_);
    if (++n_tail_ == 8) mix(tail_), tail_ = 0, n_tail_ = 0;
  }
  uint64_t h_ = 0xcbf29ce484222325ull;
  uint64_t tail_ = 0;
  unsigned n_tail_ = 0;
};

// Positions [first, n_past) a layer holds: a ring only its last n_slots.
int64_t first_held(const KvLayerStore& s, int64_t n_past) { return s.ring ? std::max<int64_t>(0, n_past - s.n_slots) : 0; }
int64_t slot_of(const KvLayerStore& s, int64_t p) { return s.ring ? p % s.n_slots : p; }

class Writer {
 public:
  Writer(const std::string& path, const std::vector<std::string>& inputs) : out_(path, inputs) {}
  void put(const void* d, size_t n) {
    out_.write(d, n);
    hash_.add(d, n);
  }
  template <class T>
  void put(T v) { put(&v, sizeof v); }
  // The rows of positions [first, n_past) in position order (a ring is unrolled).
  void rows(const uint8_t* base, size_t row, const KvLayerStore& s, int64_t first, int64_t n_past) {
    for (int64_t p = first; p < n_past;) {
      const int64_t slot = slot_of(s, p);
      const int64_t run = std::min(n_past - p, s.n_slots - slot);  // contiguous until the ring wraps
      put(base + static_cast<size_t>(slot) * row, static_cast<size_t>(run) * row);
      p += run;
    }
  }
  void finish() {
    const uint64_t sum = hash_.value();
    out_.write(&sum, sizeof sum);
    out_.commit();
  }

 private:
  OutputFile out_;
  Hash hash_;
};

}  // namespace

ModelFingerprint model_fingerprint(const uint8_t* bytes, uint64_t header_bytes, uint64_t file_size, std::string name) {
  Hash h;
  h.add(bytes, static_cast<size_t>(std::min(header_bytes, file_size)));
  return {file_size, h.value(), std::move(name)};
}

void save_kv_state(const std::string& path, KvCache& kv, std::span<const int32_t> tokens, const ModelFingerprint& model,
                   const std::vector<std::string>& inputs) {
  const int64_t n_past = kv.n_past();
  if (static_cast<int64_t>(tokens.size()) != n_past)
    throw std::logic_error("save_kv_state: " + std::to_string(tokens.size()) + " tokens for " + std::to_string(n_past) +
                           " cached positions");
  Writer w(path, inputs);
  w.put(kMagic, sizeof kMagic);
  const uint32_t kv_width = static_cast<uint32_t>(kv.kv_width());
  for (uint32_t v : {kKvStateVersion, static_cast<uint32_t>(kv.n_layer()), kv_width, static_cast<uint32_t>(kv.k_type()),
                     static_cast<uint32_t>(kv.v_type()), 0u})
    w.put(v);
  w.put(model.file_size);
  w.put(model.header_hash);
  const uint32_t name_len = static_cast<uint32_t>(std::min<size_t>(model.name.size(), kMaxName));
  w.put(name_len);
  w.put(model.name.data(), name_len);
  w.put(kv.n_ctx());
  w.put(n_past);
  w.put(tokens.data(), tokens.size_bytes());
  for (int il = 0; il < kv.n_layer(); ++il) {
    const KvLayerStore s = kv.layer(il);
    const int64_t first = first_held(s, n_past);
    w.put(first);
    w.put(n_past - first);
    w.rows(s.k, s.k_row_bytes, s, first, n_past);
    w.rows(s.v, s.v_row_bytes, s, first, n_past);
  }
  w.finish();
}

namespace {

class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "rb"), &std::fclose) {
    if (!f_) fail(std::string("cannot open it: ") + std::strerror(errno));
    struct stat st{};
    if (fstat(fileno(f_.get()), &st) != 0 || !S_ISREG(st.st_mode)) fail("not a regular file");
    size_ = static_cast<uint64_t>(st.st_size);
  }
  [[noreturn]] void fail(const std::string& why) const {
    throw std::runtime_error("cache file " + path_ + ": " + why);
  }
  uint64_t remaining() const { return size_ - pos_; }
  // Every size is checked against what is left before anything is allocated or read.
  void get(void* d, size_t n) {
    if (n > remaining() || std::fread(d, 1, n, f_.get()) != n)
      fail("truncated (" + std::to_string(size_) + " bytes, needs more at offset " + std::to_string(pos_) + ")");
    pos_ += n;
    hash_.add(d, n);
  }
  template <class T>
  T get() {
    T v;
    get(&v, sizeof v);
    return v;
  }
  // Reads `n` rows of `row` bytes and places position first+i in its slot of `s`.
  void rows(uint8_t* base, size_t row, const KvLayerStore& s, int64_t first, int64_t n, int64_t copy_from) {
    if (static_cast<uint64_t>(n) > remaining() / std::max<size_t>(row, 1)) fail("truncated in the KV rows");
    std::vector<uint8_t> buf(static_cast<size_t>(n) * row);
    get(buf.data(), buf.size());
    for (int64_t p = std::max(first, copy_from); p < first + n; ++p)
      std::memcpy(base + static_cast<size_t>(slot_of(s, p)) * row, buf.data() + static_cast<size_t>(p - first) * row, row);
  }
  void check_end() {
    const uint64_t expect = hash_.value();
    uint64_t sum;
    if (remaining() < sizeof sum || std::fread(&sum, 1, sizeof sum, f_.get()) != sizeof sum) fail("truncated (no checksum)");
    if (sum != expect) fail("corrupt (checksum mismatch)");
    if (remaining() != sizeof sum) fail("has " + std::to_string(remaining() - sizeof sum) + " unexpected bytes at the end");
  }

 private:
  std::string path_;
  std::unique_ptr<FILE, int (*)(FILE*)> f_;
  uint64_t size_ = 0, pos_ = 0;
  Hash hash_;
};

std::string type_name(uint32_t t) { return t <= 64 ? std::string(tensor_type_name(static_cast<TensorType>(t))) : "type " + std::to_string(t); }

void read_header(Reader& r, KvCache& kv, const ModelFingerprint& model) {
  char magic[sizeof kMagic];
  r.get(magic, sizeof magic);
  if (std::memcmp(magic, kMagic, sizeof magic) != 0) r.fail("not a smallthinker prompt cache file");
  const uint32_t version = r.get<uint32_t>();
  if (version != kKvStateVersion)
    r.fail("format version " + std::to_string(version) + ", this build reads version " + std::to_string(kKvStateVersion));
  const auto n_layer = r.get<uint32_t>(), kv_width = r.get<uint32_t>(), k_type = r.get<uint32_t>(), v_type = r.get<uint32_t>();
  r.get<uint32_t>();  // reserved
  const auto size = r.get<uint64_t>(), hash = r.get<uint64_t>();
  const auto name_len = r.get<uint32_t>();
  if (name_len > kMaxName) r.fail("corrupt (model name of " + std::to_string(name_len) + " bytes)");
  std::string name(name_len, '\0');
  r.get(name.data(), name_len);
  if (size != model.file_size || hash != model.header_hash || n_layer != static_cast<uint32_t>(kv.n_layer()) ||
      kv_width != kv.kv_width())
    r.fail("was made with another model (" + name + ", " + std::to_string(size) + " bytes), not " + model.name + " (" +
           std::to_string(model.file_size) + " bytes" + (size == model.file_size ? ", different header" : "") +
           "); delete it or use another file");
  if (k_type != static_cast<uint32_t>(kv.k_type()) || v_type != static_cast<uint32_t>(kv.v_type()))
    r.fail("holds a " + type_name(k_type) + "/" + type_name(v_type) + " KV cache, this session uses " +
           type_name(static_cast<uint32_t>(kv.k_type())) + "/" + type_name(static_cast<uint32_t>(kv.v_type())) +
           " (pass the same -ctk/-ctv)");
}

std::vector<int32_t> read_state(Reader& r, KvCache& kv, const ModelFingerprint& model, int64_t n_vocab) {
  read_header(r, kv, model);
  r.get<int64_t>();  // n_ctx at save: any context that holds the tokens will do
  const auto n_past = r.get<int64_t>();
  if (n_past < 0 || static_cast<uint64_t>(n_past) > r.remaining() / sizeof(int32_t)) r.fail("truncated or corrupt (token count)");
  if (n_past >= kv.n_ctx())
    r.fail("holds " + std::to_string(n_past) + " tokens, which do not fit this context of " + std::to_string(kv.n_ctx()) +
           " (use a larger -c)");
  std::vector<int32_t> tokens(static_cast<size_t>(n_past));
  r.get(tokens.data(), tokens.size() * sizeof(int32_t));
  for (int32_t t : tokens)
    if (t < 0 || t >= n_vocab) r.fail("corrupt (token id " + std::to_string(t) + " outside the vocabulary)");
  for (int il = 0; il < kv.n_layer(); ++il) {
    const KvLayerStore s = kv.layer(il);
    const auto first = r.get<int64_t>(), n = r.get<int64_t>();
    const int64_t w = kv.window(il);
    // Positions attention will still read: all for a global layer, the window's for a sliding one.
    const int64_t needed = w > 0 ? std::max<int64_t>(0, n_past - w) : 0;
    if (first < 0 || n < 0 || first + n != n_past || first > needed)
      r.fail("corrupt (layer " + std::to_string(il) + " holds positions " + std::to_string(first) + "+" + std::to_string(n) + ")");
    const int64_t copy_from = first_held(s, n_past);  // a smaller ring keeps only its last slots
    r.rows(s.k, s.k_row_bytes, s, first, n, copy_from);
    r.rows(s.v, s.v_row_bytes, s, first, n, copy_from);
  }
  r.check_end();
  return tokens;
}

}  // namespace

std::vector<int32_t> load_kv_state(const std::string& path, KvCache& kv, const ModelFingerprint& model, int64_t n_vocab) {
  kv.clear();
  Reader r(path);
  try {
    std::vector<int32_t> tokens = read_state(r, kv, model, n_vocab);
    kv.set_n_past(static_cast<int64_t>(tokens.size()));
    return tokens;
  } catch (...) {
    kv.clear();  // rows may be half-written: nothing of it counts
    throw;
  }
}

}  // namespace st
