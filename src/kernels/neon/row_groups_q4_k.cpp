// Q4_K products on the row-group layout (kernels/row_groups.h) with ARMv8.0 Advanced SIMD,
// so every aarch64 CPU has them; row_groups_q4_k_dotprod.cpp replaces the product with SDOT
// where the CPU has it. The driver (super-blocks, scales, mins, f32) is group_kernels_q4_k.h;
// here are the sub-block dots and the Q4_K packer, which both tables use.
//
// Without SDOT the dots are widening multiplies, as in row_groups.cpp: SMLAL / SMLAL2 multiply
// the low (rows 0-1 of the quad) or high (rows 2-3) half of a code chunk by the chunk's 4
// activation bytes repeated, leaving 4 int16 products per row, and ADDP + SADDLP fold a row's
// 4 int16 lanes into its int32 lane. The int16 lanes are exact by the value ranges: codes are 0..15
// and Q8_K activations -128..127, so a product is at most 1920 in magnitude, a lane's 8
// products of a sub-block (one per chunk) at most 15360, and the pairwise sum of two lanes
// (ADDP) at most 30720 < 32768 (tests/kernels/row_groups_test.cpp EveryQ4KKernelIsExactAtExtremeCodes
// reaches that bound).
#include <arm_neon.h>

#include <cstring>

#include "kernels/neon/group_kernels_q4_k.h"
#include "kernels/neon/neon.h"

namespace st::neon {
namespace {

struct WidenQ4K {
  // Per token a sub-block pair takes 4 int16 accumulators and its activations: with 2 tokens
  // they, the codes and the driver's sums fit the 32 registers; 4 tokens' 16 accumulators
  // would leave too few.
  static constexpr int kPassTokens = 2;

  template <int T>
  static void sub_pair(const uint8_t* codes, const int8_t* const a[T], int32x4_t lo[T], int32x4_t hi[T]) {
    const uint8x16_t low4 = vdupq_n_u8(0x0F);
    int16x8_t lo01[T], lo23[T], hi01[T], hi23[T];  // rows 0-1 / 2-3, 4 lanes per row
    for (int t = 0; t < T; ++t) lo01[t] = lo23[t] = hi01[t] = hi23[t] = vdupq_n_s16(0);
    for_chunks<8>([&](auto kc) {
      constexpr int k = decltype(kc)::value;
      const uint8x16_t w = vld1q_u8(codes + 64 * k);
      const int8x16_t wl = vreinterpretq_s8_u8(vandq_u8(w, low4)), wh = vreinterpretq_s8_u8(vshrq_n_u8(w, 4));
      for (int t = 0; t < T; ++t) {
        // Activations of chunk k: bytes 4k .. 4k + 3 of sub-block 2c (low nibbles) and 2c + 1.
        const int8x16_t al = repeat_chunk<k % 4>(vld1q_s8(a[t] + 16 * (k / 4)));
        const int8x16_t ah = repeat_chunk<k % 4>(vld1q_s8(a[t] + 32 + 16 * (k / 4)));
        lo01[t] = vmlal_s8(lo01[t], vget_low_s8(wl), vget_low_s8(al));
        lo23[t] = vmlal_high_s8(lo23[t], wl, al);
        hi01[t] = vmlal_s8(hi01[t], vget_low_s8(wh), vget_low_s8(ah));
        hi23[t] = vmlal_high_s8(hi23[t], wh, ah);
      }
    });
    // ADDP leaves (r0, r0, r1, r1, r2, r2, r3, r3) within int16 (see the top), SADDLP one
    // int32 lane per row.
    for (int t = 0; t < T; ++t) {
      lo[t] = vpaddlq_s16(vpaddq_s16(lo01[t], lo23[t]));
      hi[t] = vpaddlq_s16(vpaddq_s16(hi01[t], hi23[t]));
    }
  }
};

}  // namespace

void gemm_groups_q4_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* /*act_sums*/, int64_t n_tok, float* y, int64_t ldy) {
  gemm_groups_q4_k_by<WidenQ4K>(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy);
}

// rows (file layout) -> groups, a quad of rows at a time as the Q4_0/Q8_0 packer does: each
// row's d and dmin to the two fp16 vectors, then its 140 scale and code bytes (35 chunks) in
// 16-byte pieces, 4 rows' pieces transposed into 4 chunk rows of the layout; the last 12
// bytes (chunks 32-34) one chunk at a time. Reads 4 sequential streams, writes within the
// group's region. Staging (kernels/matmul.cpp) and the expert cache run it per use.
void pack_groups_q4_k(const uint8_t* rows, int64_t n_rows, int64_t n_cols, uint8_t* groups) {
  constexpr size_t kBlock = sizeof(BlockQ4_K);
  constexpr int kChunks = 35, kWhole = 32;  // chunks in all, in whole 16-byte pieces
  const int64_t nsb = n_cols / kQK_K;
  const size_t row_bytes = static_cast<size_t>(nsb) * kBlock;
  for (int64_t g = 0; g < n_rows / 16; ++g) {
    const uint8_t* src = rows + static_cast<size_t>(g) * 16 * row_bytes;
    uint8_t* dst = groups + static_cast<size_t>(g) * 16 * row_bytes;
    for (int q = 0; q < 4; ++q) {
      const uint8_t* r[4];
      for (int i = 0; i < 4; ++i) r[i] = src + static_cast<size_t>(4 * q + i) * row_bytes;
      for (int64_t b = 0; b < nsb; ++b) {
        const size_t off = static_cast<size_t>(b) * kBlock;
        uint8_t* d = dst + static_cast<size_t>(b) * kQ4KSuperBytes;
        for (int i = 0; i < 4; ++i) {
          std::memcpy(d + 2 * (4 * q + i), r[i] + off, 2);       // d
          std::memcpy(d + 32 + 2 * (4 * q + i), r[i] + off + 2, 2);  // dmin
        }
        for (int k = 0; k < kWhole; k += 4) {
          uint8x16_t c[4], t[4];
          for (int i = 0; i < 4; ++i) c[i] = vld1q_u8(r[i] + off + 4 + 4 * static_cast<size_t>(k));
          transpose_chunks(c, t);
          for (int j = 0; j < 4; ++j) vst1q_u8(d + q4k_chunk(k + j, q), t[j]);
        }
        for (int k = kWhole; k < kChunks; ++k) {
          const size_t from = off + 4 + 4 * static_cast<size_t>(k);
          for (int i = 0; i < 4; ++i) std::memcpy(d + q4k_chunk(k, q) + 4 * i, r[i] + from, 4);
        }
      }
    }
  }
}

}  // namespace st::neon
