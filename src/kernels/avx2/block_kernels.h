// The integer kernels of a 32-element block format (gemv, row-list gemv, vec_dot, gemm),
// assembled from its parts: the weight packer W (gemm_parts.h), the gemv dot policy
// (gemv_blocks.h), the gemm tile policy (tile_gemm.h) and the activation side Act. The avx2/
// and avx512/ registries differ only in those parts and instantiate this per type, so the
// four entry points are written once. Internal linkage, as everything in these headers: each
// ISA's registry.cpp gets its own copy compiled with its own instruction set.
#pragma once
#include "kernels/avx2/gemm_parts.h"
#include "kernels/avx2/gemv_blocks.h"
#include "kernels/kernel_table.h"

namespace st::simd {
namespace {

// Q8_0 activations against a weight format with zero point kZero (0: none).
template <int kZero>
struct ActQ8_0 {
  static constexpr bool kWithMin = false, kWithZero = kZero != 0;
  static void prepare(GemmScratch& g, int64_t n_tok) { prepare_act_q8_0(g, n_tok, kZero); }
};
// Q8_1 activations (formats with a min).
struct ActQ8_1 {
  static constexpr bool kWithMin = true, kWithZero = false;
  static void prepare(GemmScratch& g, int64_t n_tok) { prepare_act_q8_1(g, n_tok); }
};

template <class W, class Dot, class TileDot, class Act>
struct BlockKernels {
  static void gemv(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y) {
    batched_gemv<W, Dot>(n, w, w_row_bytes, n_rows, act, y, Act::kWithZero, [](GemmScratch& g) { Act::prepare(g, 1); });
  }
  static void gemv_rows(int64_t n, const void* w, size_t w_row_bytes, const int32_t* rows, int64_t n_rows,
                        const void* act, float* y) {
    batched_gemv<W, Dot>(n, w, w_row_bytes, n_rows, act, y, Act::kWithZero, [](GemmScratch& g) { Act::prepare(g, 1); },
                         rows);
  }
  static float vec_dot(int64_t n, const void* w_row, const void* act_row) {
    float y;
    gemv(n, w_row, 0, 1, act_row, &y);
    return y;
  }
  static void gemm(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
                   int64_t n_tok, float* y, int64_t ldy) {
    if (gemm_by_gemv(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy, gemv)) return;
    GemmScratch g = alloc_gemm_scratch(act, act_row_bytes, n_tok, n, 32, Act::kWithMin, Act::kWithZero);
    Act::prepare(g, n_tok);
    tile_gemm<W, TileDot>(n, w, w_row_bytes, n_rows, g, n_tok, y, ldy);
  }
  // Fills the table's dot-product entries (the row-list gemv where callers use it).
  static void fill(KernelTable& t, bool with_rows) {
    t.vec_dot = vec_dot;
    t.gemv = gemv;
    t.gemm = gemm;
    if (with_rows) t.gemv_rows = gemv_rows;
  }
};

}  // namespace
}  // namespace st::simd
