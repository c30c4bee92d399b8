// AVX-512 VNNI integer dot policies for the shared gemv/gemm templates in avx2/. vpdpbusd
// multiplies u8 x s8 and accumulates 4 products into an int32 lane in one instruction,
// replacing AVX2's maddubs + madd pair (and its 16-bit intermediate). 256-bit vectors
// (AVX512VL) are used on purpose: the tiles are sized for them, and on CPUs that split
// 512-bit operations (Zen 4) the wider form brings no extra throughput.
#pragma once
#include <immintrin.h>

#include "kernels/avx2/gemm_parts.h"
#include "kernels/avx2/gemv_blocks.h"

namespace st::simd {
namespace {

// Q5_0/Q5_1 codes with AVX512BW: the 32 qh bits become a mask register directly, and a
// masked add sets the 5th bit (2 instructions instead of AVX2's 5-step byte expansion).
template <class Base, int kQhOffset, int kQsOffset>
struct PackQ5Mask : Base {
  static __m256i codes(const uint8_t* row, int64_t c) {
    const uint8_t* b = row + c * Base::kBlockBytes;
    const __m256i lo = unpack_nibbles16(b + kQsOffset);
    return _mm256_mask_add_epi8(lo, static_cast<__mmask32>(load_i32(b + kQhOffset)), lo, _mm256_set1_epi8(16));
  }
};
using PackQ5_0Vnni = PackQ5Mask<PackQ5_0, 2, 6>;
using PackQ5_1Vnni = PackQ5Mask<PackQ5_1, 4, 8>;

// For batched_gemv (gemv_blocks.h).
struct DotVnni {
  static __m256i dot(__m256i u, __m256i s) { return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s); }
};

// For tile_gemm (tile_gemm.h): 32 vector registers leave room for 8 tokens per tile.
struct TileDotVnni {
  static constexpr int kTokens = 8;
  template <int kGroups, int TT>
  static void accumulate(__m256i* isum, const uint8_t* q, const uint8_t* const* arow, int32_t off) {
    for (int g = 0; g < kGroups; ++g) {
      const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(q + 32 * g));
      for (int t = 0; t < TT; ++t)
        isum[t] = _mm256_dpbusd_epi32(isum[t], w, _mm256_set1_epi32(load_i32(arow[t] + off + 4 * g)));
    }
  }
};

}  // namespace
}  // namespace st::simd
