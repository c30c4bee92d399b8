// Small AVX2 helpers shared by the avx2/ and avx512/ kernels (both folders compile with
// AVX2+FMA+F16C). Everything has internal linkage: the same inline function compiled with
// different -m flags must never be merged by the linker.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace st::simd {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline int32_t hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
  return _mm_cvtsi128_si32(s);
}

inline uint16_t load_u16(const void* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

inline float load_half(const void* p) { return _cvtsh_ss(load_u16(p)); }

inline int32_t load_i32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline __m256i loadu256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Per block of one Q8_0 activation row (34-byte blocks: fp16 scale, 32 codes): the scale as a
// float, and the zero-point term -zero_point * (sum of the block's codes) for weights whose
// codes are stored with that offset (Q4_0: 8; 0 for signed codes). The product kernels that
// take act_sums (GemmGroupsFn, GemmRowsFn) broadcast both straight from memory.
inline void act_block_terms(const uint8_t* act_row, const int32_t* sums, int64_t nb, int32_t zero_point, float* d,
                            int32_t* zero) {
  for (int64_t b = 0; b < nb; ++b) {
    d[b] = load_half(act_row + 34 * b);
    zero[b] = -zero_point * sums[b];
  }
}

// 16 bytes of packed nibbles -> 32 bytes: low nibbles first (elements 0..15), then high.
// One broadcast load, then the upper 128-bit half is shifted by 4 (per 32-bit lane: the
// byte-crossing bits are masked away), which avoids a cross-lane insert.
inline __m256i unpack_nibbles16(const uint8_t* qs) {
  const __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
  return _mm256_and_si256(_mm256_srlv_epi32(both, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)), _mm256_set1_epi8(0x0F));
}

// 32 bits -> 32 bytes, byte j = 0x10 when bit j is set (the 5th bit of a Q5 code).
inline __m256i bits_to_0x10(uint32_t bits) {
  const __m256i shuf =
      _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
  const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int32_t>(bits)), shuf);
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

// sum of u8*s8 over each 4-byte group -> 8 int32 (AVX2: two instructions).
inline __m256i dot_u8s8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// Signed x signed via |w| * (a with w's sign): maddubs needs one unsigned operand.
inline __m256i dot_s8s8(__m256i w, __m256i a) { return dot_u8s8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w)); }

// Rounds half away from zero (C's roundf), as the reference quantizers do. Written without
// subtracting from v, so the compiler cannot fuse the caller's multiply into it (an FMA
// would round differently at ties than ref/). Valid for |v| < 2^22, far above the +-127.5
// the quantizers produce.
inline __m256 round_half_away(__m256 v) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 up = _mm256_cmp_ps(_mm256_andnot_ps(sign, v),
                                  _mm256_add_ps(_mm256_andnot_ps(sign, t), _mm256_set1_ps(0.5f)), _CMP_GE_OQ);
  const __m256 one = _mm256_or_ps(_mm256_and_ps(v, sign), _mm256_set1_ps(1.0f));
  return _mm256_add_ps(t, _mm256_and_ps(up, one));
}

// 4 x 8 int32 (each within int8 range) -> 32 int8 in order.
inline __m256i pack_i32x32_to_i8(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
  return _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// Largest |x| of n (multiple of 8) floats, and whether any is NaN.
inline float abs_max(const float* x, int n, bool* has_nan) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_setzero_ps(), nan = _mm256_setzero_ps();
  for (int i = 0; i < n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v));
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  }
  *has_nan = _mm256_movemask_ps(nan) != 0;
  return hmax(m);
}

// Runs block(acc, w_block, a_block) over nb blocks with two accumulators (a single fma chain
// would be latency-bound) and returns the horizontal sum. WB/AB are the block sizes in bytes.
template <int WB, int AB, class Block>
inline float row_dot(int64_t nb, const uint8_t* w, const uint8_t* a, Block block) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 1 < nb; b += 2) {
    block(acc0, w + b * WB, a + b * AB);
    block(acc1, w + (b + 1) * WB, a + (b + 1) * AB);
  }
  if (b < nb) block(acc0, w + b * WB, a + b * AB);
  return hsum(_mm256_add_ps(acc0, acc1));
}

// gemv as a loop of a row dot: rows stream through once; the activation row stays in L1.
template <class RowDot>
inline void gemv_rows(int64_t n_rows, const void* w, size_t w_row_bytes, float* y, RowDot dot) {
  const auto* wb = static_cast<const uint8_t*>(w);
  for (int64_t r = 0; r < n_rows; ++r) y[r] = dot(wb + static_cast<size_t>(r) * w_row_bytes);
}

}  // namespace
}  // namespace st::simd
