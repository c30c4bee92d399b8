// Q4_K and Q5_K products on the row-group layout (kernels/row_groups.h) with AVX2, for CPUs
// without AVX-512 VNNI. A 256-bit vector holds a 4-byte chunk of 8 rows (half a group);
// vpmaddubsw against the broadcast activation bytes leaves each row's products in its own
// 32-bit lane as two int16 sums, so every instruction serves 8 rows and nothing is reduced
// horizontally. Q4_K: a 32-element sub-block adds up exactly in int16 (codes 0..15 times
// activations of at most 128 in magnitude: 8 chunks x 2 x 1920 = 30720). Q5_K (codes 0..31,
// the 5th bit moved from the qh chunk to bit 4 with one shift and mask) adds four chunks in
// int16 (4 x 2 x 3968 = 31744) and widens twice per sub-block. One vpmaddwd by the sub-block's
// scale (one vpshufb puts it in both int16 halves of each lane) widens and scales at once.
// The scales and mins of a half super-block are unpacked once (KScales, nine operations) and
// the mins' term is four vpmaddwd per token and super-block half against the Q8_K sums. The
// integer parts are exact; d * da and dmin * da scale them in f32.
#include <immintrin.h>

#include <cstring>

#include "kernels/avx2/k_quant_groups.h"
#include "kernels/avx2/kernels.h"
#include "kernels/blocks.h"

namespace st::avx2 {
namespace {

inline __m256i load(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// Bit b of every byte moved to bit 4 (other bits are masked off by the caller; 16-bit shifts
// never carry another byte's bit into bit 4 for these distances).
template <int b>
inline __m256i bit_to_4(__m256i h) {
  if constexpr (b < 4) return _mm256_slli_epi16(h, 4 - b);
  else if constexpr (b == 4) return h;
  else return _mm256_srli_epi16(h, b - 4);
}

// Sub-blocks 2c (low nibbles) and 2c + 1 (high nibbles) of one half super-block (chunk k of
// its 8 rows at chunks + 64k) for T tokens: isum[t] += sc_2c x dot_2c + sc_2c+1 x dot_2c+1.
template <bool kQ5, int c, int T>
__attribute__((always_inline)) inline void sub_pair(const uint8_t* chunks, const KScales& ks,
                                                    const BlockQ8_K* const a[T], __m256i isum[T]) {
  constexpr int kCode0 = kQ5 ? 11 : 3;  // first code chunk (after the scales, and Q5_K's qh)
  constexpr int kRun = kQ5 ? 4 : 8;     // chunks whose pairs add up in int16 (see the top)
  const __m256i low4 = _mm256_set1_epi8(0x0F), bit4 = _mm256_set1_epi8(0x10);
  const __m256i sc0 = k_scale16<2 * c>(ks), sc1 = k_scale16<2 * c + 1>(ks);
  for (int run = 0; run < 8; run += kRun) {
    __m256i dlo[T], dhi[T];
    for (int t = 0; t < T; ++t) dlo[t] = dhi[t] = _mm256_setzero_si256();
    for (int kk = run; kk < run + kRun; ++kk) {
      const __m256i q = load(chunks + 64 * (kCode0 + 8 * c + kk));
      __m256i lo = _mm256_and_si256(q, low4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
      if constexpr (kQ5) {  // qh chunk kk: bit 2c (low sub-block) and 2c + 1 (high) of each byte
        const __m256i h = load(chunks + 64 * (3 + kk));
        lo = _mm256_or_si256(lo, _mm256_and_si256(bit_to_4<2 * c>(h), bit4));
        hi = _mm256_or_si256(hi, _mm256_and_si256(bit_to_4<2 * c + 1>(h), bit4));
      }
      for (int t = 0; t < T; ++t) {
        dlo[t] = _mm256_add_epi16(dlo[t], _mm256_maddubs_epi16(lo, bcast4(a[t]->qs + 64 * c + 4 * kk)));
        dhi[t] = _mm256_add_epi16(dhi[t], _mm256_maddubs_epi16(hi, bcast4(a[t]->qs + 64 * c + 32 + 4 * kk)));
      }
    }
    for (int t = 0; t < T; ++t)
      isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_madd_epi16(dlo[t], sc0), _mm256_madd_epi16(dhi[t], sc1)));
  }
}

// Rows 8h .. 8h + 7 of one super-block for T tokens (the k_quant_groups.h contract). The
// packed super-block: 16 fp16 d, 16 fp16 dmin, then the chunks.
template <bool kQ5>
struct Q45K {
  static constexpr size_t kSuperBytes = 16 * (kQ5 ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K));
  template <int T>
  __attribute__((always_inline)) static void add_half(const uint8_t* blk, int h, const BlockQ8_K* const a[T],
                                                      __m256 acc[T]) {
    const uint8_t* chunks = blk + 64 + 32 * h;  // chunk k of rows 8h .. 8h + 7 at chunks + 64k
    const KScales ks = unpack_k_scales(chunks);
    __m256i isum[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
    sub_pair<kQ5, 0, T>(chunks, ks, a, isum);
    sub_pair<kQ5, 1, T>(chunks, ks, a, isum);
    sub_pair<kQ5, 2, T>(chunks, ks, a, isum);
    sub_pair<kQ5, 3, T>(chunks, ks, a, isum);
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 16 * h)));
    const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 32 + 16 * h)));
    for (int t = 0; t < T; ++t) {
      const __m256 da = _mm256_set1_ps(a[t]->d);
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, da), acc[t]);
      acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(k_min_term(ks, a[t])), _mm256_mul_ps(dmin, da), acc[t]);
    }
  }
};

// Row by row (the source is one sequential stream), each row's d, dmin and 4-byte chunks
// (the rest of its super-block) to their places in the group's super-blocks (L1-resident).
template <class Block>
void pack_rows_d_dmin_chunks(const uint8_t* rows, int64_t n_rows, int64_t n_cols, uint8_t* groups) {
  constexpr size_t kBlock = sizeof(Block), kSuper = 16 * kBlock;
  constexpr int kChunks = static_cast<int>(kBlock - 4) / 4;
  const int64_t nsb = n_cols / kQK_K;
  const size_t row_bytes = static_cast<size_t>(nsb) * kBlock;
  for (int64_t g = 0; g < n_rows / 16; ++g) {
    const uint8_t* src = rows + static_cast<size_t>(g) * 16 * row_bytes;
    uint8_t* dst = groups + static_cast<size_t>(g) * 16 * row_bytes;
    for (int r = 0; r < 16; ++r) {
      const uint8_t* s = src + static_cast<size_t>(r) * row_bytes;
      for (int64_t b = 0; b < nsb; ++b, s += kBlock) {
        uint8_t* d = dst + static_cast<size_t>(b) * kSuper;
        std::memcpy(d + 2 * r, s, 2);
        std::memcpy(d + 32 + 2 * r, s + 2, 2);
        for (int k = 0; k < kChunks; ++k) std::memcpy(d + 64 + 64 * k + 4 * r, s + 4 + 4 * k, 4);
      }
    }
  }
}

}  // namespace

void gemm_groups_q4_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* /*act_sums*/, int64_t n_tok, float* y, int64_t ldy) {
  k_gemm_groups_or_tiles<Q45K<false>>(TensorType::Q4_K, n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy);
}

void gemm_groups_q5_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* /*act_sums*/, int64_t n_tok, float* y, int64_t ldy) {
  k_gemm_groups_or_tiles<Q45K<true>>(TensorType::Q5_K, n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy);
}

void pack_groups_q4_k(const uint8_t* rows, int64_t n_rows, int64_t n_cols, uint8_t* groups) {
  pack_rows_d_dmin_chunks<BlockQ4_K>(rows, n_rows, n_cols, groups);
}

void pack_groups_q5_k(const uint8_t* rows, int64_t n_rows, int64_t n_cols, uint8_t* groups) {
  pack_rows_d_dmin_chunks<BlockQ5_K>(rows, n_rows, n_cols, groups);
}

}  // namespace st::avx2
