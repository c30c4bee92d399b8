// Fills the AVX-512 VNNI entries of a type's table (on top of the AVX2 ones). Only the
// integer dot kernels change: VNNI helps where u8 x s8 products dominate.
#include "kernels/avx512/avx512.h"
#include "kernels/avx512/kernels.h"

namespace st::avx512 {

void override_kernels(KernelTable& t, bool has_bf16) {
  (void)has_bf16;  // no AVX512_BF16 kernel yet: BF16 stays on the AVX2 shift-and-fma path
  auto dots = [&t](VecDotFn dot, GemvFn gemv, GemmFn gemm) {
    t.vec_dot = dot;
    t.gemv = gemv;
    t.gemm = gemm;
  };
  switch (t.type) {
    case TensorType::Q4_0:
      dots(vec_dot_q4_0, gemv_q4_0, gemm_q4_0);
      t.gemv_rows = gemv_rows_q4_0;
      t.gemm_groups = gemm_groups_q4_0;
      t.pack_groups = pack_groups_q4_0;
      break;
    case TensorType::Q4_1: dots(vec_dot_q4_1, gemv_q4_1, gemm_q4_1); break;
    case TensorType::Q5_0: dots(vec_dot_q5_0, gemv_q5_0, gemm_q5_0); break;
    case TensorType::Q5_1: dots(vec_dot_q5_1, gemv_q5_1, gemm_q5_1); break;
    case TensorType::Q8_0:
      dots(vec_dot_q8_0, gemv_q8_0, gemm_q8_0);
      t.gemv_rows = gemv_rows_q8_0;
      t.gemm_groups = gemm_groups_q8_0;
      t.pack_groups = pack_groups_q8_0;
      break;
    case TensorType::Q4_K: t.gemm = gemm_q4_k; break;
    case TensorType::Q5_K: t.gemm = gemm_q5_k; break;
    case TensorType::Q6_K: t.gemm = gemm_q6_k; break;
    default: break;
  }
}

}  // namespace st::avx512
