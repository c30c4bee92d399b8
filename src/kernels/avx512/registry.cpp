// Fills the AVX-512 VNNI entries of a type's table (on top of the AVX2 ones): the integer dot
// kernels (VNNI helps where u8 x s8 products dominate) and attention's float-row loops.
#include "kernels/avx512/avx512.h"
#include "kernels/avx512/kernels.h"
#include "kernels/avx512/vnni.h"
#include "kernels/avx2/block_kernels.h"

namespace st::avx512 {

using namespace st::simd;

void override_kernels(KernelTable& t, bool has_bf16) {
  (void)has_bf16;  // no AVX512_BF16 kernel yet: BF16 stays on the AVX2 shift-and-fma path
  switch (t.type) {
    // The block formats: vpdpbusd on unsigned codes (Q8_0 biased by 128), zero points via
    // activation sums; Q4_0/Q8_0 also get the row-group kernels (kernels/row_groups.h) and
    // products over listed rows (avx512/row_list.cpp). The row-group packer stays the AVX2
    // table's (dispatch applies the AVX2 overrides first): it needs nothing wider.
    case TensorType::Q4_0:
      BlockKernels<PackQ4_0, DotVnni, TileDotVnni, ActQ8_0<8>>::fill(t, true);
      t.gemm_groups = gemm_groups_q4_0;
      t.gemm_groups_pair = gemm_groups_pair_q4_0;
      t.gemm_rows = gemm_rows_q4_0;
      set_float_rows(t);  // a Q4_0 K/V cache
      break;
    case TensorType::Q4_1: BlockKernels<PackQ4_1, DotVnni, TileDotVnni, ActQ8_1>::fill(t, false); break;
    case TensorType::Q5_0: BlockKernels<PackQ5_0Vnni, DotVnni, TileDotVnni, ActQ8_0<16>>::fill(t, false); break;
    case TensorType::Q5_1: BlockKernels<PackQ5_1Vnni, DotVnni, TileDotVnni, ActQ8_1>::fill(t, false); break;
    case TensorType::Q8_0:
      BlockKernels<PackQ8_0Biased, DotVnni, TileDotVnni, ActQ8_0<128>>::fill(t, true);
      t.gemm_groups = gemm_groups_q8_0;
      t.gemm_groups_pair = gemm_groups_pair_q8_0;
      t.gemm_rows = gemm_rows_q8_0;
      set_float_rows(t);  // a Q8_0 K/V cache
      break;
    // The float types: attention's loops over the K/V cache (float_rows_impl.h), 16 lanes.
    case TensorType::F32:
    case TensorType::F16:
    case TensorType::BF16: set_float_rows(t); break;
    case TensorType::Q4_K:
      t.gemm = gemm_q4_k;
      t.gemm_groups = gemm_groups_q4_k;
      break;
    case TensorType::Q5_K: t.gemm = gemm_q5_k; break;
    case TensorType::Q6_K:
      t.gemm = gemm_q6_k;
      t.gemm_groups = gemm_groups_q6_k;
      break;
    // The low-bit K-quants and the i-quant with super-blocks: the tile gemm and the row-group
    // kernels on VNNI; vec_dot/gemv stay on the AVX2 super-block kernels (maddubs + madd
    // already folds the sub-block scales into the widening step).
    case TensorType::Q2_K:
      t.gemm = gemm_q2_k;
      t.gemm_groups = gemm_groups_q2_k;
      break;
    case TensorType::Q3_K:
      t.gemm = gemm_q3_k;
      t.gemm_groups = gemm_groups_q3_k;
      break;
    // IQ4_NL: grid values biased to u8 (v + 128) for vpdpbusd, the bias removed through the
    // activations' block sums as for Q8_0.
    case TensorType::IQ4_NL:
      BlockKernels<PackBiased<PackIQ4_NL>, DotVnni, TileDotVnni, ActQ8_0<128>>::fill(t, false);
      break;
    // IQ4_XS: the VNNI tile gemm; vec_dot/gemv stay on AVX2. A VNNI gemv (two sub-blocks per
    // 512-bit vpdpbusd on u8-biased values, 32-bit scale multiplies, bias through bsums) ran at
    // 0.73x (in cache) / 0.76x (DRAM) of the AVX2 one (kernels_bench gemv/iq4_xs, Zen 5).
    case TensorType::IQ4_XS: t.gemm = gemm_iq4_xs; break;
    default: break;
  }
  if (t.type == TensorType::Q4_0 || t.type == TensorType::Q8_0) t.neuron_columns = neuron_columns_group;
}

}  // namespace st::avx512
