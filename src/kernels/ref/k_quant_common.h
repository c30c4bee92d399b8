// Pieces shared by the Q4_K and Q5_K reference code: both split a 256-element super-block into
// 8 sub-blocks of 32 with a 6-bit scale and a 6-bit min each, under fp16 d and dmin.
#pragma once
#include <cstdint>

namespace st::ref {

// Inverse of unpack_scale_min_k4 (blocks.h): stores sub-block j's 6-bit scale and min.
void pack_scale_min_k4(int j, int sc, int m, uint8_t* scales);

// Quantizes one super-block to codes L[256] in [0, nmax] with value d*sc[j]*L - dmin*m[j].
// Each sub-block gets a weighted scale/min search (weights favour large |x|, as ggml's do),
// then the scales and mins are themselves quantized to 6 bits and the codes recomputed
// against the rounded values. A non-finite super-block yields d = dmin = NaN, zero codes.
void quantize_superblock_scale_min(const float* x, int nmax, float rmin, float rdelta, int nstep, uint8_t* L,
                                   uint8_t* scales, uint16_t* d, uint16_t* dmin);

}  // namespace st::ref
