// kernels/memory_read.h with 64-byte loads: one load per cache line, four lines per step.
#include <immintrin.h>

// GCC 12's _mm512_reduce_add_epi64 starts from an "undefined" vector that -Wuninitialized
// reports once inlined (a false positive: every lane is overwritten).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cstddef>
#include <cstdint>

namespace st::avx512 {

uint64_t read_all(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
  size_t i = 0;
  for (; i + 256 <= n; i += 256)
    for (int k = 0; k < 4; ++k) acc[k] = _mm512_add_epi64(acc[k], _mm512_loadu_si512(b + i + 64 * k));
  uint64_t sum = static_cast<uint64_t>(_mm512_reduce_add_epi64(
      _mm512_add_epi64(_mm512_add_epi64(acc[0], acc[1]), _mm512_add_epi64(acc[2], acc[3]))));
  for (; i < n; ++i) sum += b[i];
  return sum;
}

}  // namespace st::avx512
