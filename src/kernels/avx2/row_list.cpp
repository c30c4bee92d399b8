// Q4_0 / Q8_0 products over a list of rows in the file's layout with AVX2 (KernelTable::
// gemm_rows): sparse ReGLU's up rows, where a token needs only the neurons its gate turned on.
// Rows stay contiguous in this layout, so a skipped row costs no memory traffic.
//
// Two things make the listed product pay off against the dense gemv:
//  - Prefetch. Listed rows are scattered (864 bytes per Q4_0 row of 1536, 1632 per Q8_0 row),
//    so the hardware prefetchers only pick a row up once it is half read and every row start
//    waits for DRAM. Each row asks for the row kAhead places further down the list.
//  - Several tokens per weight load (up to kMaxTokens per pass): a row's codes are unpacked
//    once and multiplied by every token's activations.
// The arithmetic is the dense gemv's (gemv_blocks.h): exact int32 sums per block (Q4_0 through
// maddubs on u8 nibbles, its zero point 8 applied through the caller's act_sums; Q8_0 through
// the maddubs sign trick), 8 blocks' sums reduced into one vector and scaled by (weight scale
// x activation scale) with one fma, so results differ from vec_dot only by float summation
// order.
#include <immintrin.h>

#include <cstdint>

#include "kernels/avx2/gemv_blocks.h"
#include "kernels/avx2/simd.h"
#include "kernels/blocks.h"
#include "kernels/scratch.h"

namespace st::avx2 {
namespace {

using namespace st::simd;

constexpr int kMaxTokens = 4;
// Rows ahead to prefetch: one Q4_0 row takes ~60-100 ns to multiply, DRAM latency is ~100 ns
// and more under load; a few rows of distance also cover a burst of adjacent listed rows.
constexpr int64_t kAhead = 4;
constexpr size_t kActBlockBytes = sizeof(BlockQ8_0);  // 34: fp16 scale, 32 codes

template <bool kQ8>
struct Fmt {
  static constexpr size_t kBlockBytes = kQ8 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0);
};

// One token's activation side: the block scales as floats and (Q4_0) -8 * block sum, laid out
// so 8 consecutive blocks load as one vector.
struct TokenActs {
  const uint8_t* row;  // the Q8_0 activation row
  const float* da;     // [nb]
  const int32_t* zero; // [nb] (Q4_0 only)
};

inline void prefetch_row(const uint8_t* p, size_t bytes) {
  for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(p + o), _MM_HINT_T0);
  _mm_prefetch(reinterpret_cast<const char*>(p + bytes - 1), _MM_HINT_T0);  // rows are not line-aligned
}

// Codes of weight block b ready for maddubs: Q4_0 as 32 u8 nibbles (element order), Q8_0 as
// |q| (its signs go onto the activations).
template <bool kQ8>
inline __m256i weight_codes(const uint8_t* row, int64_t b) {
  const uint8_t* blk = row + static_cast<size_t>(b) * Fmt<kQ8>::kBlockBytes;
  if constexpr (kQ8) {
    const __m256i q = loadu256(blk + 2);
    return _mm256_sign_epi8(q, q);
  } else {
    return unpack_nibbles16(blk + 2);
  }
}

// 8 int32 partial sums of block b of the row (codes w from weight_codes) with one token.
template <bool kQ8>
inline __m256i block_dot(__m256i w, const uint8_t* row, int64_t b, const uint8_t* act) {
  const __m256i a = loadu256(act + static_cast<size_t>(b) * kActBlockBytes + 2);
  if constexpr (kQ8) {
    // Signed codes reloaded from L1 (keeping both |q| and q for 8 blocks would spill).
    const __m256i q = loadu256(row + static_cast<size_t>(b) * Fmt<kQ8>::kBlockBytes + 2);
    return dot_u8s8(w, _mm256_sign_epi8(a, q));
  } else {
    return dot_u8s8(w, a);
  }
}

template <bool kQ8, int T>
void rows_pass(int64_t nb, const uint8_t* w, size_t w_row_bytes, const int32_t* rows, int64_t n_rows,
               const TokenActs* acts, float* y, int64_t ldy) {
  constexpr int BB = static_cast<int>(Fmt<kQ8>::kBlockBytes);
  for (int64_t i = 0; i < n_rows; ++i) {
    const uint8_t* row = w + static_cast<size_t>(rows[i]) * w_row_bytes;
    if (i + kAhead < n_rows) prefetch_row(w + static_cast<size_t>(rows[i + kAhead]) * w_row_bytes, w_row_bytes);
    __m256 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 8 <= nb; b += 8) {
      __m256i wc[8];
      for (int k = 0; k < 8; ++k) wc[k] = weight_codes<kQ8>(row, b + k);
      const __m256 wscale = gather_halves(row + b * BB, BB);
      for (int t = 0; t < T; ++t) {
        __m256i s[8];
        for (int k = 0; k < 8; ++k) s[k] = block_dot<kQ8>(wc[k], row, b + k, acts[t].row);
        __m256i sums = reduce8_i32(s);
        if constexpr (!kQ8) sums = _mm256_add_epi32(sums, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(acts[t].zero + b)));
        const __m256 scale = _mm256_mul_ps(wscale, _mm256_loadu_ps(acts[t].da + b));
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scale, acc[t]);
      }
    }
    float tail[T] = {};
    for (; b < nb; ++b) {  // blocks past the last 8
      const __m256i wc = weight_codes<kQ8>(row, b);
      const float ws = load_half(row + b * BB);
      for (int t = 0; t < T; ++t) {
        int32_t s = hsum_i32(block_dot<kQ8>(wc, row, b, acts[t].row));
        if constexpr (!kQ8) s += acts[t].zero[b];
        tail[t] += static_cast<float>(s) * (ws * acts[t].da[b]);
      }
    }
    for (int t = 0; t < T; ++t) y[t * ldy + rows[i]] = hsum(acc[t]) + tail[t];
  }
}

template <bool kQ8>
void gemm_rows(int64_t n, const void* w, size_t w_row_bytes, const int32_t* rows, int64_t n_rows, const void* act,
               size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy) {
  if (n_rows <= 0 || n_tok <= 0) return;
  const int64_t nb = n / kQK;
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(act);
  // Per token of a pass: nb floats (scales) and nb int32 (zero-point terms).
  const size_t per_tok = static_cast<size_t>(nb) * (sizeof(float) + sizeof(int32_t));
  auto* scratch = static_cast<uint8_t*>(kernel_scratch(per_tok * kMaxTokens));
  for (int64_t t0 = 0; t0 < n_tok; t0 += kMaxTokens) {
    const int tn = static_cast<int>(n_tok - t0 < kMaxTokens ? n_tok - t0 : kMaxTokens);
    TokenActs acts[kMaxTokens];
    for (int t = 0; t < tn; ++t) {
      const uint8_t* arow = ab + static_cast<size_t>(t0 + t) * act_row_bytes;
      auto* da = reinterpret_cast<float*>(scratch + static_cast<size_t>(t) * per_tok);
      auto* zero = reinterpret_cast<int32_t*>(da + nb);
      act_block_terms(arow, act_sums + (t0 + t) * nb, nb, kQ8 ? 0 : 8, da, zero);
      acts[t] = {arow, da, zero};
    }
    float* yt = y + t0 * ldy;
    switch (tn) {
      case 1: rows_pass<kQ8, 1>(nb, wb, w_row_bytes, rows, n_rows, acts, yt, ldy); break;
      case 2: rows_pass<kQ8, 2>(nb, wb, w_row_bytes, rows, n_rows, acts, yt, ldy); break;
      case 3: rows_pass<kQ8, 3>(nb, wb, w_row_bytes, rows, n_rows, acts, yt, ldy); break;
      default: rows_pass<kQ8, 4>(nb, wb, w_row_bytes, rows, n_rows, acts, yt, ldy); break;
    }
  }
}

}  // namespace

void gemm_rows_q4_0(int64_t n, const void* w, size_t w_row_bytes, const int32_t* rows, int64_t n_rows, const void* act,
                    size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy) {
  gemm_rows<false>(n, w, w_row_bytes, rows, n_rows, act, act_row_bytes, act_sums, n_tok, y, ldy);
}

void gemm_rows_q8_0(int64_t n, const void* w, size_t w_row_bytes, const int32_t* rows, int64_t n_rows, const void* act,
                    size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy) {
  gemm_rows<true>(n, w, w_row_bytes, rows, n_rows, act, act_row_bytes, act_sums, n_tok, y, ldy);
}

}  // namespace st::avx2
