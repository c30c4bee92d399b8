// The plain twin of the bandwidth probe's reads (IsaKernels::read_all, kernels/memory_read.h):
// kReadStreams parts of the range read in step, 8 bytes at a time.
#include <cstring>

#include "kernels/memory_read.h"
#include "kernels/ref/ref.h"

namespace st::ref {

uint64_t read_all(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  constexpr int S = kReadStreams;
  const size_t part = n / S / 8 * 8;
  uint64_t acc[S] = {};
  for (size_t i = 0; i < part; i += 8)
    for (int s = 0; s < S; ++s) {
      uint64_t v;
      std::memcpy(&v, b + static_cast<size_t>(s) * part + i, 8);
      acc[s] += v;
    }
  uint64_t sum = 0;
  for (uint64_t a : acc) sum += a;
  for (size_t i = part * S; i < n; ++i) sum += b[i];
  return sum;
}

}  // namespace st::ref
