// Q6_K products on the row-group layout (kernels/row_groups.h) with AVX2: the arithmetic of
// avx512/row_groups_q6_k.cpp on 8-row halves. The 6-bit codes (0..63, rebuilt from ql and qh
// chunks with byte masks) go through vpmaddubsw against the signed activations; a pair is at
// most 2 x 63 x 128 = 16128, so two chunks' pairs add up in int16 and are then widened by a
// vpmaddwd with the sub-block's int8 scale (in both halves of the row's lane); four chunks
// could overflow int16. The -32 offset is -32 x scale x the 16-element activation sum (Q8_K
// bsums), once per half super-block for all 16 sub-blocks (eight vpmaddwd on pairs); scales
// are sign-extended with one vpshufb and a shift. Integers are exact; d x da scales the
// super-block in f32.
#include <immintrin.h>

#include <cstring>

#include "kernels/avx2/k_quant_groups.h"
#include "kernels/avx2/kernels.h"
#include "kernels/blocks.h"

namespace st::avx2 {
namespace {

// Chunk k of the half starting at `half` (8 rows' 4 bytes each).
inline __m256i chunk(const uint8_t* half, int k) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(half + 32 + 64 * k));
}

// vpshufb control: the lane's int8 bytes b0 and b1 into the high bytes of its two int16
// halves (an arithmetic shift by 8 then sign-extends them).
inline __m256i lane_bytes_high(uint32_t b0, uint32_t b1) {
  const uint32_t c = 0x00800080u | (b0 << 8) | (b1 << 24);
  const auto at = [c](uint32_t lane) { return static_cast<int>(c + 0x04000400u * lane); };
  return _mm256_setr_epi32(at(0), at(1), at(2), at(3), at(0), at(1), at(2), at(3));
}

// The int8 scales of 16-element sub-blocks s0 and s1 (same scale chunk) of each of the 8 rows,
// in the low and high int16 halves of the row's lane (for vpmaddwd).
inline __m256i scale_pair16(const uint8_t* half, int s0, int s1) {
  return _mm256_srai_epi16(_mm256_shuffle_epi8(chunk(half, 48 + s0 / 4), lane_bytes_high(s0 % 4, s1 % 4)), 8);
}

// The scale of sub-block s in both int16 halves of the row's lane.
inline __m256i scale16_of(const uint8_t* half, int s) { return scale_pair16(half, s, s); }

// The codes' -32 offset for T tokens: 32 x sum over the 16 sub-blocks of scale x (the
// activation's 16-element sum), eight vpmaddwd on pairs of sub-blocks (|bsum| <= 2048).
template <int T>
__attribute__((always_inline)) inline void offset_term(const uint8_t* half, const BlockQ8_K* const a[T], __m256i isum[T]) {
  __m256i off[T];
  for (int t = 0; t < T; ++t) off[t] = _mm256_setzero_si256();
  for (int i = 0; i < 8; ++i) {
    const __m256i sc = scale_pair16(half, 2 * i, 2 * i + 1);
    for (int t = 0; t < T; ++t) off[t] = _mm256_add_epi32(off[t], _mm256_madd_epi16(sc, bcast4(reinterpret_cast<const int8_t*>(a[t]->bsums + 2 * i))));
  }
  for (int t = 0; t < T; ++t) isum[t] = _mm256_sub_epi32(isum[t], _mm256_slli_epi32(off[t], 5));
}

// Elements 128n + [16q, 16q + 16) + {0, 32, 64, 96} (sub-blocks 8n + q + {0, 2, 4, 6}) of one
// half super-block for T tokens: adds scale x dot to isum (offset_term subtracts the -32's).
template <int n, int q, int T>
__attribute__((always_inline)) inline void quarter(const uint8_t* half, const BlockQ8_K* const a[T], __m256i isum[T]) {
  const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
  __m256i sc16[4];
  for (int w = 0; w < 4; ++w) sc16[w] = scale16_of(half, 8 * n + q + 2 * w);
  auto codes = [&](int kk, __m256i v[4]) {
    const __m256i A = chunk(half, 16 * n + kk), B = chunk(half, 16 * n + 8 + kk), H = chunk(half, 32 + 8 * n + kk);
    v[0] = _mm256_or_si256(_mm256_and_si256(A, m4), _mm256_and_si256(_mm256_slli_epi16(H, 4), m30));
    v[1] = _mm256_or_si256(_mm256_and_si256(B, m4), _mm256_and_si256(_mm256_slli_epi16(H, 2), m30));
    v[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(A, 4), m4), _mm256_and_si256(H, m30));
    v[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(B, 4), m4), _mm256_and_si256(_mm256_srli_epi16(H, 2), m30));
  };
  // Two chunks' vpmaddubsw pairs add up in int16 (2 x 16128 = 32256), then one vpmaddwd.
  for (int kk = 4 * q; kk < 4 * q + 4; kk += 2) {
    __m256i v0[4], v1[4];
    codes(kk, v0);
    codes(kk + 1, v1);
    for (int w = 0; w < 4; ++w)
      for (int t = 0; t < T; ++t) {
        const int8_t* x = a[t]->qs + 128 * n + 32 * w + 4 * kk;
        const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(v0[w], bcast4(x)), _mm256_maddubs_epi16(v1[w], bcast4(x + 4)));
        isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(p, sc16[w]));
      }
  }
}

// Rows 8h .. 8h + 7 of one super-block for T tokens (the k_quant_groups.h contract).
struct Q6K {
  static constexpr size_t kSuperBytes = 16 * sizeof(BlockQ6_K);
  template <int T>
  __attribute__((always_inline)) static void add_half(const uint8_t* blk, int h, const BlockQ8_K* const a[T],
                                                      __m256 acc[T]) {
    const uint8_t* half = blk + 32 * h;  // chunks of rows 8h .. 8h + 7 (the d vector: blk + 16h)
    __m256i isum[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
    quarter<0, 0, T>(half, a, isum);
    quarter<0, 1, T>(half, a, isum);
    quarter<1, 0, T>(half, a, isum);
    quarter<1, 1, T>(half, a, isum);
    offset_term<T>(half, a, isum);
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 16 * h)));
    for (int t = 0; t < T; ++t)
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, _mm256_set1_ps(a[t]->d)), acc[t]);
  }
};

}  // namespace

void gemm_groups_q6_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* /*act_sums*/, int64_t n_tok, float* y, int64_t ldy) {
  k_gemm_groups_or_tiles<Q6K>(TensorType::Q6_K, n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy);
}

}  // namespace st::avx2
