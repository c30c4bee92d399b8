// kernels/memory_read.h with 32-byte loads: one cache line of each stream per step.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/memory_read.h"

namespace st::avx2 {

uint64_t read_all(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  constexpr int S = kReadStreams;
  const size_t part = n / S / 64 * 64;  // each stream's bytes, whole cache lines
  __m256i acc[S];
  for (auto& a : acc) a = _mm256_setzero_si256();
  for (size_t i = 0; i < part; i += 64)
    for (int s = 0; s < S; ++s) {
      const uint8_t* q = b + static_cast<size_t>(s) * part + i;
      acc[s] = _mm256_add_epi64(acc[s], _mm256_add_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)),
                                                         _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32))));
    }
  __m256i all = acc[0];
  for (int s = 1; s < S; ++s) all = _mm256_add_epi64(all, acc[s]);
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), all);
  uint64_t sum = lanes[0] + lanes[1] + lanes[2] + lanes[3];
  for (size_t i = part * S; i < n; ++i) sum += b[i];
  return sum;
}

}  // namespace st::avx2
