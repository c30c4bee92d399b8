// The type-specific halves of tile_gemm.h: weight packers (one per block format) and the
// activation preparers (one per activation format), plus the AVX2 integer dot policies.
// Shared by avx2/ and avx512/; internal linkage throughout (see simd.h).
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "kernels/avx2/simd.h"
#include "kernels/avx2/tile_gemm.h"
#include "kernels/blocks.h"

namespace st::simd {
namespace {

// ---- activation side -------------------------------------------------------------------

inline int32_t sum_i8x32(const uint8_t* p) {
  return hsum_i32(_mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), loadu256(p)), _mm256_set1_epi16(1)));
}

// Q8_0 activations against a weight format with zero point c (0: none).
inline void prepare_act_q8_0(GemmScratch& g, int64_t n_tok, int c) {
  const int64_t nb = g.act.n_blocks;
  for (int64_t b = 0; b < nb; ++b) g.qs_offset[b] = static_cast<int32_t>(b * 34 + 2);
  for (int64_t t = 0; t < n_tok; ++t) {
    const uint8_t* row = g.act.base + static_cast<size_t>(t) * g.act.row_bytes;
    for (int64_t b = 0; b < nb; ++b) {
      g.da[t * nb + b] = load_half(row + b * 34);
      if (g.zero) g.zero[t * nb + b] = -c * sum_i8x32(row + b * 34 + 2);
    }
  }
}

// Q8_1 activations (formats with a min): s already holds d * sum(codes).
inline void prepare_act_q8_1(GemmScratch& g, int64_t n_tok) {
  const int64_t nb = g.act.n_blocks;
  for (int64_t b = 0; b < nb; ++b) g.qs_offset[b] = static_cast<int32_t>(b * 36 + 4);
  for (int64_t t = 0; t < n_tok; ++t) {
    const uint8_t* row = g.act.base + static_cast<size_t>(t) * g.act.row_bytes;
    for (int64_t b = 0; b < nb; ++b) {
      g.da[t * nb + b] = load_half(row + b * 36);
      g.sa[t * nb + b] = load_half(row + b * 36 + 2);
    }
  }
}

// Q8_K activations seen as blocks of `block` elements (32 or 16). Where the weights need them
// (the scratch has the array): sa = d * (sum of the block's codes) for formats with a min
// (Q4_K, Q5_K: 32; Q2_K: 16) and zero = -zero_point * sum for codes stored with an offset
// (Q6_K: 16, 32; Q3_K: 16, 4; biased IQ4_XS on VNNI: 32, 128).
inline void prepare_act_q8_k(GemmScratch& g, int64_t n_tok, int block, int zero_point) {
  const int64_t nb = g.act.n_blocks, per_sb = kQK_K / block;
  for (int64_t b = 0; b < nb; ++b)
    g.qs_offset[b] = static_cast<int32_t>((b / per_sb) * sizeof(BlockQ8_K) + 4 + (b % per_sb) * block);
  for (int64_t t = 0; t < n_tok; ++t) {
    const uint8_t* row = g.act.base + static_cast<size_t>(t) * g.act.row_bytes;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* sb = row + (b / per_sb) * sizeof(BlockQ8_K);
      float d;
      std::memcpy(&d, sb, 4);
      int16_t bs[kQK_K / 16];
      std::memcpy(bs, sb + 4 + kQK_K, sizeof bs);
      const int64_t j = b % per_sb;
      const int32_t sum = block == 32 ? bs[2 * j] + bs[2 * j + 1] : bs[j];
      g.da[t * nb + b] = d;
      if (g.sa) g.sa[t * nb + b] = d * static_cast<float>(sum);
      if (g.zero) g.zero[t * nb + b] = -zero_point * sum;
    }
  }
}

// ---- weight side -----------------------------------------------------------------------

struct PackQ4_0 {
  static constexpr int kBlock = 32;
  static constexpr int kBlockBytes = 18;  // fp16 d at offset 0
  static constexpr bool kHasMin = false;
  static __m256i codes(const uint8_t* row, int64_t c) { return unpack_nibbles16(row + c * 18 + 2); }
  static void scales(const uint8_t* row, int64_t c, float* scale, float*) { *scale = load_half(row + c * 18); }
};

struct PackQ4_1 {
  static constexpr int kBlock = 32;
  static constexpr int kBlockBytes = 20;  // fp16 d at offset 0, fp16 m at 2
  static constexpr bool kHasMin = true;
  static __m256i codes(const uint8_t* row, int64_t c) { return unpack_nibbles16(row + c * 20 + 4); }
  static void scales(const uint8_t* row, int64_t c, float* scale, float* minc) {
    *scale = load_half(row + c * 20);
    *minc = load_half(row + c * 20 + 2);
  }
};

struct PackQ5_0 {
  static constexpr int kBlock = 32;
  static constexpr int kBlockBytes = 22;  // fp16 d at offset 0
  static constexpr bool kHasMin = false;
  static __m256i codes(const uint8_t* row, int64_t c) {
    const uint8_t* b = row + c * 22;
    return _mm256_or_si256(unpack_nibbles16(b + 6), bits_to_0x10(static_cast<uint32_t>(load_i32(b + 2))));
  }
  static void scales(const uint8_t* row, int64_t c, float* scale, float*) { *scale = load_half(row + c * 22); }
};

struct PackQ5_1 {
  static constexpr int kBlock = 32;
  static constexpr int kBlockBytes = 24;  // fp16 d at offset 0, fp16 m at 2
  static constexpr bool kHasMin = true;
  static __m256i codes(const uint8_t* row, int64_t c) {
    const uint8_t* b = row + c * 24;
    return _mm256_or_si256(unpack_nibbles16(b + 8), bits_to_0x10(static_cast<uint32_t>(load_i32(b + 4))));
  }
  static void scales(const uint8_t* row, int64_t c, float* scale, float* minc) {
    *scale = load_half(row + c * 24);
    *minc = load_half(row + c * 24 + 2);
  }
};

// Q8_0 kept signed (for the AVX2 sign-trick policy).
struct PackQ8_0Signed {
  static constexpr int kBlock = 32;
  static constexpr int kBlockBytes = 34;  // fp16 d at offset 0
  static constexpr bool kHasMin = false;
  static __m256i codes(const uint8_t* row, int64_t c) { return loadu256(row + c * 34 + 2); }
  static void scales(const uint8_t* row, int64_t c, float* scale, float*) { *scale = load_half(row + c * 34); }
};

// Q8_0 biased to u8 (q + 128, zero point 128) for VNNI's u8 x s8 product.
struct PackQ8_0Biased {
  static constexpr int kBlock = 32;
  static constexpr int kBlockBytes = 34;
  static constexpr bool kHasMin = false;
  static __m256i codes(const uint8_t* row, int64_t c) {
    return _mm256_xor_si256(PackQ8_0Signed::codes(row, c), _mm256_set1_epi8(static_cast<char>(0x80)));
  }
  static void scales(const uint8_t* row, int64_t c, float* scale, float* minc) {
    PackQ8_0Signed::scales(row, c, scale, minc);
  }
};

// Q4_K/Q5_K: chunk c is sub-block c%8 of super-block c/8; scale d*sc, min coefficient -dmin*m.
template <int kBlockBytes, int kQsOffset, bool kFifthBit>
struct PackK4 {
  static constexpr int kBlock = 32;
  static constexpr bool kHasMin = true;
  static void scales(const uint8_t* row, int64_t c, float* scale, float* minc) {
    const uint8_t* b = row + (c / 8) * kBlockBytes;
    uint8_t sc, m;
    unpack_scale_min_k4(static_cast<int>(c % 8), b + 4, &sc, &m);
    *scale = load_half(b) * sc;
    *minc = -(load_half(b + 2) * m);
  }
  static __m256i codes(const uint8_t* row, int64_t c) {
    const uint8_t* b = row + (c / 8) * kBlockBytes;
    const int j = static_cast<int>(c % 8);
    const __m256i packed = loadu256(b + kQsOffset + 32 * (j / 2));
    __m256i v = _mm256_and_si256(_mm256_srli_epi16(packed, 4 * (j % 2)), _mm256_set1_epi8(0x0F));
    if constexpr (kFifthBit) {
      const __m256i qh = _mm256_and_si256(_mm256_srli_epi16(loadu256(b + 16), j), _mm256_set1_epi8(1));
      v = _mm256_or_si256(v, _mm256_slli_epi16(qh, 4));
    }
    return v;
  }
};
using PackQ4_K = PackK4<sizeof(BlockQ4_K), 16, false>;
using PackQ5_K = PackK4<sizeof(BlockQ5_K), 48, true>;

// Q6_K: chunk c holds 32 consecutive elements = sub-blocks 2c and 2c+1 (16 each), zero point 32.
struct PackQ6_K {
  static constexpr int kBlock = 16;
  static constexpr bool kHasMin = false;
  static void scales(const uint8_t* row, int64_t c, float* scale, float*) {
    const uint8_t* b = row + (c / 8) * sizeof(BlockQ6_K);
    const float d = load_half(b + 208);
    const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
    scale[0] = d * sc[2 * (c % 8)];
    scale[1] = d * sc[2 * (c % 8) + 1];
  }
  static __m256i codes(const uint8_t* row, int64_t c) {
    const uint8_t* b = row + (c / 8) * sizeof(BlockQ6_K);
    const int k8 = static_cast<int>(c % 8), h = k8 / 4, k = k8 % 4;
    const __m256i ql = loadu256(b + 64 * h + 32 * (k % 2));
    const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(ql, 4 * (k / 2)), _mm256_set1_epi8(0x0F));
    const __m256i qh = _mm256_and_si256(_mm256_srli_epi16(loadu256(b + 128 + 32 * h), 2 * k), _mm256_set1_epi8(3));
    return _mm256_or_si256(lo, _mm256_slli_epi16(qh, 4));
  }
};

// Q3_K: chunk c holds sub-blocks 2c and 2c+1 (16 each) of super-block c/8: 3-bit codes
// 0..7 (value code - 4; the zero point goes through the Q8_K sums), scale d * (sc - 32).
struct PackQ3_K {
  static constexpr int kBlock = 16;
  static constexpr bool kHasMin = false;
  static void scales(const uint8_t* row, int64_t c, float* scale, float*) {
    const uint8_t* b = row + (c / 8) * sizeof(BlockQ3_K);
    const float d = load_half(b + 108);
    scale[0] = d * static_cast<float>(q3_k_scale(b + 96, static_cast<int>(2 * (c % 8))));
    scale[1] = d * static_cast<float>(q3_k_scale(b + 96, static_cast<int>(2 * (c % 8) + 1)));
  }
  static __m256i codes(const uint8_t* row, int64_t c) {
    const uint8_t* b = row + (c / 8) * sizeof(BlockQ3_K);
    const int k8 = static_cast<int>(c % 8), h = k8 / 4, k = k8 % 4;
    const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(loadu256(b + 32 + 32 * h), 2 * k), _mm256_set1_epi8(3));
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(loadu256(b), k8), _mm256_set1_epi8(1));
    return _mm256_or_si256(lo, _mm256_slli_epi16(hi, 2));
  }
};

// Q2_K: chunk c holds sub-blocks 2c and 2c+1 of super-block c/8: 2-bit codes, scale
// d * (s & 15), min coefficient -dmin * (s >> 4).
struct PackQ2_K {
  static constexpr int kBlock = 16;
  static constexpr bool kHasMin = true;
  static void scales(const uint8_t* row, int64_t c, float* scale, float* minc) {
    const uint8_t* b = row + (c / 8) * sizeof(BlockQ2_K);
    const float d = load_half(b + 80), dmin = load_half(b + 82);
    for (int k = 0; k < 2; ++k) {
      const uint8_t s = b[2 * (c % 8) + k];
      scale[k] = d * static_cast<float>(s & 0xF);
      minc[k] = -(dmin * static_cast<float>(s >> 4));
    }
  }
  static __m256i codes(const uint8_t* row, int64_t c) {
    const uint8_t* b = row + (c / 8) * sizeof(BlockQ2_K);
    const int k8 = static_cast<int>(c % 8), h = k8 / 4, k = k8 % 4;
    return _mm256_and_si256(_mm256_srli_epi16(loadu256(b + 16 + 32 * h), 2 * k), _mm256_set1_epi8(3));
  }
};

// The 16 scales of a Q3_K super-block minus 32, as int8 (blocks.h's unpack_scales_q3_k with
// the final subtraction in one vector instruction).
inline __m128i q3_k_scales_i8(const uint8_t* scales) {
  uint32_t w[3];
  std::memcpy(w, scales, sizeof w);
  const uint32_t m4 = 0x0F0F0F0Fu, m2 = 0x03030303u;
  const __m128i u = _mm_setr_epi32(static_cast<int32_t>((w[0] & m4) | ((w[2] & m2) << 4)),
                                   static_cast<int32_t>((w[1] & m4) | (((w[2] >> 2) & m2) << 4)),
                                   static_cast<int32_t>(((w[0] >> 4) & m4) | (((w[2] >> 4) & m2) << 4)),
                                   static_cast<int32_t>(((w[1] >> 4) & m4) | (((w[2] >> 6) & m2) << 4)));
  return _mm_sub_epi8(u, _mm_set1_epi8(32));
}

// For the super-block kernels with 16 scales of 16 elements (Q2_K, Q3_K): the scales as int16
// (sc16, lanes in order) -> the vector holding scale 2k8 in the low 128-bit lane and 2k8 + 1 in
// the high one, for quarter k8 = 0..7 of the super-block. Both halves of sc16 are first copied
// to both lanes, so one in-lane pshufb per quarter picks the pair.
struct QuarterScales {
  __m256i lo, hi;  // scales 0-7 / 8-15 in both lanes
  explicit QuarterScales(__m256i sc16)
      : lo(_mm256_permute4x64_epi64(sc16, 0x44)), hi(_mm256_permute4x64_epi64(sc16, 0xEE)) {}
  __m256i of(int k8) const {
    const int k = k8 % 4;
    const __m256i ctrl = _mm256_setr_m128i(_mm_set1_epi16(static_cast<int16_t>((4 * k) | ((4 * k + 1) << 8))),
                                           _mm_set1_epi16(static_cast<int16_t>((4 * k + 2) | ((4 * k + 3) << 8))));
    return _mm256_shuffle_epi8(k8 < 4 ? lo : hi, ctrl);
  }
};

// The IQ4_NL grid in both 128-bit lanes, for pshufb lookups of 4-bit codes.
inline __m256i iq4nl_grid() {
  return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
}

// IQ4_NL: the grid values of a block as signed bytes (for the sign-trick policies).
struct PackIQ4_NL {
  static constexpr int kBlock = 32;
  static constexpr int kBlockBytes = 18;  // fp16 d at offset 0
  static constexpr bool kHasMin = false;
  static __m256i codes(const uint8_t* row, int64_t c) {
    return _mm256_shuffle_epi8(iq4nl_grid(), unpack_nibbles16(row + c * 18 + 2));
  }
  static void scales(const uint8_t* row, int64_t c, float* scale, float*) { *scale = load_half(row + c * 18); }
};

// IQ4_XS: chunk c is sub-block c%8 of super-block c/8, grid values as signed bytes, scale
// d * (ls - 32).
struct PackIQ4_XS {
  static constexpr int kBlock = 32;
  static constexpr bool kHasMin = false;
  static void scales(const uint8_t* row, int64_t c, float* scale, float*) {
    const uint8_t* b = row + (c / 8) * sizeof(BlockIQ4_XS);
    *scale = load_half(b) * static_cast<float>(iq4_xs_scale(b, static_cast<int>(c % 8)));
  }
  static __m256i codes(const uint8_t* row, int64_t c) {
    const uint8_t* b = row + (c / 8) * sizeof(BlockIQ4_XS);
    return _mm256_shuffle_epi8(iq4nl_grid(), unpack_nibbles16(b + 8 + 16 * (c % 8)));
  }
};

// A signed-code packer's values biased to u8 (v + 128, zero point 128) for VNNI's u8 x s8.
template <class Signed>
struct PackBiased : Signed {
  static __m256i codes(const uint8_t* row, int64_t c) {
    return _mm256_xor_si256(Signed::codes(row, c), _mm256_set1_epi8(static_cast<char>(0x80)));
  }
};

// ---- AVX2 integer dot policies ---------------------------------------------------------

// Unsigned codes: maddubs products of G16 groups are summed in int16 before widening, which
// is exact while G16 * 2 * max_code * 128 <= 32767 (15 -> 8 groups, 31 -> 4, 63 -> 2).
template <int G16>
struct Avx2DotU {
  static constexpr int kTokens = 4;
  template <int kGroups, int TT>
  static void accumulate(__m256i* isum, const uint8_t* q, const uint8_t* const* arow, int32_t off) {
    static_assert(kGroups % G16 == 0);
    for (int g0 = 0; g0 < kGroups; g0 += G16) {
      __m256i p[TT];
      for (int gi = 0; gi < G16; ++gi) {
        const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(q + 32 * (g0 + gi)));
        for (int t = 0; t < TT; ++t) {
          const __m256i a = _mm256_set1_epi32(load_i32(arow[t] + off + 4 * (g0 + gi)));
          const __m256i m = _mm256_maddubs_epi16(w, a);
          p[t] = gi == 0 ? m : _mm256_add_epi16(p[t], m);
        }
      }
      for (int t = 0; t < TT; ++t) isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(p[t], _mm256_set1_epi16(1)));
    }
  }
};

// Signed codes (Q8_0): |w| times the activation with w's sign.
struct Avx2DotS {
  static constexpr int kTokens = 4;
  template <int kGroups, int TT>
  static void accumulate(__m256i* isum, const uint8_t* q, const uint8_t* const* arow, int32_t off) {
    for (int g = 0; g < kGroups; ++g) {
      const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(q + 32 * g));
      const __m256i wabs = _mm256_sign_epi8(w, w);
      for (int t = 0; t < TT; ++t) {
        const __m256i a = _mm256_set1_epi32(load_i32(arow[t] + off + 4 * g));
        isum[t] = _mm256_add_epi32(isum[t], dot_u8s8(wabs, _mm256_sign_epi8(a, w)));
      }
    }
  }
};

}  // namespace
}  // namespace st::simd
