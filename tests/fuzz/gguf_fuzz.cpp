// libFuzzer target for the GGUF reader: any byte string must either parse or throw GgufError.
// Every parsed value and every tensor's first and last data byte are read, so a pointer or
// length that escaped validation shows up as an ASan report rather than going unnoticed.
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <variant>

#include "formats/gguf.h"

namespace {

volatile uint64_t g_sink;  // keeps the reads below from being optimized away

void touch(const st::GgufValue& v) {
  uint64_t h = static_cast<uint64_t>(v.type) + v.array_size();
  std::visit(
      [&](const auto& d) {
        using T = std::decay_t<decltype(d)>;
        if constexpr (std::is_same_v<T, std::string>) {
          for (char c : d) h += static_cast<unsigned char>(c);
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          for (const auto& s : d)
            for (char c : s) h += static_cast<unsigned char>(c);
        } else if constexpr (std::is_same_v<T, std::vector<double>>) {
          for (double x : d) h += static_cast<uint64_t>(x == x);
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>> || std::is_same_v<T, std::vector<uint8_t>>) {
          for (auto x : d) h += static_cast<uint64_t>(x);
        } else if constexpr (std::is_same_v<T, double>) {
          h += static_cast<uint64_t>(d == d);
        } else {
          h += static_cast<uint64_t>(d);
        }
      },
      v.data);
  g_sink = g_sink + h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto f = st::GgufFile::parse(data, size, "fuzz.gguf");
    for (const auto& [key, value] : f->metadata()) {
      g_sink = g_sink + key.size();
      touch(value);
      // The typed getters must agree with the stored kinds (and only ever throw GgufError).
      try {
        g_sink = g_sink + static_cast<uint64_t>(f->get_int(key));
      } catch (const st::GgufError&) {
      }
    }
    for (const auto& t : f->tensors()) {
      if (!st::has_layout(t.type)) {  // an id without a known layout: no data range, offset inside the file
        if (t.data != nullptr || t.n_bytes != 0 || t.file_offset > f->file_size()) __builtin_trap();
        continue;
      }
      if (t.n_bytes == 0 || t.file_offset + t.n_bytes > f->file_size() || t.data != data + t.file_offset) __builtin_trap();
      g_sink = g_sink + t.data[0] + t.data[t.n_bytes - 1];
      if (f->find_tensor(t.name) != &t) __builtin_trap();
    }
  } catch (const st::GgufError&) {
  }
  return 0;
}
