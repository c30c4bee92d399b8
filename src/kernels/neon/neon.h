// ARM NEON kernels (aarch64). registry.cpp fills the plain-NEON entries (ARMv8.0 Advanced
// SIMD, every aarch64 CPU); integer_dotprod.cpp, compiled with +dotprod, replaces the integer dot
// kernels with SDOT versions and is only reached when dispatch.cpp saw HWCAP_ASIMDDP.
#pragma once
#include "kernels/kernel_table.h"

namespace st::neon {

void override_kernels(KernelTable& t);          // plain NEON, on top of ref/
void override_kernels_dotprod(KernelTable& t);  // SDOT, on top of override_kernels

// Neuron bundles' column groups (NeuronColumnsFn: neuron_columns.cpp) and the bandwidth
// probe's reads (IsaKernels::read_all: memory_read.cpp).
void neuron_columns_group(TensorType type, const uint8_t* scales, const uint8_t* codes, size_t col_stride,
                          const int8_t* qa, float da, const int32_t* js, int n_js, int64_t h0, int64_t h1, float* acc,
                          float* out);
uint64_t read_all(const void* p, size_t n);
// SDOT (neuron_columns_dotprod.cpp): only for Isa::neon_dotprod, i.e. after HWCAP_ASIMDDP.
void neuron_columns_group_dotprod(TensorType type, const uint8_t* scales, const uint8_t* codes, size_t col_stride,
                                  const int8_t* qa, float da, const int32_t* js, int n_js, int64_t h0, int64_t h1,
                                  float* acc, float* out);

// dequantize_row of the low-bit types of published files (Q2_K, Q3_K, IQ4_NL, IQ4_XS; other
// types untouched): dequantize.cpp, bit-exact with ref/.
void set_low_bit_dequantize(KernelTable& t);

// Row-group products (kernels/row_groups.h) of Q4_0 / Q8_0 / Q4_K tables, other types
// untouched: row_groups.cpp (plain NEON, with the packers) and row_groups_dotprod.cpp (SDOT).
void set_row_group_kernels(KernelTable& t);
void set_row_group_kernels_dotprod(KernelTable& t);

// Q4_K's (GemmGroupsFn with Q8_K activations; act_sums unused): row_groups_q4_k.cpp (plain
// NEON, and the packer) and row_groups_q4_k_dotprod.cpp (SDOT).
void gemm_groups_q4_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy);
void gemm_groups_q4_k_dotprod(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                              size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy);
void pack_groups_q4_k(const uint8_t* rows, int64_t n_rows, int64_t n_cols, uint8_t* groups);

}  // namespace st::neon
