// Q4_0 / Q8_0 products on the row-group layout (kernels/row_groups.h) with SDOT (ARMv8.2
// dotprod; this file alone is built with +dotprod, and override_kernels_dotprod, its only
// caller, runs once dispatch.cpp has seen HWCAP_ASIMDDP).
//
// A weight register holds chunk k of 4 rows (4 bytes each), so one SDOT by element against
// the 16 loaded activation bytes (vdotq_laneq_s32, lane k % 4) adds each row's 4 products into
// its own lane: 4 SDOTs per chunk serve a group's 16 rows for one token.
// - Q4_0: the unsigned nibbles (codes + 8, 0..15) are valid int8, so they go in as they are
//   and the accumulator starts at the zero-point term (-8 x the activation block's sum): no
//   per-nibble subtract.
// - Q8_0: the biased codes are xored back to int8 (SDOT is signed x signed; the unsigned x
//   signed USDOT would need the i8mm extension).
// The packer stays the plain NEON one (row_groups.cpp): it has no products. Q4_K's SDOT
// kernel is row_groups_q4_k_dotprod.cpp, registered here with the others.
#include <arm_neon.h>

#include "kernels/neon/group_kernels.h"
#include "kernels/neon/neon.h"

namespace st::neon {
namespace {

struct SdotPolicy {
  // Quads per pass: T x NQ int32 sums plus as many float accumulators, and 2 x T activation
  // registers; one token keeps two sum chains per quad (below), so SDOT latency is hidden.
  template <int T>
  static constexpr int kQuads = T <= 2 ? 4 : 2;

  template <bool kQ8, int T, int NQ>
  static void block(const uint8_t* blk, int q0, const int8_t* const* a, const int32_t* zero, int32x4_t s[T][NQ]) {
    // With one token a block's SDOTs would form only 4 dependent chains, so the odd chunks go
    // to a second set of sums, added at the end.
    constexpr bool kSplit = T == 1;
    int8x16_t act[T][2];
    int32x4_t s2[T][NQ];
    for (int t = 0; t < T; ++t) {
      act[t][0] = vld1q_s8(a[t]);
      act[t][1] = vld1q_s8(a[t] + 16);
      for (int q = 0; q < NQ; ++q) {
        s[t][q] = vdupq_n_s32(zero[t]);
        s2[t][q] = vdupq_n_s32(0);
      }
    }
    if constexpr (kQ8) {
      const uint8x16_t flip = vdupq_n_u8(0x80);
      for_chunks<8>([&](auto kc) {
        constexpr int k = decltype(kc)::value;
        int8x16_t w[NQ];
        for (int q = 0; q < NQ; ++q)
          w[q] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(blk + chunk_offset(k, q0 + q)), flip));
        for (int t = 0; t < T; ++t)
          for (int q = 0; q < NQ; ++q) {
            int32x4_t& acc = kSplit && k % 2 ? s2[t][q] : s[t][q];
            acc = vdotq_laneq_s32(acc, w[q], act[t][k / 4], k % 4);
          }
      });
    } else {
      for_chunks<4>([&](auto kc) {
        constexpr int k = decltype(kc)::value;
        int8x16_t wl[NQ], wh[NQ];
        q4_chunk_nibbles<NQ>(blk, k, q0, wl, wh);
        for (int t = 0; t < T; ++t)
          for (int q = 0; q < NQ; ++q) {
            s[t][q] = vdotq_laneq_s32(s[t][q], wl[q], act[t][0], k);
            int32x4_t& acc = kSplit ? s2[t][q] : s[t][q];
            acc = vdotq_laneq_s32(acc, wh[q], act[t][1], k);
          }
      });
    }
    if constexpr (kSplit)
      for (int t = 0; t < T; ++t)
        for (int q = 0; q < NQ; ++q) s[t][q] = vaddq_s32(s[t][q], s2[t][q]);
  }
};

}  // namespace

void set_row_group_kernels_dotprod(KernelTable& t) {
  if (t.type == TensorType::Q4_0) {
    t.gemm_groups = gemm_groups_by<SdotPolicy, false>;
    t.gemm_groups_pair = gemm_groups_pair_by<SdotPolicy, false>;
  } else if (t.type == TensorType::Q8_0) {
    t.gemm_groups = gemm_groups_by<SdotPolicy, true>;
    t.gemm_groups_pair = gemm_groups_pair_by<SdotPolicy, true>;
  } else if (t.type == TensorType::Q4_K) {
    t.gemm_groups = gemm_groups_q4_k_dotprod;  // row_groups_q4_k_dotprod.cpp
  }
}

}  // namespace st::neon
