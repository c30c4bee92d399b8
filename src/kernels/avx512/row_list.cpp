// Q4_0 / Q8_0 products over a list of rows in the file's layout, with AVX-512 VNNI: the up
// matrix of a sparse ReGLU layer, where a token needs only the rows (neurons) its gate turned
// on. Rows stay contiguous in this layout, so skipped rows cost no memory traffic (in the
// row-group layout 16 rows share every cache line).
//
// One 512-bit vector takes 4 Q4_0 blocks (2 Q8_0 blocks) of one row: vpermt2w pulls their
// codes out of the 18-byte (34-byte) blocks and vpermw spreads the block scales over the
// lanes, so each 32-bit lane belongs to one block and vpdpbusd against the matching
// activation bytes sums exactly within it. Per block the integer sum is scaled by (weight
// scale x activation scale) and accumulated in f32 lanes; each row ends in one horizontal
// sum. The activation side (codes in lane order, zero points, scales) is laid out once per
// call and token.
#include <immintrin.h>

// GCC 12's _mm512_cvtepi32_ps / _mm512_cvtph_ps pass a self-initialised "undefined" vector
// as the unused merge source, which -Wmaybe-uninitialized reports once inlined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cstring>

#include "kernels/avx512/kernels.h"
#include "kernels/blocks.h"
#include "kernels/float_convert.h"
#include "kernels/scratch.h"

namespace st::avx512 {
namespace {

constexpr int kMaxTokens = 4;
// Rows are prefetched this many rows ahead: listed rows are scattered, so the hardware
// prefetchers only pick up each row once it is half read.
constexpr int64_t kAhead = 4;

// Per activation row and chunk: codes in the weights' lane order (Q4_0: low then high
// nibbles' partners), the zero-point term per lane (first lane of each block), the activation
// scale per lane.
struct ChunkActs {
  __m512i codes[2];  // Q8_0 uses codes[0] only
  __m512i zero;
  __m512 scale;
};

template <bool kQ8>
struct Layout {
  static constexpr int kBlocks = kQ8 ? 2 : 4;           // blocks per chunk (64 code bytes)
  static constexpr size_t kBlockBytes = kQ8 ? 34 : 18;  // file block: fp16 scale + codes
  static constexpr int32_t kZero = kQ8 ? 128 : 8;       // codes are biased by this (Q8_0: flipped)
  static constexpr int kLanesPerBlock = 16 / kBlocks;
  static constexpr size_t kChunkBytes = kBlocks * kBlockBytes;
};

// vpermt2w index: the code words of the chunk's blocks (source words 0..35 of the chunk).
template <bool kQ8>
__m512i code_index() {
  alignas(64) int16_t idx[32];
  for (int j = 0; j < 32; ++j) {
    const int words_per_block = static_cast<int>(Layout<kQ8>::kBlockBytes / 2);
    const int code_words = 32 / Layout<kQ8>::kBlocks;
    idx[j] = static_cast<int16_t>(words_per_block * (j / code_words) + 1 + j % code_words);
  }
  return _mm512_load_si512(idx);
}

// vpermw index: each lane's block scale (words 0..15; the upper half is unused).
template <bool kQ8>
__m512i scale_index() {
  alignas(64) int16_t idx[32] = {};
  for (int j = 0; j < 16; ++j)
    idx[j] = static_cast<int16_t>(Layout<kQ8>::kBlockBytes / 2 * static_cast<size_t>(j / Layout<kQ8>::kLanesPerBlock));
  return _mm512_load_si512(idx);
}

template <bool kQ8>
void prepare(const uint8_t* act, const int32_t* sums, int64_t n_chunks, ChunkActs* out) {
  using L = Layout<kQ8>;
  for (int64_t c = 0; c < n_chunks; ++c) {
    alignas(64) uint8_t codes[2][64];
    alignas(64) int32_t zero[16] = {};
    alignas(64) float scale[16];
    for (int k = 0; k < L::kBlocks; ++k) {
      const int64_t b = c * L::kBlocks + k;
      const auto* blk = reinterpret_cast<const BlockQ8_0*>(act) + b;
      const auto* qs = reinterpret_cast<const uint8_t*>(blk->qs);
      if constexpr (kQ8) {
        std::memcpy(codes[0] + 32 * k, qs, 32);
      } else {
        std::memcpy(codes[0] + 16 * k, qs, 16);       // partners of the low nibbles
        std::memcpy(codes[1] + 16 * k, qs + 16, 16);  // partners of the high nibbles
      }
      zero[k * L::kLanesPerBlock] = -L::kZero * sums[b];
      for (int m = 0; m < L::kLanesPerBlock; ++m) scale[k * L::kLanesPerBlock + m] = fp16_to_fp32(blk->d);
    }
    out[c].codes[0] = _mm512_load_si512(codes[0]);
    out[c].codes[1] = kQ8 ? _mm512_setzero_si512() : _mm512_load_si512(codes[1]);
    out[c].zero = _mm512_load_si512(zero);
    out[c].scale = _mm512_load_ps(scale);
  }
}

// Blocks past the last whole chunk (n not a multiple of 128 / 64): plain per-block sums.
// Not auto-vectorized: GCC 12 at -O2 with -mavx512vnni turns this signed x signed int8 loop
// into a vpdpbusd (unsigned x signed) and gets wrong sums for negative weights.
template <bool kQ8>
__attribute__((optimize("no-tree-vectorize"))) float tail_blocks(const uint8_t* row, const uint8_t* act, int64_t b0, int64_t nb) {
  float acc = 0.0f;
  for (int64_t b = b0; b < nb; ++b) {
    const uint8_t* wb = row + static_cast<size_t>(b) * Layout<kQ8>::kBlockBytes;
    const auto* ab = reinterpret_cast<const BlockQ8_0*>(act) + b;
    int32_t s = 0;
    for (int j = 0; j < 32; ++j) {
      const int32_t q = kQ8 ? static_cast<int8_t>(wb[2 + j])
                            : static_cast<int32_t>(j < 16 ? (wb[2 + j] & 0x0F) : (wb[2 + j - 16] >> 4)) - 8;
      s += q * ab->qs[j];
    }
    uint16_t d;
    std::memcpy(&d, wb, 2);
    acc += static_cast<float>(s) * (fp16_to_fp32(d) * fp16_to_fp32(ab->d));
  }
  return acc;
}

template <bool kQ8, int T>
void rows_pass(const uint8_t* w, size_t w_row_bytes, const int32_t* rows, int64_t n_rows, int64_t n_chunks, int64_t nb,
               const ChunkActs* const* acts, const uint8_t* const* act_rows, float* y, int64_t ldy) {
  using L = Layout<kQ8>;
  const __m512i cidx = code_index<kQ8>(), sidx = scale_index<kQ8>();
  const __m512i low4 = _mm512_set1_epi8(0x0F), flip = _mm512_set1_epi8(static_cast<char>(0x80));
  constexpr __mmask32 kTailWords = 0xF;  // the chunk's words 32..35 (beyond one vector)
  for (int64_t i = 0; i < n_rows; ++i) {
    const uint8_t* row = w + static_cast<size_t>(rows[i]) * w_row_bytes;
    if (i + kAhead < n_rows) {
      const uint8_t* next = w + static_cast<size_t>(rows[i + kAhead]) * w_row_bytes;
      for (size_t o = 0; o < w_row_bytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(next + o), _MM_HINT_T0);
    }
    __m512 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t c = 0; c < n_chunks; ++c) {
      const uint8_t* q = row + static_cast<size_t>(c) * L::kChunkBytes;
      const __m512i a = _mm512_loadu_si512(q);
      const __m512i b = _mm512_maskz_loadu_epi16(kTailWords, q + 64);
      const __m512i codes = _mm512_permutex2var_epi16(a, cidx, b);
      const __m512 wscale = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(sidx, a)));
      if constexpr (kQ8) {
        const __m512i u = _mm512_xor_si512(codes, flip);
        for (int t = 0; t < T; ++t) {
          const ChunkActs& ca = acts[t][c];
          const __m512i s = _mm512_dpbusd_epi32(ca.zero, u, ca.codes[0]);
          acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(wscale, ca.scale), acc[t]);
        }
      } else {
        const __m512i lo = _mm512_and_si512(codes, low4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(codes, 4), low4);
        for (int t = 0; t < T; ++t) {
          const ChunkActs& ca = acts[t][c];
          __m512i s = _mm512_dpbusd_epi32(ca.zero, lo, ca.codes[0]);
          s = _mm512_dpbusd_epi32(s, hi, ca.codes[1]);
          acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(wscale, ca.scale), acc[t]);
        }
      }
    }
    for (int t = 0; t < T; ++t) {
      float v = _mm512_reduce_add_ps(acc[t]);
      if (n_chunks * L::kBlocks < nb) v += tail_blocks<kQ8>(row, act_rows[t], n_chunks * L::kBlocks, nb);
      y[t * ldy + rows[i]] = v;
    }
  }
}

template <bool kQ8>
void gemm_rows(int64_t n, const void* w, size_t w_row_bytes, const int32_t* rows, int64_t n_rows, const void* act,
               size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy) {
  using L = Layout<kQ8>;
  const int64_t nb = n / kQK, n_chunks = nb / L::kBlocks;
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(act);
  auto* scratch = static_cast<ChunkActs*>(kernel_scratch(sizeof(ChunkActs) * static_cast<size_t>(n_chunks * kMaxTokens) + 64));
  for (int64_t t0 = 0; t0 < n_tok; t0 += kMaxTokens) {
    const int tn = static_cast<int>(n_tok - t0 < kMaxTokens ? n_tok - t0 : kMaxTokens);
    const ChunkActs* acts[kMaxTokens];
    const uint8_t* act_rows[kMaxTokens];
    for (int t = 0; t < tn; ++t) {
      act_rows[t] = ab + static_cast<size_t>(t0 + t) * act_row_bytes;
      ChunkActs* ca = scratch + static_cast<size_t>(t) * static_cast<size_t>(n_chunks);
      prepare<kQ8>(act_rows[t], act_sums + (t0 + t) * nb, n_chunks, ca);
      acts[t] = ca;
    }
    float* yt = y + t0 * ldy;
    switch (tn) {
      case 1: rows_pass<kQ8, 1>(wb, w_row_bytes, rows, n_rows, n_chunks, nb, acts, act_rows, yt, ldy); break;
      case 2: rows_pass<kQ8, 2>(wb, w_row_bytes, rows, n_rows, n_chunks, nb, acts, act_rows, yt, ldy); break;
      case 3: rows_pass<kQ8, 3>(wb, w_row_bytes, rows, n_rows, n_chunks, nb, acts, act_rows, yt, ldy); break;
      default: rows_pass<kQ8, 4>(wb, w_row_bytes, rows, n_rows, n_chunks, nb, acts, act_rows, yt, ldy); break;
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

}  // namespace st::avx512
