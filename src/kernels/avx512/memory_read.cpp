// kernels/memory_read.h with 64-byte loads: one load per cache line, one line of each stream per step.
#include <immintrin.h>


#include <cstddef>
#include <cstdint>

#include "kernels/memory_read.h"

namespace st::avx512 {

uint64_t read_all(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  constexpr int S = kReadStreams;
  const size_t part = n / S / 256 * 256;  // each stream's bytes, whole steps
  __m512i acc[S];
  for (auto& a : acc) a = _mm512_setzero_si512();
  for (size_t i = 0; i < part; i += 256)  // four lines of each stream per step
    for (int s = 0; s < S; ++s) {
      const uint8_t* q = b + static_cast<size_t>(s) * part + i;
      const __m512i l01 = _mm512_add_epi64(_mm512_loadu_si512(q), _mm512_loadu_si512(q + 64));
      const __m512i l23 = _mm512_add_epi64(_mm512_loadu_si512(q + 128), _mm512_loadu_si512(q + 192));
      acc[s] = _mm512_add_epi64(acc[s], _mm512_add_epi64(l01, l23));
    }
  __m512i all = acc[0];
  for (int s = 1; s < S; ++s) all = _mm512_add_epi64(all, acc[s]);
  alignas(64) uint64_t lanes[8];  // summed unsigned: GCC's _mm512_reduce_add_epi64 adds signed (overflow is UB)
  _mm512_store_si512(lanes, all);
  uint64_t sum = 0;
  for (uint64_t l : lanes) sum += l;
  for (size_t i = part * S; i < n; ++i) sum += b[i];
  return sum;
}

}  // namespace st::avx512
