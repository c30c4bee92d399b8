// Reading memory as fast as the CPU can, for `bench`'s bandwidth probe: the roofline decode
// is measured against. Every byte is loaded with the active ISA's widest vector loads (one
// 64-byte load per cache line on AVX-512), because narrower loads hold fewer cache lines in
// flight per core: a loop of 16-byte loads read ~23 GB/s per core where the decode kernels
// streamed ~30.
#pragma once
#include <cstddef>
#include <cstdint>

namespace st {

// Reads bytes [p, p + n) and returns a checksum of them (so the reads cannot be dropped).
uint64_t read_all(const void* p, size_t n);

}  // namespace st
