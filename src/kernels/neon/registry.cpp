// Fills the plain-NEON entries of a type's table. As on x86, dequantization of the older block
// formats stays on ref/ (not on the hot path; ref/ is the bit-exact definition); the float
// conversions and activation quantizers are replaced because the forward pass runs them, and
// the low-bit types of published files get NEON dequantization (embedding rows, dequantize.cpp).
#include <arm_neon.h>

#include "kernels/neon/float_rows.h"
#include "kernels/neon/integer_dots.h"
#include "kernels/neon/neon.h"

namespace st::neon {
namespace {

// Widening multiplies and pairwise adds (ARMv8.0 Advanced SIMD): the int16 products
// (|p| <= 16384) are summed in pairs straight into int32 lanes, so nothing can overflow.
struct DotWiden {
  static int32x4_t dot(int32x4_t acc, int8x16_t a, int8x16_t b) {
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
  }
};

template <VecDotFn Dot, GemmFn Gemm>
void set_float(KernelTable& t) {
  t.vec_dot = Dot;
  t.gemv = ref::gemv_by_dot<Dot>;
  t.gemm = Gemm;
}

}  // namespace

void override_kernels(KernelTable& t) {
  switch (t.type) {
    case TensorType::F32:
      set_float<vec_dot_f32, gemm_f32>(t);
      set_float_rows(t);
      break;
    case TensorType::F16:
      set_float<vec_dot_f16, gemm_f16>(t);
      t.dequantize_row = dequantize_row_f16;
      t.quantize_row = quantize_row_f16;
      set_float_rows(t);
      break;
    case TensorType::BF16:
      set_float<vec_dot_bf16, gemm_bf16>(t);
      t.dequantize_row = dequantize_row_bf16;
      t.quantize_row = quantize_row_bf16;
      set_float_rows(t);
      break;
    case TensorType::Q4_0:
      set_integer_kernels<DotWiden>(t);
      set_row_group_kernels(t);
      set_float_rows(t);  // a Q4_0 K/V cache
      break;
    case TensorType::Q8_0:
      set_integer_kernels<DotWiden>(t);
      set_row_group_kernels(t);
      t.quantize_row = quantize_row_q8_0;
      set_float_rows(t);  // a Q8_0 K/V cache
      break;
    case TensorType::Q4_K:
      set_integer_kernels<DotWiden>(t);
      set_row_group_kernels(t);
      break;
    case TensorType::Q8_1: t.quantize_row = quantize_row_q8_1; break;
    case TensorType::Q8_K: t.quantize_row = quantize_row_q8_k; break;
    default:
      set_integer_kernels<DotWiden>(t);
      set_low_bit_dequantize(t);  // Q2_K, Q3_K, IQ4_NL, IQ4_XS (dequantize.cpp)
      break;
  }
  if (t.type == TensorType::Q4_0 || t.type == TensorType::Q8_0) t.neuron_columns = neuron_columns_group;
}

}  // namespace st::neon
