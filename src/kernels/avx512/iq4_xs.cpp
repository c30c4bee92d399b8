// IQ4_XS x Q8_K with AVX-512 VNNI. vec_dot / gemv: two sub-blocks of 32 per 512-bit vector,
// the grid values biased to u8 (v + 128) so one vpdpbusd multiplies them with the signed
// activations; each sub-block's int32 lanes take its scale ls - 32 with one 32-bit multiply,
// and the bias comes off once per super-block: 128 x sum_j ls_j x (Q8_K's two bsums of j).
// gemm: the interleaved tile on the same biased values (zero point 128, blocks of 32).
#include "kernels/avx2/kernels.h"
#include "kernels/avx512/kernels.h"
#include "kernels/avx512/vnni.h"

// GCC 12's _mm512_* conversions pass a self-initialised "undefined" vector as the unused
// merge source (here _mm512_broadcast_i64x4), which -W(maybe-)uninitialized reports once inlined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace st::avx512 {
namespace {

using namespace st::simd;

// Sub-blocks 2p and 2p + 1 (32 code bytes at qs) as u8 grid values + 128: 128-bit lanes
// [low nibbles of 2p, high nibbles of 2p, low of 2p+1, high of 2p+1], element order.
inline __m512i biased_pair(const uint8_t* qs, __m512i grid) {
  const __m512i b = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs)));
  const __m512i x = _mm512_shuffle_i64x2(b, b, _MM_SHUFFLE(1, 1, 0, 0));
  const __m512i nib = _mm512_and_si512(_mm512_mask_blend_epi64(0xCC, x, _mm512_srli_epi16(x, 4)), _mm512_set1_epi8(0x0F));
  return _mm512_xor_si512(_mm512_shuffle_epi8(grid, nib), _mm512_set1_epi8(static_cast<char>(0x80)));
}

float dot_row(int64_t n, const void* w, const void* a) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const BlockQ8_K*>(a);
  const __m512i grid = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
  float sum = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i, wb += sizeof(BlockIQ4_XS)) {
    int8_t ls[8];
    unpack_scales_iq4_xs(wb, ls);
    __m512i isum = _mm512_setzero_si512();
    int32_t bias = 0;
    for (int p = 0; p < 4; ++p) {
      const __m512i v = biased_pair(wb + 8 + 32 * p, grid);
      const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), v, _mm512_loadu_si512(ab[i].qs + 64 * p));
      const __m512i sc = _mm512_inserti64x4(_mm512_set1_epi32(ls[2 * p]), _mm256_set1_epi32(ls[2 * p + 1]), 1);
      isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(dot, sc));
      for (int s = 2 * p; s < 2 * p + 2; ++s) bias += ls[s] * (ab[i].bsums[2 * s] + ab[i].bsums[2 * s + 1]);
    }
    const int32_t total = _mm512_reduce_add_epi32(isum) - 128 * bias;
    sum += load_half(wb) * ab[i].d * static_cast<float>(total);
  }
  return sum;
}

}  // namespace

float vec_dot_iq4_xs(int64_t n, const void* w_row, const void* act_row) { return dot_row(n, w_row, act_row); }

void gemv_iq4_xs(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y) {
  gemv_rows(n_rows, w, w_row_bytes, y, [&](const uint8_t* row) { return dot_row(n, row, act); });
}

void gemm_iq4_xs(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                 size_t act_row_bytes, int64_t n_tok, float* y, int64_t ldy) {
  if (gemm_by_gemv(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy, gemv_iq4_xs)) return;
  GemmScratch g = alloc_gemm_scratch(act, act_row_bytes, n_tok, n, 32, false, true);
  prepare_act_q8_k(g, n_tok, 32, 128);
  tile_gemm<PackBiased<PackIQ4_XS>, TileDotVnni>(n, w, w_row_bytes, n_rows, g, n_tok, y, ldy);
}

}  // namespace st::avx512
