#include "kernels/memory_read.h"

#include <cstring>

#include "kernels/kernel_table.h"

namespace st {

#if ST_HAVE_X86_KERNELS
namespace avx2 {
uint64_t read_all(const void* p, size_t n);
}
namespace avx512 {
uint64_t read_all(const void* p, size_t n);
}
#endif
#if ST_HAVE_NEON_KERNELS
namespace neon {
uint64_t read_all(const void* p, size_t n);
}
#endif

namespace {

uint64_t read_all_plain(const void* p, size_t n) {
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

}  // namespace

uint64_t read_all(const void* p, size_t n) {
  switch (active_isa()) {
#if ST_HAVE_X86_KERNELS
    case Isa::avx512: return avx512::read_all(p, n);
    case Isa::avx2: return avx2::read_all(p, n);
#endif
#if ST_HAVE_NEON_KERNELS
    case Isa::neon:
    case Isa::neon_dotprod: return neon::read_all(p, n);
#endif
    default: return read_all_plain(p, n);
  }
}

}  // namespace st
