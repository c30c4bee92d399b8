// Q6_K products on the row-group layout (kernels/row_groups.h) with AVX-512 VNNI: Q4_K_M
// files keep attn_v, part of ffn_down and the output matrix in Q6_K. One 512-bit vector holds
// a 4-byte chunk of 16 rows. A 6-bit code is a low nibble of ql plus two bits of qh; per
// 32 elements of a half super-block the chunks ql[l], ql[l + 32] and qh[l] give the codes of
// elements l, l + 32, l + 64 and l + 96, rebuilt with byte masks and shifts as unsigned 0..63,
// so vpdpbusd takes them against the signed activations and the -32 offset becomes
// -32 x the 16-element activation sum (the Q8_K bsums). Each 16-element dot is then scaled by
// its int8 scale in the row's lane; integers are exact, d x da scales the super-block in f32.
#include <immintrin.h>

// GCC 12's _mm512_cvtepi32_ps / _mm512_cvtph_ps pass a self-initialised "undefined" vector
// as the unused merge source, which -Wmaybe-uninitialized reports once inlined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cstring>

#include "kernels/avx512/k_quant_groups.h"
#include "kernels/avx512/kernels.h"
#include "kernels/blocks.h"

namespace st::avx512 {
namespace {

inline __m512i chunk(const uint8_t* blk, int k) { return _mm512_loadu_si512(blk + 32 + 64 * k); }

// The int8 scale of 16-element sub-block s of every row, sign-extended in the row's lane.
inline __m512i scale_of(const uint8_t* blk, int s) {
  return _mm512_srai_epi32(_mm512_slli_epi32(chunk(blk, 48 + s / 4), 24 - 8 * (s % 4)), 24);
}

// Elements 128n + [16q, 16q + 16) + {0, 32, 64, 96} of one super-block (four 16-element
// sub-blocks 8n + q + {0, 2, 4, 6}) for T tokens: adds scale x (dot - 32 x bsum) to isum.
template <int n, int q, int T>
__attribute__((always_inline)) inline void quarter(const uint8_t* blk, const BlockQ8_K* const a[T], __m512i isum[T]) {
  const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
  __m512i dot[4][T];
  for (int v = 0; v < 4; ++v)
    for (int t = 0; t < T; ++t) dot[v][t] = _mm512_setzero_si512();
  for (int kk = 4 * q; kk < 4 * q + 4; ++kk) {
    const __m512i A = chunk(blk, 16 * n + kk), B = chunk(blk, 16 * n + 8 + kk), H = chunk(blk, 32 + 8 * n + kk);
    const __m512i v[4] = {
        _mm512_or_si512(_mm512_and_si512(A, m4), _mm512_and_si512(_mm512_slli_epi16(H, 4), m30)),
        _mm512_or_si512(_mm512_and_si512(B, m4), _mm512_and_si512(_mm512_slli_epi16(H, 2), m30)),
        _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(A, 4), m4), _mm512_and_si512(H, m30)),
        _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(B, 4), m4), _mm512_and_si512(_mm512_srli_epi16(H, 2), m30))};
    for (int w = 0; w < 4; ++w)
      for (int t = 0; t < T; ++t)
        dot[w][t] = _mm512_dpbusd_epi32(dot[w][t], v[w], bcast4(a[t]->qs + 128 * n + 32 * w + 4 * kk));
  }
  for (int w = 0; w < 4; ++w) {
    const int s = 8 * n + q + 2 * w;
    const __m512i sc = scale_of(blk, s);
    for (int t = 0; t < T; ++t) {
      const __m512i centred = _mm512_sub_epi32(dot[w][t], _mm512_set1_epi32(32 * a[t]->bsums[s]));
      isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(centred, sc));
    }
  }
}

// One super-block of a group for T tokens (the k_quant_groups.h contract).
struct Q6K {
  static constexpr size_t kSuperBytes = 16 * sizeof(BlockQ6_K);
  template <int T>
  __attribute__((always_inline)) static void add(const uint8_t* blk, const BlockQ8_K* const a[T], __m512 acc[T]) {
    __m512i isum[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
    quarter<0, 0, T>(blk, a, isum);
    quarter<0, 1, T>(blk, a, isum);
    quarter<1, 0, T>(blk, a, isum);
    quarter<1, 1, T>(blk, a, isum);
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
    for (int t = 0; t < T; ++t)
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, _mm512_set1_ps(a[t]->d)), acc[t]);
  }
};

}  // namespace

void gemm_groups_q6_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* /*act_sums*/, int64_t n_tok, float* y, int64_t ldy) {
  k_gemm_groups<Q6K>(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy);
}

}  // namespace st::avx512
