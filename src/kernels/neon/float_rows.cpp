// F32, F16 and BF16 with plain NEON: dots accumulate in four f32 vectors per token (16
// elements per step), conversions are FCVTL/FCVTN for fp16 (bit-identical to float_convert.h, NaNs
// included, under Linux's default FPCR) and integer shifts with round-to-nearest-even for
// bf16. gemm runs four tokens per weight-row pass (util.h's gemm_by_multi).
#include <arm_neon.h>

#include <cstring>

#include "kernels/blocks.h"
#include "kernels/float_convert.h"
#include "kernels/float_rows_impl.h"
#include "kernels/neon/float_rows.h"
#include "kernels/neon/util.h"

namespace st::neon {
namespace {

struct LoadF32 {
  static float32x4_t load4(const void* p, int64_t i) { return vld1q_f32(static_cast<const float*>(p) + i); }
  static float load1(const void* p, int64_t i) { return static_cast<const float*>(p)[i]; }
};
struct LoadF16 {
  static float32x4_t load4(const void* p, int64_t i) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(static_cast<const uint16_t*>(p) + i)));
  }
  static float load1(const void* p, int64_t i) { return fp16_to_fp32(static_cast<const uint16_t*>(p)[i]); }
};
struct LoadBF16 {
  static float32x4_t load4(const void* p, int64_t i) {
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(static_cast<const uint16_t*>(p) + i), 16));
  }
  static float load1(const void* p, int64_t i) { return bf16_to_fp32(static_cast<const uint16_t*>(p)[i]); }
};

// Every float product sums in float_dot's order whatever the batch (four accumulators 16
// elements apart, then 4-element steps, their sum, then the scalar tail), so a token's result
// does not depend on how many tokens shared the pass: the server's prefix cache evaluates a
// prompt's last token again alone and must get the batch's logits.
template <class L, int T>
void float_dots(int64_t n, const uint8_t* w, const void* const* act, float* out) {
  float32x4_t acc[T][4];
  for (auto& a : acc)
    for (auto& v : a) v = vdupq_n_f32(0);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 4; ++k) {
      const float32x4_t wv = L::load4(w, i + 4 * k);
      for (int t = 0; t < T; ++t) acc[t][k] = vfmaq_f32(acc[t][k], wv, L::load4(act[t], i + 4 * k));
    }
  for (; i + 4 <= n; i += 4) {
    const float32x4_t wv = L::load4(w, i);
    for (int t = 0; t < T; ++t) acc[t][0] = vfmaq_f32(acc[t][0], wv, L::load4(act[t], i));
  }
  for (int t = 0; t < T; ++t) {
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc[t][0], acc[t][1]), vaddq_f32(acc[t][2], acc[t][3])));
    for (int64_t j = i; j < n; ++j) sum += L::load1(w, j) * L::load1(act[t], j);
    out[t] = sum;
  }
}

template <class L>
float float_dot(int64_t n, const void* w, const void* a) {
  const void* act[1] = {a};
  float y;
  float_dots<L, 1>(n, static_cast<const uint8_t*>(w), act, &y);
  return y;
}

// MultiDotFn forms for gemm: one token, or four sharing each weight load.
template <class L>
void float_dot1(int64_t n, const uint8_t* w, const uint8_t* const* act, float* out) {
  const void* a[1] = {act[0]};
  float_dots<L, 1>(n, w, a, out);
}

template <class L>
void float_dot4(int64_t n, const uint8_t* w, const uint8_t* const* act, float* out) {
  const void* a[4] = {act[0], act[1], act[2], act[3]};
  float_dots<L, 4>(n, w, a, out);
}

struct V4 {  // the vector policy of float_rows_impl.h
  using vec = float32x4_t;
  static constexpr int64_t W = 4;
  static vec zero() { return vdupq_n_f32(0); }
  static vec load(const float* p) { return vld1q_f32(p); }
  static void store(float* p, vec v) { vst1q_f32(p, v); }
  static vec fma(vec a, vec b, vec c) { return vfmaq_f32(c, a, b); }
  static vec broadcast(float f) { return vdupq_n_f32(f); }
  static void reduce4(vec a, vec b, vec c, vec d, float* out) {
    vst1q_f32(out, vpaddq_f32(vpaddq_f32(a, b), vpaddq_f32(c, d)));
  }
};

// K/V cache blocks, 4 elements per load (never across a block): codes as f32, the block's
// scale apart (float_rows_impl.h's *_blocks loops). The 4 code bytes are copied out so no load
// reads past a block.
inline int32x4_t widen4_s8(const int8_t* q) {
  int32_t w;
  std::memcpy(&w, q, 4);
  return vmovl_s16(vget_low_s16(vmovl_s8(vreinterpret_s8_s32(vdup_n_s32(w)))));
}
inline uint32x4_t widen4_u8(const uint8_t* q) {
  uint32_t w;
  std::memcpy(&w, q, 4);
  return vmovl_u16(vget_low_u16(vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(w)))));
}
struct RowsQ8_0 {
  static float32x4_t codes(const void* row, int64_t i) {
    return vcvtq_f32_s32(widen4_s8(static_cast<const BlockQ8_0*>(row)[i / kQK].qs + i % kQK));
  }
  static float scale(const void* row, int64_t i) { return fp16_to_fp32(static_cast<const BlockQ8_0*>(row)[i / kQK].d); }
};
struct RowsQ4_0 {  // elements 0..15: low nibbles of qs[0..15]; 16..31: the high ones
  static float32x4_t codes(const void* row, int64_t i) {
    const BlockQ4_0& b = static_cast<const BlockQ4_0*>(row)[i / kQK];
    const int64_t j = i % kQK;
    const uint32x4_t bytes = widen4_u8(b.qs + j % (kQK / 2));
    const uint32x4_t nib = j < kQK / 2 ? vandq_u32(bytes, vdupq_n_u32(0x0F)) : vshrq_n_u32(bytes, 4);
    return vcvtq_f32_s32(vsubq_s32(vreinterpretq_s32_u32(nib), vdupq_n_s32(8)));
  }
  static float scale(const void* row, int64_t i) { return fp16_to_fp32(static_cast<const BlockQ4_0*>(row)[i / kQK].d); }
};

template <class L>
struct Rows {
  static float32x4_t load(const void* row, int64_t i) { return L::load4(row, i); }
  static float load1(const void* row, int64_t i) { return L::load1(row, i); }
};

}  // namespace

void gemm_f32(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
              int64_t n_tok, float* y, int64_t ldy) {
  gemm_by_multi<float_dot1<LoadF32>, float_dot4<LoadF32>>(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy);
}
void gemm_f16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
              int64_t n_tok, float* y, int64_t ldy) {
  gemm_by_multi<float_dot1<LoadF16>, float_dot4<LoadF16>>(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy);
}
void gemm_bf16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
               int64_t n_tok, float* y, int64_t ldy) {
  gemm_by_multi<float_dot1<LoadBF16>, float_dot4<LoadBF16>>(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y,
                                                            ldy);
}

float vec_dot_f32(int64_t n, const void* w_row, const void* act_row) { return float_dot<LoadF32>(n, w_row, act_row); }
float vec_dot_f16(int64_t n, const void* w_row, const void* act_row) { return float_dot<LoadF16>(n, w_row, act_row); }
float vec_dot_bf16(int64_t n, const void* w_row, const void* act_row) {
  return float_dot<LoadBF16>(n, w_row, act_row);
}

void dequantize_row_f16(const void* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, LoadF16::load4(src, i));
  for (; i < n; ++i) dst[i] = LoadF16::load1(src, i);
}

void quantize_row_f16(const float* src, void* dst, int64_t n) {
  auto* out = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1_u16(out + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(src + i))));
  for (; i < n; ++i) out[i] = fp32_to_fp16(src[i]);
}

void dequantize_row_bf16(const void* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, LoadBF16::load4(src, i));
  for (; i < n; ++i) dst[i] = LoadBF16::load1(src, i);
}

// As fp32_to_bf16: x + 0x7fff + (bit 16 of x), top half; NaN keeps its top bits, made quiet.
void quantize_row_bf16(const float* src, void* dst, int64_t n) {
  auto* out = static_cast<uint16_t*>(dst);
  const uint32x4_t abs_mask = vdupq_n_u32(0x7fffffffu), inf = vdupq_n_u32(0x7f800000u);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const uint32x4_t x = vreinterpretq_u32_f32(vld1q_f32(src + i));
    const uint32x4_t rounded =
        vaddq_u32(vaddq_u32(x, vdupq_n_u32(0x7fffu)), vandq_u32(vshrq_n_u32(x, 16), vdupq_n_u32(1)));
    const uint32x4_t nan = vorrq_u32(x, vdupq_n_u32(0x400000u));  // quiet bit (bit 6 of the bf16)
    const uint32x4_t is_nan = vcgtq_u32(vandq_u32(x, abs_mask), inf);
    vst1_u16(out + i, vshrn_n_u32(vbslq_u32(is_nan, nan, rounded), 16));
  }
  for (; i < n; ++i) out[i] = fp32_to_bf16(src[i]);
}

void set_float_rows(KernelTable& t) {
  switch (t.type) {
    case TensorType::F32:
      t.dot_rows = float_rows::dot_rows<V4, Rows<LoadF32>>;
      t.axpy_rows = float_rows::axpy_rows<V4, Rows<LoadF32>>;
      break;
    case TensorType::F16:
      t.dot_rows = float_rows::dot_rows<V4, Rows<LoadF16>>;
      t.axpy_rows = float_rows::axpy_rows<V4, Rows<LoadF16>>;
      break;
    case TensorType::BF16:
      t.dot_rows = float_rows::dot_rows<V4, Rows<LoadBF16>>;
      t.axpy_rows = float_rows::axpy_rows<V4, Rows<LoadBF16>>;
      break;
    case TensorType::Q8_0:
      t.dot_rows = float_rows::dot_rows_blocks<V4, RowsQ8_0>;
      t.axpy_rows = float_rows::axpy_rows_blocks<V4, RowsQ8_0>;
      break;
    case TensorType::Q4_0:
      t.dot_rows = float_rows::dot_rows_blocks<V4, RowsQ4_0>;
      t.axpy_rows = float_rows::axpy_rows_blocks<V4, RowsQ4_0>;
      break;
    default: break;
  }
}

}  // namespace st::neon
