// Batched dot products (gemm) for all block-quantized weight types, shared by the avx2/ and
// avx512/ folders; they differ only in the integer dot policy (maddubs vs VNNI vpdpbusd).
//
// Why repack: ggml's per-block layout makes every block's result a vector of 8 partial sums
// that must be converted and scaled on its own. Here 8 weight rows are interleaved so one
// 32-byte vector holds 4 consecutive codes of each of the 8 rows; multiplying it by 4
// broadcast activation bytes gives 8 rows' partial sums in 8 lanes, and the float scaling is
// then done once per block for 8 rows at a time. The repack costs about one pass over the
// weights per call and is reused across every token of the batch (prefill).
//
// Any block type reduces to: codes q in u8, value = scale_r * (q - c) per block (c an
// integer zero point applied through activation sums), plus optionally minc_r * (sum of the
// block's activations) for formats with a min (Q4_1, Q5_1, Q4_K, Q5_K).
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/avx2/simd.h"
#include "kernels/scratch.h"

namespace st::simd {
namespace {

constexpr int kTileRows = 8;

// A weight format W ("packer", gemm_parts.h) describes one row's 32-code chunk c:
//   static constexpr int kBlock;    // elements per scale: 32, or 16 for Q6_K (2 per chunk)
//   static constexpr bool kHasMin;
//   static __m256i codes(const uint8_t* row, int64_t c);   // 32 u8 codes of chunk c
//   static void scales(const uint8_t* row, int64_t c, float* scale, float* minc);
//     // scale (and min coefficient) of each of the 32/kBlock blocks in chunk c
// The activation side is described by ActBlocks, filled by the type's prepare function.
struct ActBlocks {
  const uint8_t* base = nullptr;  // activation row 0
  size_t row_bytes = 0;
  int64_t n_blocks = 0;                // weight blocks per row (kBlock elements each)
  const int32_t* qs_offset = nullptr;  // [n_blocks] byte offset of block b's int8 codes in a row
  const float* da = nullptr;           // [n_tok][n_blocks] activation scale of the block
  const float* sa = nullptr;           // [n_tok][n_blocks] scale * sum(codes) (types with a min)
  const int32_t* zero = nullptr;       // [n_tok][n_blocks] -c * sum(codes), the zero-point term
};

inline void transpose8x8_epi32(__m256i r[8]) {
  __m256i t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
    u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
    u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
    u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x31);
  }
}

// Packs rows [r0, r0+8) (rows past n_rows repeat the last one; their results are dropped).
template <class W>
void pack_rows(const uint8_t* w, size_t w_row_bytes, int64_t r0, int64_t n_rows, int64_t n_chunks, uint8_t* q,
               float* scale, float* minc) {
  const uint8_t* rows[kTileRows];
  for (int r = 0; r < kTileRows; ++r) rows[r] = w + static_cast<size_t>(std::min(r0 + r, n_rows - 1)) * w_row_bytes;
  for (int64_t c = 0; c < n_chunks; ++c) {
    __m256i v[kTileRows];
    constexpr int kPer = 32 / W::kBlock;
    for (int r = 0; r < kTileRows; ++r) {
      v[r] = W::codes(rows[r], c);
      float s[kPer], m[kPer] = {};
      W::scales(rows[r], c, s, m);
      for (int k = 0; k < kPer; ++k) {
        scale[(c * kPer + k) * kTileRows + r] = s[k];
        minc[(c * kPer + k) * kTileRows + r] = m[k];
      }
    }
    transpose8x8_epi32(v);
    for (int g = 0; g < 8; ++g) _mm256_store_si256(reinterpret_cast<__m256i*>(q + c * 256 + 32 * g), v[g]);
  }
}

// TT tokens x 8 rows over all blocks. Dot::accumulate adds, for each token, the u8 x s8 sums
// of one block (kBlock/4 interleaved vectors against 4-byte activation broadcasts).
template <class W, class Dot, int TT>
void tile_tokens(const uint8_t* q, const float* scale, const float* minc, const ActBlocks& a, int64_t t0, float* y,
                 int64_t ldy, int rows_valid) {
  constexpr int kGroups = W::kBlock / 4;
  const int64_t nb = a.n_blocks;
  const uint8_t* arow[TT];
  for (int t = 0; t < TT; ++t) arow[t] = a.base + static_cast<size_t>(t0 + t) * a.row_bytes;
  __m256 acc[TT];
  for (int t = 0; t < TT; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m256i isum[TT];
    for (int t = 0; t < TT; ++t) isum[t] = _mm256_set1_epi32(a.zero ? a.zero[(t0 + t) * nb + b] : 0);
    Dot::template accumulate<kGroups, TT>(isum, q + b * (kGroups * 32), arow, a.qs_offset[b]);
    const __m256 sc = _mm256_load_ps(scale + 8 * b);
    for (int t = 0; t < TT; ++t) {
      const __m256 s = _mm256_mul_ps(sc, _mm256_set1_ps(a.da[(t0 + t) * nb + b]));
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), s, acc[t]);
    }
    if constexpr (W::kHasMin) {
      const __m256 mc = _mm256_load_ps(minc + 8 * b);
      for (int t = 0; t < TT; ++t) acc[t] = _mm256_fmadd_ps(mc, _mm256_set1_ps(a.sa[(t0 + t) * nb + b]), acc[t]);
    }
  }
  for (int t = 0; t < TT; ++t) {
    float* out = y + (t0 + t) * ldy;
    if (rows_valid == kTileRows) {
      _mm256_storeu_ps(out, acc[t]);
    } else {
      alignas(32) float tmp[kTileRows];
      _mm256_store_ps(tmp, acc[t]);
      for (int r = 0; r < rows_valid; ++r) out[r] = tmp[r];
    }
  }
}

template <class W, class Dot, int TT>
void tile_tokens_tail(int tail, const uint8_t* q, const float* scale, const float* minc, const ActBlocks& a, int64_t t0,
                      float* y, int64_t ldy, int rows_valid) {
  if constexpr (TT > 1) {
    if (tail == TT - 1) return tile_tokens<W, Dot, TT - 1>(q, scale, minc, a, t0, y, ldy, rows_valid);
    return tile_tokens_tail<W, Dot, TT - 1>(tail, q, scale, minc, a, t0, y, ldy, rows_valid);
  }
}

// All memory one gemm call needs, carved from the thread's scratch in one piece: the
// activation arrays (filled by the type's prepare step) and the packed 8-row weight tile.
struct GemmScratch {
  ActBlocks act;
  int32_t* qs_offset;
  float* da;
  float* sa;
  int32_t* zero;
  uint8_t* q;
  float* scale;
  float* minc;
};

inline GemmScratch alloc_gemm_scratch(const void* act, size_t act_row_bytes, int64_t n_tok, int64_t n, int block,
                                      bool with_sa, bool with_zero) {
  const int64_t nb = n / block;
  const size_t per_tok = static_cast<size_t>(n_tok * nb) * 4;
  const size_t act_bytes = static_cast<size_t>(nb) * 4 + per_tok * (1 + with_sa + with_zero);
  const size_t q_off = (act_bytes + 63) / 64 * 64;
  const size_t q_bytes = static_cast<size_t>(n / 32) * 256;
  const size_t s_bytes = static_cast<size_t>(nb) * kTileRows * sizeof(float);
  auto* p = static_cast<uint8_t*>(kernel_scratch(q_off + q_bytes + 2 * s_bytes));
  GemmScratch g{};
  g.qs_offset = reinterpret_cast<int32_t*>(p);
  g.da = reinterpret_cast<float*>(p + static_cast<size_t>(nb) * 4);
  g.sa = with_sa ? g.da + n_tok * nb : nullptr;
  g.zero = with_zero ? reinterpret_cast<int32_t*>(g.da + n_tok * nb * (1 + with_sa)) : nullptr;
  g.q = p + q_off;
  g.scale = reinterpret_cast<float*>(g.q + q_bytes);
  g.minc = g.scale + nb * kTileRows;
  g.act = {static_cast<const uint8_t*>(act), act_row_bytes, nb, g.qs_offset, g.da, g.sa, g.zero};
  return g;
}

// Below this many tokens, repacking the weights costs more than it saves: the gemm wrappers
// run their gemv once per token instead.
constexpr int64_t kMinTileTokens = 3;

template <class Gemv>
bool gemm_by_gemv(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
                  int64_t n_tok, float* y, int64_t ldy, Gemv gemv) {
  if (n_tok >= kMinTileTokens) return false;
  for (int64_t t = 0; t < n_tok; ++t)
    gemv(n, w, w_row_bytes, n_rows, static_cast<const uint8_t*>(act) + static_cast<size_t>(t) * act_row_bytes, y + t * ldy);
  return true;
}

// Y[t*ldy + r] for all rows and tokens, once the activation arrays of `g` are filled.
template <class W, class Dot>
void tile_gemm(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const GemmScratch& g, int64_t n_tok,
               float* y, int64_t ldy) {
  constexpr int TT = Dot::kTokens;
  const auto* wb = static_cast<const uint8_t*>(w);
  for (int64_t r0 = 0; r0 < n_rows; r0 += kTileRows) {
    pack_rows<W>(wb, w_row_bytes, r0, n_rows, n / 32, g.q, g.scale, g.minc);
    const int rows_valid = static_cast<int>(std::min<int64_t>(kTileRows, n_rows - r0));
    int64_t t0 = 0;
    for (; t0 + TT <= n_tok; t0 += TT)
      tile_tokens<W, Dot, TT>(g.q, g.scale, g.minc, g.act, t0, y + r0, ldy, rows_valid);
    if (t0 < n_tok)
      tile_tokens_tail<W, Dot, TT>(static_cast<int>(n_tok - t0), g.q, g.scale, g.minc, g.act, t0, y + r0, ldy,
                                   rows_valid);
  }
}

}  // namespace
}  // namespace st::simd
