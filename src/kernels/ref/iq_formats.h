// The i-quant formats of ggml (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M): block
// layouts and codebooks. Every one splits a 256-element super-block into 8 sub-blocks of 32 and
// each sub-block into groups of 8 (IQ3: two grid points of 4) that are one point of a fixed grid
// of magnitudes, given signs separately (IQ2/IQ3) or a shared offset (IQ1). A scale per
// sub-block (or per half) multiplies an fp16 super-block scale.
//
// Values, with d the fp16 super-block scale and g a grid byte:
//   IQ2_XXS, IQ2_XS, IQ2_S: d * (0.5 + s) * 0.25 * g * sign   (4-bit s)
//   IQ3_XXS:                d * (0.5 + s) * 0.5  * g * sign
//   IQ3_S:                  d * (1 + 2s)         * g * sign
//   IQ1_S, IQ1_M:           d * (2s + 1) * (g + delta)        (3-bit s, g in {-1, 0, 1}, delta = +-1/8)
// The dot partner of all of them is Q8_K.
#pragma once
#include <cstdint>
#include <cstring>

namespace st {

// Sub-block ib's 8 bytes are two little-endian u32: the first holds the grid indices of its 4
// groups (one byte each); the second holds 7-bit sign indices (bits 7l..7l+6 for group l, see
// iq_signs) and the scale s in bits 28-31.
struct BlockIQ2_XXS {
  uint16_t d;
  uint16_t qs[32];
};
// qs[4ib + l]: grid index (9 bits) | sign index << 9. scales[ib]: low nibble for groups 0-1,
// high nibble for groups 2-3.
struct BlockIQ2_XS {
  uint16_t d;
  uint16_t qs[32];
  uint8_t scales[8];
};
// qs[4ib + l] = low 8 bits of group l's grid index; its bits 8-9 sit in bits 2l..2l+1 of qh[ib].
// signs[4ib + l]: one bit per element (bit k = element k). Scales as IQ2_XS.
struct BlockIQ2_S {
  uint16_t d;
  uint8_t qs[32];
  uint8_t signs[32];
  uint8_t qh[8];
  uint8_t scales[8];
};
// qs[8ib + k]: grid index of elements 4k..4k+3 of sub-block ib. scales_signs[4ib..4ib+3] (u32 LE):
// 7-bit sign index of group l (8 elements) in bits 7l..7l+6, scale s in bits 28-31.
struct BlockIQ3_XXS {
  uint16_t d;
  uint8_t qs[64];
  uint8_t scales_signs[32];
};
// Grid index of elements 4k..4k+3 of sub-block ib = qs[8ib + k] | (bit k of qh[ib]) << 8.
// signs[4ib + l]: bit k = element 8l + k. scales[ib / 2]: nibble ib % 2.
struct BlockIQ3_S {
  uint16_t d;
  uint8_t qs[64];
  uint8_t qh[8];
  uint8_t signs[32];
  uint8_t scales[4];
};
// Group l of sub-block ib: grid index qs[4ib + l] | ((qh[ib] >> 3l) & 7) << 8; scale s in bits
// 12-14 of qh[ib], the sign of delta in bit 15 (set: -1/8).
struct BlockIQ1_S {
  uint16_t d;
  uint8_t qs[32];
  uint16_t qh[8];
};
// Group l of sub-block ib: grid index qs[4ib + l] | (nibble l % 2 of qh[2ib + l / 2] & 7) << 8;
// bit 3 of that nibble is the sign of delta. The scales as four u16 words w[0..3]: sub-block
// ib's 3-bit scales sit at bits 6(ib % 2) (groups 0-1) and 6(ib % 2) + 3 (groups 2-3) of
// w[ib / 2]; the fp16 super-block scale is the top nibbles of w[0], w[1], w[2], w[3] (low to high).
struct BlockIQ1_M {
  uint8_t qs[32];
  uint8_t qh[16];
  uint8_t scales[8];
};

static_assert(sizeof(BlockIQ2_XXS) == 66 && sizeof(BlockIQ2_XS) == 74 && sizeof(BlockIQ2_S) == 82 &&
              sizeof(BlockIQ3_XXS) == 98 && sizeof(BlockIQ3_S) == 110 && sizeof(BlockIQ1_S) == 50 &&
              sizeof(BlockIQ1_M) == 56);

// Grids (ref/iq_grids.cpp): entry i, byte k = element k of grid point i.
extern const uint64_t kIq2xxsGrid[256];
extern const uint64_t kIq2xsGrid[512];
extern const uint64_t kIq2sGrid[1024];
extern const uint32_t kIq3xxsGrid[256];
extern const uint32_t kIq3sGrid[512];
extern const uint64_t kIq1sGrid[2048];  // bytes are int8 in {-1, 0, 1}

namespace {  // internal linkage: included from TUs built with different -m flags

// IQ2_XXS/IQ2_XS/IQ3_XXS store 7 sign bits per group of 8; the eighth makes the number of
// minus signs even (the quantizer guarantees it), so it is the parity of the other seven.
inline uint8_t iq_signs(uint32_t index7) {
  const uint32_t i = index7 & 127;
  return static_cast<uint8_t>(i | ((__builtin_popcount(i) & 1u) << 7));
}

inline uint32_t iq_load_u32(const void* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline uint16_t iq_load_u16(const void* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// Byte k of a grid entry.
inline int iq_grid_byte(uint64_t entry, int k) { return static_cast<int>((entry >> (8 * k)) & 0xFF); }
inline int iq1_grid_value(uint64_t entry, int k) { return static_cast<int8_t>((entry >> (8 * k)) & 0xFF); }

// The fp16 bits of an IQ1_M super-block scale.
inline uint16_t iq1_m_scale_bits(const BlockIQ1_M& b) {
  uint16_t w[4];
  std::memcpy(w, b.scales, sizeof w);
  return static_cast<uint16_t>((w[0] >> 12) | ((w[1] >> 8) & 0x00F0) | ((w[2] >> 4) & 0x0F00) | (w[3] & 0xF000));
}

}  // namespace

}  // namespace st
