// F32 with AVX2: dots, gemv and gemm through float_gemm.h.
#include "kernels/avx2/float_gemm.h"
#include "kernels/avx2/kernels.h"

namespace st::avx2 {

using namespace st::simd;

float vec_dot_f32(int64_t n, const void* w_row, const void* act_row) { return float_dot<ConvF32>(n, w_row, act_row); }

void gemv_f32(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y) {
  float_gemv<ConvF32>(n, w, w_row_bytes, n_rows, act, y);
}

void gemm_f32(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
              int64_t n_tok, float* y, int64_t ldy) {
  float_gemm<ConvF32>(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy);
}

}  // namespace st::avx2
