// Q4_0 / Q8_0 products on the row-group layout (kernels/row_groups.h) with ARMv8.0 Advanced
// SIMD, so every aarch64 CPU (Cortex-A53 included) has them; row_groups_dotprod.cpp replaces
// them with SDOT where the CPU has it. Also the NEON packer, which both tables use. Q4_K's
// kernels and packer are row_groups_q4_k*.cpp; set_row_group_kernels registers them too.
//
// Without SDOT the products are widening multiplies: SMULL/SMLAL multiply the low (rows 0-1
// of a quad) or high (rows 2-3) halves of a weight register by the chunk's 4 activation bytes
// repeated, leaving 4 int16 products per row; pairwise adds later fold them into one int32
// lane per row. How far the int16 lanes may accumulate is set by the value ranges (Q8_0
// activations are within +-127, as quantize_row_q8_0 rounds x / (max|x| / 127)):
// - Q4_0: the unsigned nibbles (codes + 8) are 0..15, so a product is at most 15 x 127 = 1905
//   in magnitude and all 8 of a lane's products in a block (4 chunks x low/high nibbles) sum
//   exactly in int16 (<= 15240), as do two such lanes (one ADDP); the zero point is the
//   policy's -8 x activation sum, the accumulator's start value.
// - Q8_0: codes are -128..127 after the xor, so two products (<= 2 x 128 x 127 = 32512) fit
//   an int16 lane: SMULL + SMLAL over a pair of chunks, then SADALP widens into int32.
#include <arm_neon.h>

#include <cstring>

#include "kernels/neon/group_kernels.h"
#include "kernels/neon/neon.h"

namespace st::neon {
namespace {

struct WidenPolicy {
  // Quads per pass: with T tokens the int16/int32 partial sums, the float accumulators and
  // the activations of a pass need about 8 x T x NQ / 2 + 2 x T registers.
  template <int T>
  static constexpr int kQuads = T == 1 ? 4 : T == 2 ? 2 : 1;

  template <bool kQ8, int T, int NQ>
  static void block(const uint8_t* blk, int q0, const int8_t* const* a, const int32_t* zero, int32x4_t s[T][NQ]) {
    int8x16_t act[T][2];
    for (int t = 0; t < T; ++t) {
      act[t][0] = vld1q_s8(a[t]);
      act[t][1] = vld1q_s8(a[t] + 16);
    }
    if constexpr (kQ8) {
      const uint8x16_t flip = vdupq_n_u8(0x80);
      int32x4_t lo[T][NQ], hi[T][NQ];  // rows 0-1 / 2-3 of each quad, 2 lanes per row
      for (int t = 0; t < T; ++t)
        for (int q = 0; q < NQ; ++q) lo[t][q] = hi[t][q] = vdupq_n_s32(0);
      for_chunks<4>([&](auto kp) {  // chunks 2 kp and 2 kp + 1
        constexpr int k0 = 2 * decltype(kp)::value, k1 = k0 + 1;
        int8x16_t w0[NQ], w1[NQ];
        for (int q = 0; q < NQ; ++q) {
          w0[q] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(blk + chunk_offset(k0, q0 + q)), flip));
          w1[q] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(blk + chunk_offset(k1, q0 + q)), flip));
        }
        for (int t = 0; t < T; ++t) {
          const int8x16_t a0 = repeat_chunk<k0 % 4>(act[t][k0 / 4]);
          const int8x16_t a1 = repeat_chunk<k1 % 4>(act[t][k1 / 4]);
          for (int q = 0; q < NQ; ++q) {
            const int16x8_t pl = vmlal_s8(vmull_s8(vget_low_s8(w0[q]), vget_low_s8(a0)), vget_low_s8(w1[q]),
                                          vget_low_s8(a1));
            const int16x8_t ph = vmlal_high_s8(vmull_high_s8(w0[q], a0), w1[q], a1);
            lo[t][q] = vpadalq_s16(lo[t][q], pl);
            hi[t][q] = vpadalq_s16(hi[t][q], ph);
          }
        }
      });
      for (int t = 0; t < T; ++t)
        for (int q = 0; q < NQ; ++q) s[t][q] = vpaddq_s32(lo[t][q], hi[t][q]);
    } else {
      int16x8_t lo[T][NQ], hi[T][NQ];  // rows 0-1 / 2-3 of each quad, 4 lanes per row
      for (int t = 0; t < T; ++t)
        for (int q = 0; q < NQ; ++q) lo[t][q] = hi[t][q] = vdupq_n_s16(0);
      for_chunks<4>([&](auto kc) {
        constexpr int k = decltype(kc)::value;
        int8x16_t wl[NQ], wh[NQ];
        q4_chunk_nibbles<NQ>(blk, k, q0, wl, wh);
        for (int t = 0; t < T; ++t) {
          const int8x16_t al = repeat_chunk<k>(act[t][0]);
          const int8x16_t ah = repeat_chunk<k>(act[t][1]);
          for (int q = 0; q < NQ; ++q) {
            lo[t][q] = vmlal_s8(lo[t][q], vget_low_s8(wl[q]), vget_low_s8(al));
            hi[t][q] = vmlal_high_s8(hi[t][q], wl[q], al);
            lo[t][q] = vmlal_s8(lo[t][q], vget_low_s8(wh[q]), vget_low_s8(ah));
            hi[t][q] = vmlal_high_s8(hi[t][q], wh[q], ah);
          }
        }
      });
      // ADDP leaves (r0, r0, r1, r1, r2, r2, r3, r3) within int16 (see the top), SADALP
      // folds each row's pair onto the zero point.
      for (int t = 0; t < T; ++t)
        for (int q = 0; q < NQ; ++q) s[t][q] = vpadalq_s16(vdupq_n_s32(zero[t]), vpaddq_s16(lo[t][q], hi[t][q]));
    }
  }
};

// rows (file layout) -> groups, 4 rows (a quad) at a time: the 16 code bytes of a block of
// each of the 4 rows are one 4 x 4 matrix of 4-byte chunks, and its transpose
// (transpose_chunks) is the 4 chunk rows of the packed layout, stored 16 bytes at a time. The
// quad's 4 source rows are read as 4 sequential streams while the writes stay in the group's
// own region (in L1 for the group sizes of the models).
template <bool kQ8>
void pack_groups(const uint8_t* rows, int64_t n_rows, int64_t n_cols, uint8_t* groups) {
  using S = GroupShape<kQ8>;
  constexpr size_t kFileBlock = 2 + S::kCodeBytes;
  const int64_t nb = n_cols / kQK;
  const size_t row_bytes = static_cast<size_t>(nb) * kFileBlock;
  const uint8x16_t bias = vdupq_n_u8(kQ8 ? 0x80 : 0);
  for (int64_t g = 0; g < n_rows / 16; ++g) {
    const uint8_t* src = rows + static_cast<size_t>(g) * 16 * row_bytes;
    uint8_t* dst = groups + static_cast<size_t>(g) * 16 * row_bytes;
    for (int q = 0; q < 4; ++q) {
      const uint8_t* r[4];
      for (int i = 0; i < 4; ++i) r[i] = src + static_cast<size_t>(4 * q + i) * row_bytes;
      for (int64_t b = 0; b < nb; ++b) {
        const size_t off = static_cast<size_t>(b) * kFileBlock;
        uint8_t* d = dst + static_cast<size_t>(b) * S::kBlockBytes;
        for (int i = 0; i < 4; ++i) std::memcpy(d + 2 * (4 * q + i), r[i] + off, 2);  // fp16 scales
        for (size_t h = 0; h < S::kCodeBytes / 16; ++h) {  // chunks 4h .. 4h + 3
          uint8x16_t c[4], t[4];
          for (int i = 0; i < 4; ++i) c[i] = veorq_u8(vld1q_u8(r[i] + off + 2 + 16 * h), bias);
          transpose_chunks(c, t);
          for (int j = 0; j < 4; ++j) vst1q_u8(d + chunk_offset(static_cast<int>(4 * h) + j, q), t[j]);
        }
      }
    }
  }
}

}  // namespace

void set_row_group_kernels(KernelTable& t) {
  if (t.type == TensorType::Q4_0) {
    t.gemm_groups = gemm_groups_by<WidenPolicy, false>;
    t.gemm_groups_pair = gemm_groups_pair_by<WidenPolicy, false>;
    t.pack_groups = pack_groups<false>;
  } else if (t.type == TensorType::Q8_0) {
    t.gemm_groups = gemm_groups_by<WidenPolicy, true>;
    t.gemm_groups_pair = gemm_groups_pair_by<WidenPolicy, true>;
    t.pack_groups = pack_groups<true>;
  } else if (t.type == TensorType::Q4_K) {
    t.gemm_groups = gemm_groups_q4_k;  // row_groups_q4_k.cpp
    t.pack_groups = pack_groups_q4_k;
  }
}

}  // namespace st::neon
