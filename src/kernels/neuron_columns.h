// "Neuron columns": an expert's down matrix re-laid so that each ReGLU neuron's weights are
// contiguous, for sparse ReGLU. down is [n_out rows x n_ff], blocks running along n_ff (one
// block = 32 neurons), so in the file one neuron's weights are scattered over every row. Most
// ReGLU neurons are exactly zero for a given token; with this layout the down product reads
// and multiplies only the active neurons' columns.
//
// The layout keeps the weights bit-exact (no requantization) and the same size:
//  - Q4_0 / Q8_0: per group of 32 neurons: the n_out fp16 block scales of that group, then
//    for each of the 32 neurons its n_out codes (Q4_0: n_out/2 bytes, element h of a chunk of
//    32 in the low nibble of byte h, element h+16 in its high nibble, like a Q4_0 block;
//    Q8_0: n_out int8).
//  - F32 / F16 / BF16: the transpose (one row of n_out values per neuron).
// Products follow the dense kernels' arithmetic: the activation row is in the type's
// vec_dot_type (Q8_0 for the quantized types), integer products are summed exactly per
// 32-neuron block and scaled by (weight scale x activation scale), so a sparse result differs
// from the dense gemv only by the order of float additions.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "formats/tensor_type.h"
#include "kernels/kernel_table.h"

namespace st {

bool neuron_columns_supported(TensorType type, int64_t n_out, int64_t n_ff);

// rows: [n_out][row bytes of n_ff elements] (the file's layout) -> cols (same size).
void rows_to_neuron_columns(TensorType type, const uint8_t* rows, int64_t n_out, int64_t n_ff, uint8_t* cols);
// The inverse (tests, and a dense product where one is wanted).
void neuron_columns_to_rows(TensorType type, const uint8_t* cols, int64_t n_out, int64_t n_ff, uint8_t* rows);

// out[h - h0] = sum over the neurons j in `active` (ascending) of W[h][j] * act_j for h in
// [h0, h1); act_row is one activation row of n_ff elements in the type's vec_dot_type.
// h0 and h1 must be multiples of 32 (or h1 == n_out). Neurons whose quantized activation is 0
// contribute nothing and may be listed or not.
void neuron_columns_down(TensorType type, const uint8_t* cols, int64_t n_out, int64_t n_ff, const void* act_row,
                         std::span<const int32_t> active, int64_t h0, int64_t h1, float* out);

// The same with a given ISA's kernel (tests compare every ISA with Isa::scalar). Throws if the
// ISA is not usable on this CPU.
void neuron_columns_down_isa(Isa isa, TensorType type, const uint8_t* cols, int64_t n_out, int64_t n_ff,
                             const void* act_row, std::span<const int32_t> active, int64_t h0, int64_t h1, float* out);

}  // namespace st
