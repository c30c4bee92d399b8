// Activation quantizers (Q8_0, Q8_1, Q8_K) with plain NEON, bit-identical to ref/: the same
// scale arithmetic in f32, FCVTAS for round-half-away (std::round) and FCVTNS for
// round-half-even (ref's nearest_int), truncating narrows as static_cast<int8_t> does, and
// the same non-finite policy (NaN scale, zero codes).
#include <arm_neon.h>

#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/float_convert.h"
#include "kernels/neon/float_rows.h"
#include "kernels/neon/util.h"

namespace st::neon {
namespace {

// Codes of one 32-element block as ref/q8_0.cpp makes them; returns d, or NaN for a block
// with a non-finite value (codes zero).
float quantize_block_q8(const float* x, int8_t* qs) {
  if (!all_finite(x, kQK)) {
    std::memset(qs, 0, kQK);
    return NAN;
  }
  const float d = abs_max(x, kQK) / 127;
  const float id = d != 0 ? 1 / d : 0;
  for (int k = 0; k < 2; ++k) {
    int32x4_t q[4];
    for (int j = 0; j < 4; ++j) q[j] = vcvtaq_s32_f32(vmulq_n_f32(vld1q_f32(x + 16 * k + 4 * j), id));
    vst1q_s8(qs + 16 * k, narrow_i32x16_to_i8(q[0], q[1], q[2], q[3]));
  }
  return d;
}

}  // namespace

void quantize_row_q8_0(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) b[i].d = fp32_to_fp16(quantize_block_q8(src + i * kQK, b[i].qs));
}

void quantize_row_q8_1(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float d = quantize_block_q8(src + i * kQK, b[i].qs);
    const int sum = vaddlvq_s8(vld1q_s8(b[i].qs)) + vaddlvq_s8(vld1q_s8(b[i].qs + 16));
    b[i].d = fp32_to_fp16(d);
    b[i].s = fp32_to_fp16(std::isnan(d) ? NAN : static_cast<float>(sum) * d);
  }
}

void quantize_row_q8_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    std::memset(b[i].qs, 0, sizeof b[i].qs);
    std::memset(b[i].bsums, 0, sizeof b[i].bsums);
    if (!all_finite(x, kQK_K)) {
      b[i].d = NAN;
      continue;
    }
    const float amax = abs_max(x, kQK_K);
    if (amax == 0) {
      b[i].d = 0;
      continue;
    }
    int j = 0;  // the first element of largest magnitude sets the sign, as in ref/
    while (std::fabs(x[j]) != amax) ++j;
    const float iscale = -127.f / x[j];
    const int32x4_t cap = vdupq_n_s32(127);
    for (int k = 0; k < kQK_K / 16; ++k) {
      int32x4_t q[4];
      for (int l = 0; l < 4; ++l)
        q[l] = vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 16 * k + 4 * l), iscale)), cap);
      const int8x16_t codes = narrow_i32x16_to_i8(q[0], q[1], q[2], q[3]);
      vst1q_s8(b[i].qs + 16 * k, codes);
      b[i].bsums[k] = vaddlvq_s8(codes);
    }
    b[i].d = 1 / iscale;
  }
}

}  // namespace st::neon
