// kernels/memory_read.h with 32-byte loads, four per step.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace st::avx2 {

uint64_t read_all(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
  size_t i = 0;
  for (; i + 128 <= n; i += 128)
    for (int k = 0; k < 4; ++k)
      acc[k] = _mm256_add_epi64(acc[k], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i + 32 * k)));
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes),
                     _mm256_add_epi64(_mm256_add_epi64(acc[0], acc[1]), _mm256_add_epi64(acc[2], acc[3])));
  uint64_t sum = lanes[0] + lanes[1] + lanes[2] + lanes[3];
  for (; i < n; ++i) sum += b[i];
  return sum;
}

}  // namespace st::avx2
