// Reading memory as fast as the CPU can, for `bench`'s bandwidth probe: the roofline decode
// is measured against. Bytes are loaded with the active ISA's widest vector loads, from
// several places at once: the range is cut into kStreams parts read in step, because a core
// following one sequential stream is held back by how far ahead one stream's hardware
// prefetch runs (measured on the 2-core AMD EPYC, two threads: one stream each ~42 GB/s,
// two ~52, eight ~60).
#pragma once
#include <cstddef>
#include <cstdint>

namespace st {

inline constexpr int kReadStreams = 8;

// Reads bytes [p, p + n) and returns a checksum of them (so the reads cannot be dropped).
uint64_t read_all(const void* p, size_t n);

}  // namespace st
