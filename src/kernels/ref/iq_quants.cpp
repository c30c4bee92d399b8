// Reference dequantization and Q8_K dot products of the grid i-quants (IQ2_XXS, IQ2_XS, IQ2_S,
// IQ3_XXS, IQ3_S, IQ1_S, IQ1_M; formats in ref/iq_formats.h). Each type has a decoder that turns
// one super-block into signed grid values v[256] plus, per group of 8 elements, the raw scale
// field s and (IQ1) the sign of the offset delta. Dequantization and the dot product are then one
// generic loop each, parameterised by the type's scale rule, so the two cannot disagree on the
// format, and the dot stays in integers up to one float multiply per super-block.
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/float_convert.h"
#include "kernels/ref/iq_formats.h"
#include "kernels/ref/ref.h"

namespace st::ref {
namespace {

constexpr int kGroups = kQK_K / 8;

struct Decoded {
  float d = 0;                // super-block scale
  int8_t v[kQK_K];            // grid value with its sign (IQ2/IQ3) or grid value in {-1,0,1} (IQ1)
  uint8_t s[kGroups];         // raw scale field of each group of 8
  int8_t delta_sign[kGroups]; // IQ1 only: +1 / -1
};

// How a scale field becomes a multiplier (see iq_formats.h). The dot works with the integer
// 2s + 1 and one final factor.
enum class ScaleRule { quarter, half, odd, iq1 };

void put_signed_group(Decoded& out, int g, uint64_t grid_entry, uint8_t signs) {
  for (int k = 0; k < 8; ++k) {
    const int m = iq_grid_byte(grid_entry, k);
    out.v[8 * g + k] = static_cast<int8_t>((signs >> k) & 1 ? -m : m);
  }
}

void decode_iq2_xxs(const void* p, Decoded& out) {
  const auto& b = *static_cast<const BlockIQ2_XXS*>(p);
  out.d = fp16_to_fp32(b.d);
  for (int ib = 0; ib < 8; ++ib) {
    const uint32_t idx = iq_load_u32(&b.qs[4 * ib]), aux = iq_load_u32(&b.qs[4 * ib + 2]);
    for (int l = 0; l < 4; ++l) {
      put_signed_group(out, 4 * ib + l, kIq2xxsGrid[(idx >> (8 * l)) & 0xFF], iq_signs(aux >> (7 * l)));
      out.s[4 * ib + l] = static_cast<uint8_t>(aux >> 28);
    }
  }
}

void decode_iq2_xs(const void* p, Decoded& out) {
  const auto& b = *static_cast<const BlockIQ2_XS*>(p);
  out.d = fp16_to_fp32(b.d);
  for (int g = 0; g < kGroups; ++g) {
    const uint16_t q = b.qs[g];
    put_signed_group(out, g, kIq2xsGrid[q & 511], iq_signs(q >> 9));
    out.s[g] = static_cast<uint8_t>((b.scales[g / 4] >> (4 * ((g % 4) / 2))) & 0xF);
  }
}

void decode_iq2_s(const void* p, Decoded& out) {
  const auto& b = *static_cast<const BlockIQ2_S*>(p);
  out.d = fp16_to_fp32(b.d);
  for (int g = 0; g < kGroups; ++g) {
    const int high = (b.qh[g / 4] >> (2 * (g % 4))) & 3;
    put_signed_group(out, g, kIq2sGrid[b.qs[g] | (high << 8)], b.signs[g]);
    out.s[g] = static_cast<uint8_t>((b.scales[g / 4] >> (4 * ((g % 4) / 2))) & 0xF);
  }
}

// IQ3 groups of 8 are two grid points of 4: the second point's bytes become bytes 4-7.
uint64_t iq3_pair(uint32_t first, uint32_t second) { return first | (static_cast<uint64_t>(second) << 32); }

void decode_iq3_xxs(const void* p, Decoded& out) {
  const auto& b = *static_cast<const BlockIQ3_XXS*>(p);
  out.d = fp16_to_fp32(b.d);
  for (int ib = 0; ib < 8; ++ib) {
    const uint32_t aux = iq_load_u32(b.scales_signs + 4 * ib);
    for (int l = 0; l < 4; ++l) {
      const uint8_t* q = b.qs + 8 * ib + 2 * l;
      put_signed_group(out, 4 * ib + l, iq3_pair(kIq3xxsGrid[q[0]], kIq3xxsGrid[q[1]]), iq_signs(aux >> (7 * l)));
      out.s[4 * ib + l] = static_cast<uint8_t>(aux >> 28);
    }
  }
}

void decode_iq3_s(const void* p, Decoded& out) {
  const auto& b = *static_cast<const BlockIQ3_S*>(p);
  out.d = fp16_to_fp32(b.d);
  for (int g = 0; g < kGroups; ++g) {
    const int ib = g / 4, k0 = 2 * (g % 4);  // grid points k0 and k0 + 1 of sub-block ib
    const int i0 = b.qs[8 * ib + k0] | (((b.qh[ib] >> k0) & 1) << 8);
    const int i1 = b.qs[8 * ib + k0 + 1] | (((b.qh[ib] >> (k0 + 1)) & 1) << 8);
    put_signed_group(out, g, iq3_pair(kIq3sGrid[i0], kIq3sGrid[i1]), b.signs[g]);
    out.s[g] = static_cast<uint8_t>((b.scales[ib / 2] >> (4 * (ib % 2))) & 0xF);
  }
}

void put_iq1_group(Decoded& out, int g, int index, int s, bool negative_delta) {
  for (int k = 0; k < 8; ++k) out.v[8 * g + k] = static_cast<int8_t>(iq1_grid_value(kIq1sGrid[index], k));
  out.s[g] = static_cast<uint8_t>(s);
  out.delta_sign[g] = negative_delta ? -1 : 1;
}

void decode_iq1_s(const void* p, Decoded& out) {
  const auto& b = *static_cast<const BlockIQ1_S*>(p);
  out.d = fp16_to_fp32(b.d);
  for (int g = 0; g < kGroups; ++g) {
    const uint16_t qh = b.qh[g / 4];
    const int l = g % 4;
    put_iq1_group(out, g, b.qs[g] | (((qh >> (3 * l)) & 7) << 8), (qh >> 12) & 7, (qh & 0x8000) != 0);
  }
}

void decode_iq1_m(const void* p, Decoded& out) {
  const auto& b = *static_cast<const BlockIQ1_M*>(p);
  out.d = fp16_to_fp32(iq1_m_scale_bits(b));
  for (int g = 0; g < kGroups; ++g) {
    const int ib = g / 4, l = g % 4;
    const int nibble = (b.qh[2 * ib + l / 2] >> (4 * (l % 2))) & 0xF;
    const uint16_t w = iq_load_u16(b.scales + 2 * (ib / 2));
    const int s = (w >> (6 * (ib % 2) + 3 * (l / 2))) & 7;
    put_iq1_group(out, g, b.qs[g] | ((nibble & 7) << 8), s, (nibble & 8) != 0);
  }
}

using DecodeFn = void (*)(const void*, Decoded&);

// Written as ggml's dequantizers order their float operations, so results are bit-exact.
float group_scale(ScaleRule rule, float d, int s) {
  switch (rule) {
    case ScaleRule::quarter: return d * (0.5f + static_cast<float>(s)) * 0.25f;
    case ScaleRule::half: return d * (0.5f + static_cast<float>(s)) * 0.5f;
    case ScaleRule::odd:
    case ScaleRule::iq1: return d * static_cast<float>(1 + 2 * s);
  }
  return 0;
}

template <DecodeFn Decode, ScaleRule Rule, size_t BlockBytes>
void dequantize_iq(const void* src, float* dst, int64_t n) {
  const auto* bytes = static_cast<const uint8_t*>(src);
  Decoded dec;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    Decode(bytes + i * BlockBytes, dec);
    float* y = dst + i * kQK_K;
    for (int g = 0; g < kGroups; ++g) {
      const float dl = group_scale(Rule, dec.d, dec.s[g]);
      if constexpr (Rule == ScaleRule::iq1) {
        const float delta = dec.delta_sign[g] < 0 ? -0.125f : 0.125f;
        for (int k = 0; k < 8; ++k) y[8 * g + k] = dl * (static_cast<float>(dec.v[8 * g + k]) + delta);
      } else {
        for (int k = 0; k < 8; ++k) y[8 * g + k] = dl * static_cast<float>(dec.v[8 * g + k]);
      }
    }
  }
}

// Value = d * (2s + 1) * v * factor (IQ1: d * (2s + 1) * (8v +- 1) / 8), so the super-block's
// integer sum is scaled once.
template <DecodeFn Decode, ScaleRule Rule, size_t BlockBytes>
float vec_dot_iq(int64_t n, const void* w_row, const void* act_row) {
  constexpr float kFactor = Rule == ScaleRule::quarter ? 0.125f
                            : Rule == ScaleRule::half  ? 0.25f
                            : Rule == ScaleRule::odd   ? 1.f
                                                       : 0.125f;
  const auto* w = static_cast<const uint8_t*>(w_row);
  const auto* a = static_cast<const BlockQ8_K*>(act_row);
  Decoded dec;
  float sum = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    Decode(w + i * BlockBytes, dec);
    int64_t sumi = 0;
    for (int g = 0; g < kGroups; ++g) {
      int dot = 0, qsum = 0;  // qsum: only IQ1's delta needs it
      for (int k = 0; k < 8; ++k) {
        dot += dec.v[8 * g + k] * a[i].qs[8 * g + k];
        qsum += a[i].qs[8 * g + k];
      }
      int group = dot;
      if constexpr (Rule == ScaleRule::iq1) group = 8 * dot + dec.delta_sign[g] * qsum;
      sumi += static_cast<int64_t>(2 * dec.s[g] + 1) * group;
    }
    sum += dec.d * a[i].d * kFactor * static_cast<float>(sumi);
  }
  return sum;
}

}  // namespace

void dequantize_row_iq2_xxs(const void* s, float* d, int64_t n) {
  dequantize_iq<decode_iq2_xxs, ScaleRule::quarter, sizeof(BlockIQ2_XXS)>(s, d, n);
}
void dequantize_row_iq2_xs(const void* s, float* d, int64_t n) {
  dequantize_iq<decode_iq2_xs, ScaleRule::quarter, sizeof(BlockIQ2_XS)>(s, d, n);
}
void dequantize_row_iq2_s(const void* s, float* d, int64_t n) {
  dequantize_iq<decode_iq2_s, ScaleRule::quarter, sizeof(BlockIQ2_S)>(s, d, n);
}
void dequantize_row_iq3_xxs(const void* s, float* d, int64_t n) {
  dequantize_iq<decode_iq3_xxs, ScaleRule::half, sizeof(BlockIQ3_XXS)>(s, d, n);
}
void dequantize_row_iq3_s(const void* s, float* d, int64_t n) {
  dequantize_iq<decode_iq3_s, ScaleRule::odd, sizeof(BlockIQ3_S)>(s, d, n);
}
void dequantize_row_iq1_s(const void* s, float* d, int64_t n) {
  dequantize_iq<decode_iq1_s, ScaleRule::iq1, sizeof(BlockIQ1_S)>(s, d, n);
}
void dequantize_row_iq1_m(const void* s, float* d, int64_t n) {
  dequantize_iq<decode_iq1_m, ScaleRule::iq1, sizeof(BlockIQ1_M)>(s, d, n);
}

float vec_dot_iq2_xxs(int64_t n, const void* w, const void* a) {
  return vec_dot_iq<decode_iq2_xxs, ScaleRule::quarter, sizeof(BlockIQ2_XXS)>(n, w, a);
}
float vec_dot_iq2_xs(int64_t n, const void* w, const void* a) {
  return vec_dot_iq<decode_iq2_xs, ScaleRule::quarter, sizeof(BlockIQ2_XS)>(n, w, a);
}
float vec_dot_iq2_s(int64_t n, const void* w, const void* a) {
  return vec_dot_iq<decode_iq2_s, ScaleRule::quarter, sizeof(BlockIQ2_S)>(n, w, a);
}
float vec_dot_iq3_xxs(int64_t n, const void* w, const void* a) {
  return vec_dot_iq<decode_iq3_xxs, ScaleRule::half, sizeof(BlockIQ3_XXS)>(n, w, a);
}
float vec_dot_iq3_s(int64_t n, const void* w, const void* a) {
  return vec_dot_iq<decode_iq3_s, ScaleRule::odd, sizeof(BlockIQ3_S)>(n, w, a);
}
float vec_dot_iq1_s(int64_t n, const void* w, const void* a) {
  return vec_dot_iq<decode_iq1_s, ScaleRule::iq1, sizeof(BlockIQ1_S)>(n, w, a);
}
float vec_dot_iq1_m(int64_t n, const void* w, const void* a) {
  return vec_dot_iq<decode_iq1_m, ScaleRule::iq1, sizeof(BlockIQ1_M)>(n, w, a);
}

}  // namespace st::ref
