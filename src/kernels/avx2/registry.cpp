// Fills the AVX2 entries of a type's table. Dequantization of the block formats stays on
// ref/ (it is not on the hot path and ref/ is the bit-exact definition); the float types'
// conversions and the activation quantizers are replaced because the forward pass runs them.
#include "kernels/avx2/avx2.h"
#include "kernels/avx2/block_kernels.h"
#include "kernels/avx2/kernels.h"

namespace st::avx2 {

using namespace st::simd;

void override_kernels(KernelTable& t) {
  auto dots = [&t](VecDotFn dot, GemvFn gemv, GemmFn gemm) {
    t.vec_dot = dot;
    t.gemv = gemv;
    t.gemm = gemm;
  };
  switch (t.type) {
    case TensorType::F32:
      dots(vec_dot_f32, gemv_f32, gemm_f32);
      set_float_rows(t);
      break;
    case TensorType::F16:
      dots(vec_dot_f16, gemv_f16, gemm_f16);
      t.dequantize_row = dequantize_row_f16;
      t.quantize_row = quantize_row_f16;
      set_float_rows(t);
      break;
    case TensorType::BF16:
      dots(vec_dot_bf16, gemv_bf16, gemm_bf16);
      t.dequantize_row = dequantize_row_bf16;
      t.quantize_row = quantize_row_bf16;
      set_float_rows(t);
      break;
    // The block formats: unsigned codes through maddubs (zero points via activation sums),
    // Q8_0 signed through the maddubs sign trick.
    // Q4_0/Q8_0 also get the row-group kernels (kernels/row_groups.h, avx2/row_groups.cpp).
    case TensorType::Q4_0:
      BlockKernels<PackQ4_0, DotU8S8, Avx2DotU<8>, ActQ8_0<8>>::fill(t, true);
      t.gemm_groups = gemm_groups_q4_0;
      t.gemm_groups_pair = gemm_groups_pair_q4_0;
      t.gemm_rows = gemm_rows_q4_0;
      t.pack_groups = pack_groups_q4_0;
      set_float_rows(t);  // a Q4_0 K/V cache
      break;
    case TensorType::Q4_1: BlockKernels<PackQ4_1, DotU8S8, Avx2DotU<8>, ActQ8_1>::fill(t, false); break;
    case TensorType::Q5_0: BlockKernels<PackQ5_0, DotU8S8, Avx2DotU<4>, ActQ8_0<16>>::fill(t, false); break;
    case TensorType::Q5_1: BlockKernels<PackQ5_1, DotU8S8, Avx2DotU<4>, ActQ8_1>::fill(t, false); break;
    case TensorType::Q8_0:
      BlockKernels<PackQ8_0Signed, DotS8S8, Avx2DotS, ActQ8_0<0>>::fill(t, true);
      t.quantize_row = quantize_row_q8_0;
      t.gemm_groups = gemm_groups_q8_0;
      t.gemm_groups_pair = gemm_groups_pair_q8_0;
      t.gemm_rows = gemm_rows_q8_0;
      t.pack_groups = pack_groups_q8_0;
      set_float_rows(t);  // a Q8_0 K/V cache
      break;
    case TensorType::Q8_1: t.quantize_row = quantize_row_q8_1; break;
    case TensorType::Q4_K:
      dots(vec_dot_q4_k, gemv_q4_k, gemm_q4_k);
      t.gemm_groups = gemm_groups_q4_k;
      t.pack_groups = pack_groups_q4_k;
      break;
    case TensorType::Q5_K:
      dots(vec_dot_q5_k, gemv_q5_k, gemm_q5_k);
      t.gemm_groups = gemm_groups_q5_k;
      t.pack_groups = pack_groups_q5_k;
      break;
    case TensorType::Q6_K:
      dots(vec_dot_q6_k, gemv_q6_k, gemm_q6_k);
      t.gemm_groups = gemm_groups_q6_k;
      break;
    case TensorType::Q8_K: t.quantize_row = quantize_row_q8_k; break;
    case TensorType::Q2_K:
      dots(vec_dot_q2_k, gemv_q2_k, gemm_q2_k);
      t.gemm_groups = gemm_groups_q2_k;
      break;
    case TensorType::Q3_K:
      dots(vec_dot_q3_k, gemv_q3_k, gemm_q3_k);
      t.gemm_groups = gemm_groups_q3_k;
      break;
    // IQ4_NL: grid values (signed) through the Q8_0 sign-trick policies.
    case TensorType::IQ4_NL: BlockKernels<PackIQ4_NL, DotS8S8, Avx2DotS, ActQ8_0<0>>::fill(t, false); break;
    case TensorType::IQ4_XS: dots(vec_dot_iq4_xs, gemv_iq4_xs, gemm_iq4_xs); break;
    // Grid i-quants (avx2/iq_grid.cpp); the others run ref/.
    case TensorType::IQ2_XS: dots(vec_dot_iq2_xs, gemv_iq2_xs, gemm_iq2_xs); break;
    case TensorType::IQ3_S: dots(vec_dot_iq3_s, gemv_iq3_s, gemm_iq3_s); break;
    default: break;
  }
  if (t.type == TensorType::Q4_0 || t.type == TensorType::Q8_0) t.neuron_columns = neuron_columns_group;
}

}  // namespace st::avx2
