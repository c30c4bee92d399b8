// The sparse down product over neuron columns with SDOT (ARMv8.2 dotprod; this file alone is
// built with +dotprod, and neuron_columns.cpp only calls it for Isa::neon_dotprod, which
// dispatch.cpp grants after seeing HWCAP_ASIMDDP).
//
// SDOT adds 4 adjacent byte products into each int32 lane, but a neuron column holds one
// neuron's codes for consecutive outputs. So the active neurons go in fours: the 16-byte pieces
// of their 4 columns are interleaved (two zip levels) so that each 4 bytes hold the 4 neurons'
// codes for one output, and one SDOT with the 4 activations repeated adds 4 neurons x 4
// outputs. A last incomplete four is padded with a zero activation. Sums are exact int32, as
// in the plain kernel, and the scaling is the plain kernel's (neuron_columns_scale_out), so the
// result is the scalar kernel's bit for bit.
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "formats/tensor_type.h"

namespace st::neon {

void neuron_columns_scale_out(const uint8_t* scales, int64_t h, int n_chunks, float da, int32_t zero_term,
                              const int32x4_t* isum, float* out);

namespace {

// The interleave: from 16 bytes of each of 4 columns (c0..c3), out[q] holds bytes 4q .. 4q+3
// of every column as (c0, c1, c2, c3) per byte position, i.e. positions 4q .. 4q + 3.
inline void interleave4(uint8x16_t c0, uint8x16_t c1, uint8x16_t c2, uint8x16_t c3, uint8x16_t out[4]) {
  const uint16x8_t p01_lo = vreinterpretq_u16_u8(vzip1q_u8(c0, c1)), p01_hi = vreinterpretq_u16_u8(vzip2q_u8(c0, c1));
  const uint16x8_t p23_lo = vreinterpretq_u16_u8(vzip1q_u8(c2, c3)), p23_hi = vreinterpretq_u16_u8(vzip2q_u8(c2, c3));
  out[0] = vreinterpretq_u8_u16(vzip1q_u16(p01_lo, p23_lo));
  out[1] = vreinterpretq_u8_u16(vzip2q_u16(p01_lo, p23_lo));
  out[2] = vreinterpretq_u8_u16(vzip1q_u16(p01_hi, p23_hi));
  out[3] = vreinterpretq_u8_u16(vzip2q_u16(p01_hi, p23_hi));
}

// 32 * C outputs from h: isum[p] holds outputs 4p .. 4p + 3. col[] are the (padded) active
// columns already offset to the type's byte for h; act4[f] the f-th four's activations.
template <bool kQ4, int C>
void block(const uint8_t* const* col, const int8x16_t* act4, int n_fours, int32x4_t isum[8 * C]) {
  for (int p = 0; p < 8 * C; ++p) isum[p] = vdupq_n_s32(0);
  const uint8x16_t low4 = vdupq_n_u8(0x0F);
  for (int f = 0; f < n_fours; ++f) {
    const uint8_t* const* c4 = col + 4 * f;
    const int8x16_t a = act4[f];
    if constexpr (kQ4) {
      for (int c = 0; c < C; ++c) {  // 16 bytes = outputs (i, i + 16) of chunk c, i < 16
        uint8x16_t w[4];
        interleave4(vld1q_u8(c4[0] + 16 * c), vld1q_u8(c4[1] + 16 * c), vld1q_u8(c4[2] + 16 * c),
                    vld1q_u8(c4[3] + 16 * c), w);
        for (int q = 0; q < 4; ++q) {
          isum[8 * c + q] = vdotq_s32(isum[8 * c + q], vreinterpretq_s8_u8(vandq_u8(w[q], low4)), a);
          isum[8 * c + 4 + q] = vdotq_s32(isum[8 * c + 4 + q], vreinterpretq_s8_u8(vshrq_n_u8(w[q], 4)), a);
        }
      }
    } else {
      for (int s = 0; s < 2 * C; ++s) {  // 16 outputs at a time
        uint8x16_t w[4];
        interleave4(vld1q_u8(c4[0] + 16 * s), vld1q_u8(c4[1] + 16 * s), vld1q_u8(c4[2] + 16 * s),
                    vld1q_u8(c4[3] + 16 * s), w);
        for (int q = 0; q < 4; ++q) isum[4 * s + q] = vdotq_s32(isum[4 * s + q], vreinterpretq_s8_u8(w[q]), a);
      }
    }
  }
}

}  // namespace

void neuron_columns_group_dotprod(TensorType type, const uint8_t* scales, const uint8_t* codes, size_t cb,
                                  const int8_t* qa, float da, const int32_t* js, int n_js, int64_t h0, int64_t h1,
                                  float* /*acc*/, float* out) {
  const bool q4 = type == TensorType::Q4_0;
  const int n_fours = (n_js + 3) / 4;
  // Column starts and activations, padded to whole fours with neuron js[0] at activation 0.
  const uint8_t* col0[32];
  int8_t a[32];
  int32_t zero_term = 0;
  for (int k = 0; k < 4 * n_fours; ++k) {
    const int32_t j = k < n_js ? js[k] : js[0];
    col0[k] = codes + static_cast<size_t>(j) * cb;
    a[k] = k < n_js ? qa[j] : 0;
    zero_term += q4 ? 8 * a[k] : 0;  // Q4_0 nibbles are the codes + 8
  }
  int8x16_t act4[8];
  for (int f = 0; f < n_fours; ++f) {
    int32_t packed;
    std::memcpy(&packed, a + 4 * f, 4);
    act4[f] = vreinterpretq_s8_s32(vdupq_n_s32(packed));
  }
  const uint8_t* col[32];
  auto set_cols = [&](int64_t h) {
    const size_t off = static_cast<size_t>(q4 ? h / 2 : h);
    for (int k = 0; k < 4 * n_fours; ++k) col[k] = col0[k] + off;
  };
  int64_t h = h0;
  for (; h + 64 <= h1; h += 64) {
    int32x4_t isum[16];
    set_cols(h);
    if (q4) block<true, 2>(col, act4, n_fours, isum);
    else block<false, 2>(col, act4, n_fours, isum);
    neuron_columns_scale_out(scales, h, 2, da, zero_term, isum, out + (h - h0));
  }
  if (h < h1) {
    int32x4_t isum[8];
    set_cols(h);
    if (q4) block<true, 1>(col, act4, n_fours, isum);
    else block<false, 1>(col, act4, n_fours, isum);
    neuron_columns_scale_out(scales, h, 1, da, zero_term, isum, out + (h - h0));
  }
}

}  // namespace st::neon
