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
  uint64_t s[4] = {};
  size_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; ++k) {
      uint64_t v;
      std::memcpy(&v, b + i + 8 * k, 8);
      s[k] += v;
    }
  for (; i < n; ++i) s[0] += b[i];
  return s[0] + s[1] + s[2] + s[3];
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
