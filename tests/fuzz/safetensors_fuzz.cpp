// libFuzzer target for the safetensors reader: any byte string must either parse or throw
// SafetensorsError. Every parsed tensor's first and last data byte is read, so an offset or
// size that escaped validation shows up as an ASan report rather than going unnoticed.
#include <cstddef>
#include <cstdint>

#include "formats/safetensors.h"

namespace {
volatile uint64_t g_sink;  // keeps the reads below from being optimized away
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto f = st::SafetensorsFile::parse(data, size, "fuzz.safetensors");
    uint64_t h = f->metadata().size();
    for (const auto& t : f->tensors()) {
      h += static_cast<uint64_t>(t.n_elements()) + t.shape.size();
      if (t.n_bytes() > 0) h += t.data[0] + t.data[t.n_bytes() - 1];
      if (f->find(t.name) != &t) __builtin_trap();  // the index must agree with the list
    }
    g_sink = h;
  } catch (const st::SafetensorsError&) {
  }
  return 0;
}
