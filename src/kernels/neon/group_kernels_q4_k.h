// The driver of the NEON Q4_K row-group products (kernels/row_groups.h), shared by
// row_groups_q4_k.cpp (ARMv8.0 widening multiplies) and row_groups_q4_k_dotprod.cpp (SDOT),
// with the arithmetic of the x86 kernels (avx2/row_groups_q4_k.cpp): per super-block and row
//   d * da * sum_j sc_j * dot_j  -  dmin * da * sum_j m_j * (bsums[2j] + bsums[2j + 1])
// over the eight 32-element sub-blocks j, both sums exact in int32, then scaled in f32.
//
// A 128-bit register holds one 4-byte chunk of 4 consecutive rows (a quad), so a group's 16
// rows are 4 quads and each row's sums live in its own int32 lane. The 6-bit scales and mins
// come out of the three scale chunks lane by lane (the unpack_scales_mins_k4 rule on each
// 32-bit lane), so 4 rows share every step and nothing is reduced horizontally.
//
// The integer dots are the policy's:
//   static constexpr int kPassTokens;  // tokens per pass over a group
//   template <int T>
//   static void sub_pair(const uint8_t* codes, const int8_t* const a[T], int32x4_t lo[T], int32x4_t hi[T]);
// which sets lo[t] / hi[t] to the exact dots of one quad's sub-blocks 2c (low nibbles) and
// 2c + 1 (high nibbles) with token t's activations a[t][0..32) / a[t][32..64); `codes` is the
// quad's 16 bytes of the pair's first code chunk, the other 7 following 64 bytes apart.
//
// Internal linkage (see util.h): the two instantiations are compiled with different -march
// flags and must never be merged.
#pragma once
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "kernels/blocks.h"
#include "kernels/neon/group_kernels.h"
#include "kernels/neon/util.h"

namespace st::neon {
namespace {

constexpr size_t kQ4KSuperBytes = 16 * sizeof(BlockQ4_K);  // one super-block of a 16-row group: 2304
// Bytes ahead that a pass prefetches: four super-blocks (9 KiB), as on x86, where one
// super-block's arithmetic is long enough that the hardware prefetcher alone falls behind
// (measured there: avx512/row_groups_q4_k.cpp; the distance is not tuned on ARM hardware).
// PRFM never faults, so running past the matrix is harmless.
constexpr size_t kQ4KAhead = 4 * kQ4KSuperBytes;

// Offsets inside a packed super-block: 16 fp16 d, 16 fp16 dmin, then chunk k (k < 35: 3 scale
// chunks, 32 code chunks) of quad q at 64 + 64 k + 16 q.
constexpr size_t q4k_chunk(int k, int q) { return 64 + 64 * static_cast<size_t>(k) + 16 * static_cast<size_t>(q); }

// Byte I of every 32-bit lane as an int32 lane: sub-block I's scale (or min) of each row.
template <int I>
inline int32x4_t lane_byte(uint8x16_t v) {
  const uint32x4_t w = vreinterpretq_u32_u8(v);
  if constexpr (I == 3) return vreinterpretq_s32_u32(vshrq_n_u32(w, 24));
  else if constexpr (I == 0) return vreinterpretq_s32_u32(vandq_u32(w, vdupq_n_u32(0xFF)));
  else return vreinterpretq_s32_u32(vandq_u32(vshrq_n_u32(w, 8 * I), vdupq_n_u32(0xFF)));
}

// The quad's scales (first) or mins (second) as bytes: byte i of lane r is the value of
// sub-block i (first vector) or 4 + i (second) of row r. Lane r of the scale chunks holds the
// row's scale bytes 4k .. 4k + 3, so unpack_scales_mins_k4's word operations apply per byte:
// SLI puts the top 2 bits above the 4 low bits in one step.
inline void q4k_scales(const uint8_t* blk, int q, uint8x16_t& lo, uint8x16_t& hi) {
  const uint8x16_t s0 = vld1q_u8(blk + q4k_chunk(0, q)), s2 = vld1q_u8(blk + q4k_chunk(2, q));
  lo = vandq_u8(s0, vdupq_n_u8(63));
  hi = vsliq_n_u8(s2, vshrq_n_u8(s0, 6), 4);  // (s2 & 15) | (s0 >> 6) << 4
}
inline void q4k_mins(const uint8_t* blk, int q, uint8x16_t& lo, uint8x16_t& hi) {
  const uint8x16_t s1 = vld1q_u8(blk + q4k_chunk(1, q)), s2 = vld1q_u8(blk + q4k_chunk(2, q));
  lo = vandq_u8(s1, vdupq_n_u8(63));
  hi = vsliq_n_u8(vshrq_n_u8(s2, 4), vshrq_n_u8(s1, 6), 4);  // (s2 >> 4) | (s1 >> 6) << 4
}

// sum_j m_j * (bsums[2j] + bsums[2j + 1]) for each row of the quad; m_j <= 63 and a pair
// sum is at most 32 x 128 in magnitude, so int16 holds the pair sums and int32 the total.
inline int32x4_t q4k_min_term(const int32x4_t m[8], const BlockQ8_K* a) {
  const int16x8_t pairs = vpaddq_s16(vld1q_s16(a->bsums), vld1q_s16(a->bsums + 8));
  const int32x4_t b03 = vmovl_s16(vget_low_s16(pairs)), b47 = vmovl_high_s16(pairs);
  int32x4_t s = vmulq_laneq_s32(m[0], b03, 0);
  s = vmlaq_laneq_s32(s, m[1], b03, 1);
  s = vmlaq_laneq_s32(s, m[2], b03, 2);
  s = vmlaq_laneq_s32(s, m[3], b03, 3);
  s = vmlaq_laneq_s32(s, m[4], b47, 0);
  s = vmlaq_laneq_s32(s, m[5], b47, 1);
  s = vmlaq_laneq_s32(s, m[6], b47, 2);
  return vmlaq_laneq_s32(s, m[7], b47, 3);
}

// T tokens over one group: y[t * ldy + r] for its 16 rows. Super-block by super-block, all
// four quads of one before the next, so each of its cache lines comes from memory once and
// is used up while in L1.
//
// The quad and sub-block-pair loops stay loops on purpose: the float sums (indexed by quad)
// and the scales (by sub-block) then live in memory, and each sub-block pair is one region of
// code, whose loads the compiler neither hoists out of the quads nor interleaves with the
// other pairs' (both filled the 32 registers and spilled when the pairs were unrolled).
// flatten: GCC would otherwise leave the policy's per-chunk lambdas as calls, with every sum
// passed through memory.
template <class K, int T>
__attribute__((flatten)) void q4k_pass(const uint8_t* wg, int64_t nsb, const uint8_t* act, size_t act_row_bytes,
                                       float* y, int64_t ldy) {
  float32x4_t acc[T][4];
  for (int t = 0; t < T; ++t)
    for (int q = 0; q < 4; ++q) acc[t][q] = vdupq_n_f32(0);
  for (int64_t b = 0; b < nsb; ++b) {
    const uint8_t* blk = wg + static_cast<size_t>(b) * kQ4KSuperBytes;
    for (size_t o = 0; o < kQ4KSuperBytes; o += 64) __builtin_prefetch(blk + kQ4KAhead + o, 0, 3);
    const BlockQ8_K* a[T];
    for (int t = 0; t < T; ++t)
      a[t] = reinterpret_cast<const BlockQ8_K*>(act + static_cast<size_t>(t) * act_row_bytes) + b;
    for (int q = 0; q < 4; ++q) {
      uint8x16_t lo8, hi8;
      q4k_scales(blk, q, lo8, hi8);
      const int32x4_t sc[8] = {lane_byte<0>(lo8), lane_byte<1>(lo8), lane_byte<2>(lo8), lane_byte<3>(lo8),
                               lane_byte<0>(hi8), lane_byte<1>(hi8), lane_byte<2>(hi8), lane_byte<3>(hi8)};
      int32x4_t isum[T];
      for (int t = 0; t < T; ++t) isum[t] = vdupq_n_s32(0);
#pragma GCC unroll 1
      for (int c = 0; c < 4; ++c) {  // sub-blocks 2c and 2c + 1: code chunks 8c .. 8c + 7
        const int8_t* ac[T];
        for (int t = 0; t < T; ++t) ac[t] = a[t]->qs + 64 * c;
        int32x4_t lo[T], hi[T];
        K::template sub_pair<T>(blk + q4k_chunk(3 + 8 * c, q), ac, lo, hi);
        for (int t = 0; t < T; ++t) isum[t] = vmlaq_s32(vmlaq_s32(isum[t], lo[t], sc[2 * c]), hi[t], sc[2 * c + 1]);
      }
      // The mins only now (their chunks are still in L1), so they hold no registers during the dots.
      q4k_mins(blk, q, lo8, hi8);
      const int32x4_t m[8] = {lane_byte<0>(lo8), lane_byte<1>(lo8), lane_byte<2>(lo8), lane_byte<3>(lo8),
                              lane_byte<0>(hi8), lane_byte<1>(hi8), lane_byte<2>(hi8), lane_byte<3>(hi8)};
      // The 4 rows' d and dmin (bytes, as the pointer is only 2-byte aligned); FCVTL is ARMv8.0.
      const float32x4_t d = vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(blk + 8 * q)));
      const float32x4_t dmin = vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(blk + 32 + 8 * q)));
      for (int t = 0; t < T; ++t) {
        const int32x4_t msum = q4k_min_term(m, a[t]);
        acc[t][q] = vfmaq_f32(acc[t][q], vcvtq_f32_s32(isum[t]), vmulq_n_f32(d, a[t]->d));
        acc[t][q] = vfmsq_f32(acc[t][q], vcvtq_f32_s32(msum), vmulq_n_f32(dmin, a[t]->d));
      }
    }
  }
  for (int t = 0; t < T; ++t)
    for (int q = 0; q < 4; ++q) vst1q_f32(y + t * ldy + 4 * q, acc[t][q]);
}

// One pass of tn <= T tokens (the last pass of a batch may be short).
template <class K, int T>
void q4k_tokens(const uint8_t* wg, int64_t nsb, const uint8_t* act, size_t act_row_bytes, int64_t tn, float* y,
                int64_t ldy) {
  if constexpr (T > 0) {
    if (tn == T) return q4k_pass<K, T>(wg, nsb, act, act_row_bytes, y, ldy);
    q4k_tokens<K, T - 1>(wg, nsb, act, act_row_bytes, tn, y, ldy);
  }
}

// The GemmGroupsFn contract (kernel_table.h) over a policy; act_sums is unused (the mins'
// term comes from the Q8_K blocks' bsums).
template <class K>
void gemm_groups_q4_k_by(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                         size_t act_row_bytes, int64_t n_tok, float* y, int64_t ldy) {
  constexpr int kTok = K::kPassTokens;
  const int64_t nsb = n / kQK_K;
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(act);
  // Groups outside, tokens inside: a group's super-blocks stay in L1/L2 across token passes.
  for (int64_t g = 0; g < n_rows / 16; ++g) {
    const uint8_t* wg = wb + static_cast<size_t>(g) * 16 * w_row_bytes;
    for (int64_t t0 = 0; t0 < n_tok; t0 += kTok)
      q4k_tokens<K, kTok>(wg, nsb, ab + static_cast<size_t>(t0) * act_row_bytes, act_row_bytes,
                          n_tok - t0 < kTok ? n_tok - t0 : kTok, y + t0 * ldy + g * 16, ldy);
  }
}

}  // namespace
}  // namespace st::neon
