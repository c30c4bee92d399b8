// IQ2_XS and IQ3_S x Q8_K with AVX2, the i-quants published files use most. Per sub-block of 32:
// the 4 (IQ2_XS) or 8 (IQ3_S) grid points are loaded as one 256-bit vector of unsigned grid
// bytes; the sign bits become byte masks (broadcast, shuffle each group's sign byte to its 8
// lanes, test one bit per lane) and are applied to the activations instead of the weights, so
// maddubs can take the grid bytes as its unsigned operand (|g| <= 62, |a| <= 127: pairs fit
// int16). The widening madd multiplies by the integer scale 2s + 1 (per 16 elements for IQ2_XS,
// per 32 for IQ3_S); one float fma per super-block. The scalar twins are ref/iq_quants.cpp.
#include <cstring>

#include "kernels/avx2/kernels.h"
#include "kernels/avx2/simd.h"
#include "kernels/avx2/tile_gemm.h"
#include "kernels/blocks.h"
#include "kernels/ref/iq_formats.h"

namespace st::avx2 {
namespace {

using namespace st::simd;

// The 8-bit sign bytes of the 7-bit sign fields (see iq_signs), built at compile time: code
// run at static initialisation in this TU would be AVX2 code on any CPU.
struct SignTable {
  uint8_t v[128];
};
constexpr SignTable kSigns = [] {
  SignTable t{};
  for (uint32_t i = 0; i < 128; ++i) t.v[i] = static_cast<uint8_t>(i | ((__builtin_popcount(i) & 1u) << 7));
  return t;
}();

// a with the sign of each lane flipped where bit (lane % 8) of byte (lane / 8) of `signs4` is set.
inline __m256i apply_signs(__m256i a, uint32_t signs4) {
  const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(signs4)),
                                             _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                                               0x0101010101010101, 0x0000000000000000));
  const __m256i bits = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
  const __m256i neg = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bits), bits);
  return _mm256_sub_epi8(_mm256_xor_si256(a, neg), neg);  // -a where neg is all ones
}

float dot_row_iq2_xs(int64_t n, const void* w, const void* a) {
  const auto* wb = static_cast<const BlockIQ2_XS*>(w);
  const auto* ab = static_cast<const uint8_t*>(a);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK_K; ++i, ab += sizeof(BlockQ8_K)) {
    float ad;
    std::memcpy(&ad, ab, 4);
    const BlockIQ2_XS& b = wb[i];
    __m256i isum = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ++ib) {
      const uint16_t* q = b.qs + 4 * ib;
      const __m256i grid = _mm256_set_epi64x(static_cast<int64_t>(kIq2xsGrid[q[3] & 511]), static_cast<int64_t>(kIq2xsGrid[q[2] & 511]),
                                             static_cast<int64_t>(kIq2xsGrid[q[1] & 511]), static_cast<int64_t>(kIq2xsGrid[q[0] & 511]));
      const uint32_t signs = kSigns.v[q[0] >> 9] | (kSigns.v[q[1] >> 9] << 8) | (kSigns.v[q[2] >> 9] << 16) |
                             (static_cast<uint32_t>(kSigns.v[q[3] >> 9]) << 24);
      const __m256i act = apply_signs(loadu256(ab + 4 + 32 * ib), signs);
      const int s0 = 2 * (b.scales[ib] & 0xF) + 1, s1 = 2 * (b.scales[ib] >> 4) + 1;
      const __m256i scale = _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(s1)), _mm_set1_epi16(static_cast<int16_t>(s0)));
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(grid, act), scale));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(load_half(&b.d) * ad * 0.125f), _mm256_cvtepi32_ps(isum), acc);
  }
  return hsum(acc);
}

float dot_row_iq3_s(int64_t n, const void* w, const void* a) {
  const auto* wb = static_cast<const BlockIQ3_S*>(w);
  const auto* ab = static_cast<const uint8_t*>(a);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK_K; ++i, ab += sizeof(BlockQ8_K)) {
    float ad;
    std::memcpy(&ad, ab, 4);
    const BlockIQ3_S& b = wb[i];
    __m256i isum = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ++ib) {
      const uint8_t* q = b.qs + 8 * ib;
      const int h = b.qh[ib];
      auto pt = [&](int k) { return static_cast<int>(kIq3sGrid[q[k] | (((h >> k) & 1) << 8)]); };
      const __m256i grid = _mm256_set_epi32(pt(7), pt(6), pt(5), pt(4), pt(3), pt(2), pt(1), pt(0));
      const __m256i act = apply_signs(loadu256(ab + 4 + 32 * ib), iq_load_u32(b.signs + 4 * ib));
      const int s = 2 * ((b.scales[ib / 2] >> (4 * (ib % 2))) & 0xF) + 1;
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(grid, act), _mm256_set1_epi16(static_cast<int16_t>(s))));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(load_half(&b.d) * ad), _mm256_cvtepi32_ps(isum), acc);
  }
  return hsum(acc);
}

template <float (*Dot)(int64_t, const void*, const void*)>
void gemm_rows_by_dot(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
                      int64_t n_tok, float* y, int64_t ldy) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* abytes = static_cast<const uint8_t*>(act);
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t t = 0; t < n_tok; ++t)
      y[t * ldy + r] = Dot(n, wb + static_cast<size_t>(r) * w_row_bytes, abytes + static_cast<size_t>(t) * act_row_bytes);
}

}  // namespace

float vec_dot_iq2_xs(int64_t n, const void* w_row, const void* act_row) { return dot_row_iq2_xs(n, w_row, act_row); }
void gemv_iq2_xs(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y) {
  gemv_rows(n_rows, w, w_row_bytes, y, [&](const uint8_t* row) { return dot_row_iq2_xs(n, row, act); });
}
void gemm_iq2_xs(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
                 int64_t n_tok, float* y, int64_t ldy) {
  gemm_rows_by_dot<dot_row_iq2_xs>(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy);
}

float vec_dot_iq3_s(int64_t n, const void* w_row, const void* act_row) { return dot_row_iq3_s(n, w_row, act_row); }
void gemv_iq3_s(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y) {
  gemv_rows(n_rows, w, w_row_bytes, y, [&](const uint8_t* row) { return dot_row_iq3_s(n, row, act); });
}
void gemm_iq3_s(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
                int64_t n_tok, float* y, int64_t ldy) {
  gemm_rows_by_dot<dot_row_iq3_s>(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy);
}

}  // namespace st::avx2
