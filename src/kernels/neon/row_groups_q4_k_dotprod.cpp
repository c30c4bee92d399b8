// Q4_K products on the row-group layout (kernels/row_groups.h) with SDOT (ARMv8.2 dotprod;
// this file alone is built with +dotprod, and set_row_group_kernels_dotprod registers it only
// once dispatch.cpp has seen HWCAP_ASIMDDP). The driver is group_kernels_q4_k.h.
//
// A code register holds chunk k of the quad's 4 rows, so one SDOT by element against the 16
// loaded activation bytes (vdotq_laneq_s32, lane k % 4) adds each row's 4 products into its
// own int32 lane. The codes are unsigned (0..15) and the activations signed, but nibbles are
// valid int8, so the signed x signed SDOT takes them as they are, as for Q4_0: no bias and no
// correction term (the unsigned x signed USDOT would need the i8mm extension).
#include <arm_neon.h>

#include "kernels/neon/group_kernels_q4_k.h"
#include "kernels/neon/neon.h"

namespace st::neon {
namespace {

struct SdotQ4K {
  // 4 tokens: each code load and nibble split serves 8 SDOTs, and the 8 dot sums, the
  // activations in use (2 registers per token at a time) and the driver's 4 sums still fit
  // the 32 registers (checked in the generated code: no spills in the sub-block loop).
  static constexpr int kPassTokens = 4;

  template <int T>
  static void sub_pair(const uint8_t* codes, const int8_t* const a[T], int32x4_t lo[T], int32x4_t hi[T]) {
    // With one token a sub-block's 8 SDOTs would be one dependent chain, so odd chunks go to
    // a second set of sums, added at the end (as in row_groups_dotprod.cpp).
    constexpr bool kSplit = T == 1;
    const uint8x16_t low4 = vdupq_n_u8(0x0F);
    int32x4_t lo2[T], hi2[T];
    for (int t = 0; t < T; ++t) lo[t] = hi[t] = lo2[t] = hi2[t] = vdupq_n_s32(0);
    for_chunks<8>([&](auto kc) {
      constexpr int k = decltype(kc)::value;
      const uint8x16_t w = vld1q_u8(codes + 64 * k);
      const int8x16_t wl = vreinterpretq_s8_u8(vandq_u8(w, low4)), wh = vreinterpretq_s8_u8(vshrq_n_u8(w, 4));
      for (int t = 0; t < T; ++t) {
        // Activations of chunk k: bytes 4k .. 4k + 3 of sub-block 2c (low nibbles) and 2c + 1.
        const int8x16_t al = vld1q_s8(a[t] + 16 * (k / 4)), ah = vld1q_s8(a[t] + 32 + 16 * (k / 4));
        int32x4_t& sl = kSplit && k % 2 ? lo2[t] : lo[t];
        int32x4_t& sh = kSplit && k % 2 ? hi2[t] : hi[t];
        sl = vdotq_laneq_s32(sl, wl, al, k % 4);
        sh = vdotq_laneq_s32(sh, wh, ah, k % 4);
      }
    });
    if constexpr (kSplit)
      for (int t = 0; t < T; ++t) {
        lo[t] = vaddq_s32(lo[t], lo2[t]);
        hi[t] = vaddq_s32(hi[t], hi2[t]);
      }
  }
};

}  // namespace

void gemm_groups_q4_k_dotprod(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                              size_t act_row_bytes, const int32_t* /*act_sums*/, int64_t n_tok, float* y, int64_t ldy) {
  gemm_groups_q4_k_by<SdotQ4K>(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy);
}

}  // namespace st::neon
