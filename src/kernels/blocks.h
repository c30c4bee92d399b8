// ggml's block layouts (little-endian, fp16 = IEEE half stored as raw bits). These are file
// formats: field order and sizes must not change. Each struct has the alignment of its widest
// field (2, or 4 for BlockQ8_K), so row pointers handed to kernels must be aligned to that;
// GGUF tensor data is 32-byte aligned and every row is a whole number of blocks, so they are.
// SIMD code reads blocks through byte pointers and unaligned loads only.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace st {

inline constexpr int kQK = 32;           // elements per block of the 32-element formats
inline constexpr int kQK_K = 256;        // elements per K-quant super-block
inline constexpr int kKScaleBytes = 12;  // packed 6-bit scales+mins of Q4_K/Q5_K

// value = (q - 8) * d; element j in the low nibble of qs[j], element j+16 in its high nibble.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK / 2];
};
// value = q * d + m
struct BlockQ4_1 {
  uint16_t d, m;
  uint8_t qs[kQK / 2];
};
// value = (q - 16) * d; the 5th bit of element j is bit j of qh (read as little-endian u32).
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
// value = q * d + m
struct BlockQ5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
// value = q * d
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};
// Activation partner of Q4_1/Q5_1: s = d * sum(qs), rounded to fp16, carries the min term.
struct BlockQ8_1 {
  uint16_t d, s;
  int8_t qs[kQK];
};

// 8 sub-blocks of 32: value = d*sc[j]*q - dmin*m[j], sc/m 6-bit packed in `scales`.
struct BlockQ4_K {
  uint16_t d, dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qs[kQK_K / 2];
};
// As Q4_K with a 5th bit per element in qh.
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
// 16 sub-blocks of 16: value = d * scales[j] * (q - 32), q = 4 low bits (ql) + 2 high bits (qh).
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};
// 16 sub-blocks of 16: value = d*(scales[j] & 15)*q - dmin*(scales[j] >> 4), q 2-bit. Element
// 128h + 32k + l keeps q in bits 2k..2k+1 of qs[32h + l]; its sub-block is element / 16.
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];
  uint16_t d, dmin;
};
// 16 sub-blocks of 16: value = d * (sc[j] - 32) * (q - 4), q = 2 low bits (qs, placed as in
// Q2_K) + a high bit: bit (element / 32) of hmask[element % 32]. The 6-bit sc[j] keep their
// low 4 bits in scales[j % 8] (nibble j / 8) and their top 2 bits in bits 2(j/4).. of
// scales[8 + j % 4] (unpack_scales_q3_k).
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[12];
  uint16_t d;
};
// Non-linear 4-bit: value = d * kIq4nlValues[nibble]; nibbles placed as in Q4_0.
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[kQK / 2];
};
// Super-block of 8 IQ4_NL-coded sub-blocks of 32: value = d * (ls[j] - 32) * kIq4nlValues[nibble];
// the 6-bit ls[j] = nibble j%2 of scales_l[j/2] | bits 2j..2j+1 of scales_h << 4. Sub-block j's
// 16 code bytes follow Q4_0's nibble order.
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[kQK_K / 64];
  uint8_t qs[kQK_K / 2];
};

// Activation partner of the K-quants: value = q * d; bsums[j] = sum of qs[16j .. 16j+15].
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
              sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34 && sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 &&
              sizeof(BlockQ8_K) == 292);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockIQ4_NL) == 18 &&
              sizeof(BlockIQ4_XS) == 136);

// The 16 values of the IQ4_NL / IQ4_XS codes (format data: a non-uniform grid denser near 0).
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

namespace {  // internal linkage: included from TUs built with different -m flags

// Scale and min j (0..7) of a Q4_K/Q5_K super-block: j < 4 sit in the low 6 bits of bytes j
// and j+4; j >= 4 take 4 low bits from byte j+4 and their top 2 bits from bytes j-4 / j.
inline void unpack_scale_min_k4(int j, const uint8_t* scales, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = scales[j] & 63;
    *m = scales[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

// All 8 scales and mins of a Q4_K/Q5_K super-block at once (same result as 8 calls of
// unpack_scale_min_k4), with whole-word masks: bytes 0-3 and 4-7 give scales and mins 0-3
// from their low 6 bits, bytes 8-11 the low nibbles of 4-7, and the top 2 bits of bytes
// 0-7 complete scales and mins 4-7.
inline void unpack_scales_mins_k4(const uint8_t* scales, uint8_t sc[8], uint8_t m[8]) {
  uint32_t w[3];
  std::memcpy(w, scales, sizeof w);
  const uint32_t sc_lo = w[0] & 0x3f3f3f3fu, m_lo = w[1] & 0x3f3f3f3fu;
  const uint32_t sc_hi = (w[2] & 0x0f0f0f0fu) | (((w[0] >> 6) & 0x03030303u) << 4);
  const uint32_t m_hi = ((w[2] >> 4) & 0x0f0f0f0fu) | (((w[1] >> 6) & 0x03030303u) << 4);
  std::memcpy(sc, &sc_lo, 4);
  std::memcpy(sc + 4, &sc_hi, 4);
  std::memcpy(m, &m_lo, 4);
  std::memcpy(m + 4, &m_hi, 4);
}

// Scale j (0..15) of a Q3_K super-block with its offset removed (sc - 32, in -32..31).
inline int q3_k_scale(const uint8_t* scales, int j) {
  return (((scales[j % 8] >> (4 * (j / 8))) & 0xF) | (((scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
}

// All 16 at once (same result as q3_k_scale), with whole-word masks: the low nibbles of bytes
// 0-7 are scales 0-7 and their high nibbles 8-15; byte 8 + i holds the top 2 bits of scales i,
// i + 4, i + 8, i + 12 at bits 0, 2, 4, 6.
inline void unpack_scales_q3_k(const uint8_t* scales, int8_t out[16]) {
  uint32_t w[3];
  std::memcpy(w, scales, sizeof w);
  const uint32_t m4 = 0x0F0F0F0Fu, m2 = 0x03030303u;
  const uint32_t o[4] = {(w[0] & m4) | ((w[2] & m2) << 4), (w[1] & m4) | (((w[2] >> 2) & m2) << 4),
                         ((w[0] >> 4) & m4) | (((w[2] >> 4) & m2) << 4), ((w[1] >> 4) & m4) | (((w[2] >> 6) & m2) << 4)};
  uint8_t u[16];
  std::memcpy(u, o, sizeof u);
  for (int j = 0; j < 16; ++j) out[j] = static_cast<int8_t>(u[j] - 32);
}

// Scale j (0..7) of an IQ4_XS super-block (`block` at its first byte) with its offset removed.
inline int iq4_xs_scale(const uint8_t* block, int j) {
  const int hi = (block[2] | (block[3] << 8)) >> (2 * j);
  return (((block[4 + j / 2] >> (4 * (j % 2))) & 0xF) | ((hi & 3) << 4)) - 32;
}

// The 8 sub-block scales of an IQ4_XS super-block with their offset removed (ls - 32).
inline void unpack_scales_iq4_xs(const uint8_t* block, int8_t out[8]) {
  for (int j = 0; j < 8; ++j) out[j] = static_cast<int8_t>(iq4_xs_scale(block, j));
}

}  // namespace

}  // namespace st
