// The row-group packer (kernels/row_groups.h) with 128-bit moves, shared by the avx2/ and
// avx512/ tables (it needs nothing beyond SSE2, and both folders compile with AVX2 flags).
// Internal linkage, as in simd.h: copies compiled with different -m flags must not merge.
//
// Row by row: the source is read as one sequential stream (freshly read experts are cold in
// the caches, and a single stream is what the prefetchers follow best), while the writes land
// in the group's own 16 x row_bytes region, which stays in L1.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/blocks.h"

namespace st::simd {
namespace {

template <bool kQ8>
void pack_row_groups_sse(const uint8_t* rows, int64_t n_rows, int64_t n_cols, uint8_t* groups) {
  constexpr int kCodeBytes = kQ8 ? 32 : 16;
  constexpr int kBlockBytes = 2 + kCodeBytes;
  constexpr size_t kGroupBlock = 16 * kBlockBytes;
  const int64_t nb = n_cols / kQK;
  const size_t row_bytes = static_cast<size_t>(nb) * kBlockBytes;
  const __m128i bias = _mm_set1_epi8(kQ8 ? static_cast<char>(0x80) : 0);
  for (int64_t g = 0; g < n_rows / 16; ++g) {
    const uint8_t* src = rows + static_cast<size_t>(g) * 16 * row_bytes;
    uint8_t* dst = groups + static_cast<size_t>(g) * 16 * row_bytes;
    for (int r = 0; r < 16; ++r) {
      const uint8_t* s = src + static_cast<size_t>(r) * row_bytes;
      uint8_t* d = dst + 4 * r;
      for (int64_t b = 0; b < nb; ++b, s += kBlockBytes, d += kGroupBlock) {
        std::memcpy(d - 2 * r, s, 2);  // scale r at offset 2r of the block (d is 4r in)
        for (int h = 0; h < kCodeBytes / 16; ++h) {
          const __m128i c = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 2 + 16 * h)), bias);
          uint8_t* o = d + 32 + 256 * h;  // chunks 4h .. 4h + 3
          _mm_storeu_si32(o, c);
          _mm_storeu_si32(o + 64, _mm_srli_si128(c, 4));
          _mm_storeu_si32(o + 128, _mm_srli_si128(c, 8));
          _mm_storeu_si32(o + 192, _mm_srli_si128(c, 12));
        }
      }
    }
  }
}

}  // namespace
}  // namespace st::simd
