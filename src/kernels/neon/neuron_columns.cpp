// NEON (ARMv8.0) sparse down product over neuron bundles' columns (kernels/neuron_bundles.h;
// NeuronColumnsFn in kernel_table.h). Unlike the x86 kernels, which add integer-valued floats, the
// products are summed in integer lanes: the per-output block sums are the scalar kernel's exact
// integers, and the final scaling is the same float multiply then add, so the result equals the
// scalar kernel bit for bit. neuron_columns_dotprod.cpp holds the SDOT version; both share
// neuron_columns_scale_out.
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "formats/tensor_type.h"

namespace st::neon {

// out[i] += float(isum[i] - zero_term) * (scale[h + i] * da) for the 32 * n_chunks outputs from
// h (isum as 4-lane vectors in output order): what the scalar kernel computes per output.
void neuron_columns_scale_out(const uint8_t* scales, int64_t h, int n_chunks, float da, int32_t zero_term,
                              const int32x4_t* isum, float* out) {
  const int32x4_t zero = vdupq_n_s32(zero_term);
  for (int i = 0; i < 8 * n_chunks; i += 2) {
    // Outputs 4i .. 4i + 7; the scales are 2-byte fields at an even offset, so they are
    // loaded as bytes (no alignment assumed).
    const float16x8_t d = vreinterpretq_f16_u8(vld1q_u8(scales + 2 * (h + 4 * i)));
    const float32x4_t s0 = vmulq_n_f32(vcvt_f32_f16(vget_low_f16(d)), da);
    const float32x4_t s1 = vmulq_n_f32(vcvt_high_f32_f16(d), da);
    float* o = out + 4 * i;
    vst1q_f32(o, vaddq_f32(vld1q_f32(o), vmulq_f32(vcvtq_f32_s32(vsubq_s32(isum[i], zero)), s0)));
    vst1q_f32(o + 4, vaddq_f32(vld1q_f32(o + 4), vmulq_f32(vcvtq_f32_s32(vsubq_s32(isum[i + 1], zero)), s1)));
  }
}

namespace {

// Q4_0, 32 * C outputs from h: each active neuron's 16 * C code bytes hold outputs (i, i + 16)
// of each chunk of 32 as (low, high) nibble. The unsigned nibbles (the codes + 8) times the
// int8 activation go into int16 lanes (|product| <= 15 * 128, so 16 of them fit), which are
// widened into the int32 sums every 16 neurons; the +8 is removed once by the caller.
template <int C>
void q4_block(const uint8_t* codes, size_t cb, const int8_t* qa, const int32_t* js, int n_js, int64_t h,
              int32x4_t isum[8 * C]) {
  int16x8_t part[4 * C];
  for (int p = 0; p < 8 * C; ++p) isum[p] = vdupq_n_s32(0);
  for (int p = 0; p < 4 * C; ++p) part[p] = vdupq_n_s16(0);
  const uint8x16_t low4 = vdupq_n_u8(0x0F);
  for (int k = 0; k < n_js; ++k) {
    const int8x16_t a16 = vdupq_n_s8(qa[js[k]]);
    const int8x8_t a8 = vget_low_s8(a16);
    const uint8_t* col = codes + static_cast<size_t>(js[k]) * cb + static_cast<size_t>(h / 2);
    for (int c = 0; c < C; ++c) {
      const uint8x16_t b = vld1q_u8(col + 16 * c);
      const int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(b, low4));  // outputs 32c + 0..15
      const int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(b, 4));   // outputs 32c + 16..31
      part[4 * c] = vmlal_s8(part[4 * c], vget_low_s8(lo), a8);
      part[4 * c + 1] = vmlal_high_s8(part[4 * c + 1], lo, a16);
      part[4 * c + 2] = vmlal_s8(part[4 * c + 2], vget_low_s8(hi), a8);
      part[4 * c + 3] = vmlal_high_s8(part[4 * c + 3], hi, a16);
    }
    if (k % 16 == 15 || k + 1 == n_js) {
      for (int p = 0; p < 4 * C; ++p) {  // part[p] holds outputs 8p .. 8p + 7
        isum[2 * p] = vaddw_s16(isum[2 * p], vget_low_s16(part[p]));
        isum[2 * p + 1] = vaddw_high_s16(isum[2 * p + 1], part[p]);
        part[p] = vdupq_n_s16(0);
      }
    }
  }
}

// Q8_0, 32 * C outputs from h: int8 x int8 products (|p| <= 16384, two may not fit int16)
// widened into the int32 sums one neuron at a time.
template <int C>
void q8_block(const uint8_t* codes, size_t cb, const int8_t* qa, const int32_t* js, int n_js, int64_t h,
              int32x4_t isum[8 * C]) {
  for (int p = 0; p < 8 * C; ++p) isum[p] = vdupq_n_s32(0);
  for (int k = 0; k < n_js; ++k) {
    const int8x16_t a16 = vdupq_n_s8(qa[js[k]]);
    const int8x8_t a8 = vget_low_s8(a16);
    const auto* col = reinterpret_cast<const int8_t*>(codes + static_cast<size_t>(js[k]) * cb + static_cast<size_t>(h));
    for (int q = 0; q < 2 * C; ++q) {
      const int8x16_t b = vld1q_s8(col + 16 * q);
      const int16x8_t p_lo = vmull_s8(vget_low_s8(b), a8), p_hi = vmull_high_s8(b, a16);
      isum[4 * q] = vaddw_s16(isum[4 * q], vget_low_s16(p_lo));
      isum[4 * q + 1] = vaddw_high_s16(isum[4 * q + 1], p_lo);
      isum[4 * q + 2] = vaddw_s16(isum[4 * q + 2], vget_low_s16(p_hi));
      isum[4 * q + 3] = vaddw_high_s16(isum[4 * q + 3], p_hi);
    }
  }
}

}  // namespace

// The group product of one 32-neuron group for outputs [h0, h1) (multiples of 32): 64 outputs
// at a time with the sums in registers (every active neuron reads 32 or 64 contiguous bytes of
// its column per block), then a 32-output tail.
void neuron_columns_group(TensorType type, const uint8_t* scales, const uint8_t* codes, size_t cb, const int8_t* qa,
                          float da, const int32_t* js, int n_js, int64_t h0, int64_t h1, float* /*acc*/, float* out) {
  const bool q4 = type == TensorType::Q4_0;
  int32_t zero_term = 0;
  if (q4)
    for (int k = 0; k < n_js; ++k) zero_term += 8 * qa[js[k]];
  int64_t h = h0;
  for (; h + 64 <= h1; h += 64) {
    int32x4_t isum[16];
    if (q4) q4_block<2>(codes, cb, qa, js, n_js, h, isum);
    else q8_block<2>(codes, cb, qa, js, n_js, h, isum);
    neuron_columns_scale_out(scales, h, 2, da, zero_term, isum, out + (h - h0));
  }
  if (h < h1) {
    int32x4_t isum[8];
    if (q4) q4_block<1>(codes, cb, qa, js, n_js, h, isum);
    else q8_block<1>(codes, cb, qa, js, n_js, h, isum);
    neuron_columns_scale_out(scales, h, 1, da, zero_term, isum, out + (h - h0));
  }
}

}  // namespace st::neon
