// The driver of the NEON row-group products (kernels/row_groups.h), shared by row_groups.cpp
// (ARMv8.0 widening multiplies) and row_groups_dotprod.cpp (SDOT). A 128-bit register holds
// one 4-byte chunk of 4 consecutive rows (a "quad"), so a group's 16 rows are 4 quads and
// each row's sum lives in its own int32 lane: no horizontal sums, one scale vector per quad
// and block, and every weight register serves all tokens of a pass.
//
// The driver walks groups, token passes and blocks and applies the scales; the integer work
// of one block is the policy's:
//   template <bool kQ8, int T, int NQ>
//   static void block(const uint8_t* blk, int q0, const int8_t* const* a, const int32_t* zero,
//                     int32x4_t s[T][NQ]);
// which sets s[t][q] to the exact int32 sums of rows 4 (q0 + q) .. + 3 of block `blk` with
// token t's 32 activation codes a[t], plus zero[t] (the Q4_0 zero point, -8 x the block's
// activation sum; 0 for Q8_0). Policies also give kQuads<T>: quads per pass for T tokens,
// chosen so that the accumulators of a pass stay in the 32 vector registers.
//
// Integer block sums are exact, each is scaled by (weight scale x activation scale) and added
// in f32 in block order, as the x86 kernels do. Internal linkage (see util.h): the two
// instantiations are compiled with different -march flags and must never be merged.
#pragma once
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "kernels/blocks.h"
#include "kernels/neon/util.h"

namespace st::neon {
namespace {

// Chunk `Lane` of a 16-byte activation piece, its 4 bytes repeated into all 4 int32 lanes.
template <int Lane>
inline int8x16_t repeat_chunk(int8x16_t a) {
  return vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(a), Lane));
}

// Tokens per pass over a group: 4 amortise each weight load and nibble split well, and more
// would not leave registers for the accumulators.
constexpr int kGroupPassTokens = 4;

template <bool kQ8>
struct GroupShape {
  static constexpr size_t kCodeBytes = kQ8 ? 32 : 16;
  static constexpr size_t kBlockBytes = 32 + 16 * kCodeBytes;  // 16 fp16 scales, then the chunks
};

// Calls f(std::integral_constant<int, K>) for K = 0 .. N-1: the chunk index must be a
// compile-time constant for the lane operands.
template <int N, class F>
inline void for_chunks(F&& f) {
  [&]<int... K>(std::integer_sequence<int, K...>) { (f(std::integral_constant<int, K>{}), ...); }(
      std::make_integer_sequence<int, N>{});
}

// Byte offset of quad q's 16 bytes of chunk k inside a packed block.
constexpr size_t chunk_offset(int k, int q) { return 32 + 64 * static_cast<size_t>(k) + 16 * static_cast<size_t>(q); }

// 16 bytes (4 chunks) of each of a quad's 4 rows -> the packed layout's 4 chunk rows: out[j]
// holds chunk j of rows 0..3, 4 bytes each. The 4 x 4 matrix of chunks is transposed with
// TRN1/TRN2 on 32- then 64-bit elements. The packers use it.
inline void transpose_chunks(const uint8x16_t in[4], uint8x16_t out[4]) {
  const auto u64 = [](uint32x4_t v) { return vreinterpretq_u64_u32(v); };
  const uint32x4_t r0 = vreinterpretq_u32_u8(in[0]), r1 = vreinterpretq_u32_u8(in[1]);
  const uint32x4_t r2 = vreinterpretq_u32_u8(in[2]), r3 = vreinterpretq_u32_u8(in[3]);
  const uint32x4_t t0 = vtrn1q_u32(r0, r1), t1 = vtrn2q_u32(r0, r1);  // (r0 r1) x chunks 0,2 / 1,3
  const uint32x4_t t2 = vtrn1q_u32(r2, r3), t3 = vtrn2q_u32(r2, r3);  // (r2 r3) x the same
  out[0] = vreinterpretq_u8_u64(vtrn1q_u64(u64(t0), u64(t2)));
  out[1] = vreinterpretq_u8_u64(vtrn1q_u64(u64(t1), u64(t3)));
  out[2] = vreinterpretq_u8_u64(vtrn2q_u64(u64(t0), u64(t2)));
  out[3] = vreinterpretq_u8_u64(vtrn2q_u64(u64(t1), u64(t3)));
}

// Q4_0: chunk k of quads q0 .. q0 + NQ - 1 split into its low nibbles (elements 4k .. 4k + 3 of
// each row) and high nibbles (elements 16 + 4k ..), as int8 codes 0..15.
template <int NQ>
inline void q4_chunk_nibbles(const uint8_t* blk, int k, int q0, int8x16_t wl[NQ], int8x16_t wh[NQ]) {
  const uint8x16_t low4 = vdupq_n_u8(0x0F);
  for (int q = 0; q < NQ; ++q) {
    const uint8x16_t w = vld1q_u8(blk + chunk_offset(k, q0 + q));
    wl[q] = vreinterpretq_s8_u8(vandq_u8(w, low4));
    wh[q] = vreinterpretq_s8_u8(vshrq_n_u8(w, 4));
  }
}

// T tokens x NQ quads (starting at quad q0) of one group: y[t * ldy + 4 * q + i].
template <class K, bool kQ8, int T, int NQ>
void group_pass(const uint8_t* wg, int64_t nb, const uint8_t* act, size_t act_row_bytes, const int32_t* sums, int q0,
                float* y, int64_t ldy) {
  using S = GroupShape<kQ8>;
  float32x4_t acc[T][NQ];
  for (int t = 0; t < T; ++t)
    for (int q = 0; q < NQ; ++q) acc[t][q] = vdupq_n_f32(0);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = wg + static_cast<size_t>(b) * S::kBlockBytes;
    const int8_t* a[T];
    int32_t zero[T];
    float da[T];
    for (int t = 0; t < T; ++t) {
      const uint8_t* ab = act + static_cast<size_t>(t) * act_row_bytes + static_cast<size_t>(b) * sizeof(BlockQ8_0);
      a[t] = reinterpret_cast<const int8_t*>(ab + 2);
      da[t] = half_to_float(load_u16(ab));
      zero[t] = kQ8 ? 0 : -8 * sums[static_cast<int64_t>(t) * nb + b];
    }
    int32x4_t s[T][NQ];
    K::template block<kQ8, T, NQ>(blk, q0, a, zero, s);
    for (int q = 0; q < NQ; ++q) {
      // The 4 rows' scales (bytes, as the pointer is only 2-byte aligned); FCVTL is ARMv8.0.
      const float32x4_t dw = vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(blk + 8 * (q0 + q))));
      for (int t = 0; t < T; ++t) acc[t][q] = vfmaq_f32(acc[t][q], vcvtq_f32_s32(s[t][q]), vmulq_n_f32(dw, da[t]));
    }
  }
  for (int t = 0; t < T; ++t)
    for (int q = 0; q < NQ; ++q) vst1q_f32(y + t * ldy + 4 * (q0 + q), acc[t][q]);
}

// One group, T tokens, in passes of the policy's quads per pass. With one token the whole
// group goes in one pass (decode: the group streams from memory once); with more, the later
// passes find the group in L1.
template <class K, bool kQ8, int T>
void group_tokens(const uint8_t* wg, int64_t nb, const uint8_t* act, size_t act_row_bytes, const int32_t* sums,
                  float* y, int64_t ldy) {
  constexpr int NQ = K::template kQuads<T>;
  static_assert(4 % NQ == 0, "a pass covers a whole number of quads of the group");
  for (int q0 = 0; q0 < 4; q0 += NQ) group_pass<K, kQ8, T, NQ>(wg, nb, act, act_row_bytes, sums, q0, y, ldy);
}

// One token, two groups from two places, their blocks read alternately (two streams per
// core: GemmGroupsPairFn in kernel_table.h). Per group the arithmetic of group_pass with one
// token, so the results are the same bits.
template <class K, bool kQ8>
void group_pair(const uint8_t* wa, const uint8_t* wb, int64_t nb, const uint8_t* act, const int32_t* sums, float* ya,
                float* yb) {
  using S = GroupShape<kQ8>;
  constexpr int NQ = K::template kQuads<1>;
  const uint8_t* wg[2] = {wa, wb};
  float* y[2] = {ya, yb};
  for (int q0 = 0; q0 < 4; q0 += NQ) {
    float32x4_t acc[2][NQ];
    for (auto& m : acc)
      for (int q = 0; q < NQ; ++q) m[q] = vdupq_n_f32(0);
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* ab = act + static_cast<size_t>(b) * sizeof(BlockQ8_0);
      const int8_t* a[1] = {reinterpret_cast<const int8_t*>(ab + 2)};
      const int32_t zero[1] = {kQ8 ? 0 : -8 * sums[b]};
      const float da = half_to_float(load_u16(ab));
      for (int m = 0; m < 2; ++m) {
        const uint8_t* blk = wg[m] + static_cast<size_t>(b) * S::kBlockBytes;
        int32x4_t s[1][NQ];
        K::template block<kQ8, 1, NQ>(blk, q0, a, zero, s);
        for (int q = 0; q < NQ; ++q) {
          const float32x4_t dw = vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(blk + 8 * (q0 + q))));
          acc[m][q] = vfmaq_f32(acc[m][q], vcvtq_f32_s32(s[0][q]), vmulq_n_f32(dw, da));
        }
      }
    }
    for (int m = 0; m < 2; ++m)
      for (int q = 0; q < NQ; ++q) vst1q_f32(y[m] + 4 * (q0 + q), acc[m][q]);
  }
}

template <class K, bool kQ8>
void gemm_groups_pair_by(int64_t n, const void* wa, const void* wb, size_t w_row_bytes, int64_t n_rows,
                         const void* act, const int32_t* act_sums, float* ya, float* yb) {
  const int64_t nb = n / kQK;
  const size_t group_bytes = 16 * w_row_bytes;
  for (int64_t g = 0; g < n_rows / 16; ++g)
    group_pair<K, kQ8>(static_cast<const uint8_t*>(wa) + static_cast<size_t>(g) * group_bytes,
                       static_cast<const uint8_t*>(wb) + static_cast<size_t>(g) * group_bytes, nb,
                       static_cast<const uint8_t*>(act), act_sums, ya + g * 16, yb + g * 16);
}

// The GemmGroupsFn contract (kernel_table.h) over a policy.
template <class K, bool kQ8>
void gemm_groups_by(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                    size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy) {
  const int64_t nb = n / kQK;
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(act);
  // Groups outside, tokens inside: a group (16 rows, ~14 KiB for Q4_0 at n = 1536) stays in
  // L1 while every pass of a batch reads it.
  for (int64_t g = 0; g < n_rows / 16; ++g) {
    const uint8_t* wg = wb + static_cast<size_t>(g) * 16 * w_row_bytes;
    for (int64_t t0 = 0; t0 < n_tok; t0 += kGroupPassTokens) {
      const uint8_t* a0 = ab + static_cast<size_t>(t0) * act_row_bytes;
      // Q8_0 kernels never read the sums, and a caller may pass none for them.
      const int32_t* s0 = act_sums ? act_sums + t0 * nb : nullptr;
      float* yt = y + t0 * ldy + g * 16;
      switch (n_tok - t0 < kGroupPassTokens ? n_tok - t0 : kGroupPassTokens) {
        case 1: group_tokens<K, kQ8, 1>(wg, nb, a0, act_row_bytes, s0, yt, ldy); break;
        case 2: group_tokens<K, kQ8, 2>(wg, nb, a0, act_row_bytes, s0, yt, ldy); break;
        case 3: group_tokens<K, kQ8, 3>(wg, nb, a0, act_row_bytes, s0, yt, ldy); break;
        default: group_tokens<K, kQ8, 4>(wg, nb, a0, act_row_bytes, s0, yt, ldy); break;
      }
    }
  }
}

}  // namespace
}  // namespace st::neon
