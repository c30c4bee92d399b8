// Plain C++ reference kernels: the readable definition of every tensor type, and the twin
// that each SIMD kernel is tested against. Signatures are those of kernel_table.h; gemv and
// gemm come from the loops in row_loops.h over vec_dot.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/kernel_table.h"

namespace st::ref {

void dequantize_row_f32(const void* src, float* dst, int64_t n);
void dequantize_row_f16(const void* src, float* dst, int64_t n);
void dequantize_row_bf16(const void* src, float* dst, int64_t n);
void dequantize_row_q4_0(const void* src, float* dst, int64_t n);
void dequantize_row_q4_1(const void* src, float* dst, int64_t n);
void dequantize_row_q5_0(const void* src, float* dst, int64_t n);
void dequantize_row_q5_1(const void* src, float* dst, int64_t n);
void dequantize_row_q8_0(const void* src, float* dst, int64_t n);
void dequantize_row_q8_1(const void* src, float* dst, int64_t n);
void dequantize_row_q2_k(const void* src, float* dst, int64_t n);
void dequantize_row_q3_k(const void* src, float* dst, int64_t n);
void dequantize_row_q4_k(const void* src, float* dst, int64_t n);
void dequantize_row_q5_k(const void* src, float* dst, int64_t n);
void dequantize_row_q6_k(const void* src, float* dst, int64_t n);
void dequantize_row_q8_k(const void* src, float* dst, int64_t n);
void dequantize_row_iq4_nl(const void* src, float* dst, int64_t n);
void dequantize_row_iq4_xs(const void* src, float* dst, int64_t n);
void dequantize_row_iq2_xxs(const void* src, float* dst, int64_t n);
void dequantize_row_iq2_xs(const void* src, float* dst, int64_t n);
void dequantize_row_iq2_s(const void* src, float* dst, int64_t n);
void dequantize_row_iq3_xxs(const void* src, float* dst, int64_t n);
void dequantize_row_iq3_s(const void* src, float* dst, int64_t n);
void dequantize_row_iq1_s(const void* src, float* dst, int64_t n);
void dequantize_row_iq1_m(const void* src, float* dst, int64_t n);

void quantize_row_f32(const float* src, void* dst, int64_t n);
void quantize_row_f16(const float* src, void* dst, int64_t n);
void quantize_row_bf16(const float* src, void* dst, int64_t n);
void quantize_row_q4_0(const float* src, void* dst, int64_t n);
void quantize_row_q4_1(const float* src, void* dst, int64_t n);
void quantize_row_q5_0(const float* src, void* dst, int64_t n);
void quantize_row_q5_1(const float* src, void* dst, int64_t n);
void quantize_row_q8_0(const float* src, void* dst, int64_t n);
void quantize_row_q8_1(const float* src, void* dst, int64_t n);
void quantize_row_q2_k(const float* src, void* dst, int64_t n);
void quantize_row_q3_k(const float* src, void* dst, int64_t n);
void quantize_row_q4_k(const float* src, void* dst, int64_t n);
void quantize_row_q5_k(const float* src, void* dst, int64_t n);
void quantize_row_q6_k(const float* src, void* dst, int64_t n);
void quantize_row_q8_k(const float* src, void* dst, int64_t n);
void quantize_row_iq4_nl(const float* src, void* dst, int64_t n);
void quantize_row_iq4_xs(const float* src, void* dst, int64_t n);

float vec_dot_f32(int64_t n, const void* w_row, const void* act_row);   // act: F32
float vec_dot_f16(int64_t n, const void* w_row, const void* act_row);   // act: F16
float vec_dot_bf16(int64_t n, const void* w_row, const void* act_row);  // act: BF16
float vec_dot_q4_0(int64_t n, const void* w_row, const void* act_row);  // act: Q8_0
float vec_dot_q4_1(int64_t n, const void* w_row, const void* act_row);  // act: Q8_1
float vec_dot_q5_0(int64_t n, const void* w_row, const void* act_row);  // act: Q8_0
float vec_dot_q5_1(int64_t n, const void* w_row, const void* act_row);  // act: Q8_1
float vec_dot_q8_0(int64_t n, const void* w_row, const void* act_row);  // act: Q8_0
float vec_dot_q2_k(int64_t n, const void* w_row, const void* act_row);  // act: Q8_K
float vec_dot_q3_k(int64_t n, const void* w_row, const void* act_row);  // act: Q8_K
float vec_dot_q4_k(int64_t n, const void* w_row, const void* act_row);  // act: Q8_K
float vec_dot_q5_k(int64_t n, const void* w_row, const void* act_row);  // act: Q8_K
float vec_dot_q6_k(int64_t n, const void* w_row, const void* act_row);  // act: Q8_K
float vec_dot_iq4_nl(int64_t n, const void* w_row, const void* act_row);  // act: Q8_0
float vec_dot_iq4_xs(int64_t n, const void* w_row, const void* act_row);  // act: Q8_K
// The grid i-quants (ref/iq_quants.cpp): dequantization and dot only (no quantizer yet). act: Q8_K
float vec_dot_iq2_xxs(int64_t n, const void* w_row, const void* act_row);
float vec_dot_iq2_xs(int64_t n, const void* w_row, const void* act_row);
float vec_dot_iq2_s(int64_t n, const void* w_row, const void* act_row);
float vec_dot_iq3_xxs(int64_t n, const void* w_row, const void* act_row);
float vec_dot_iq3_s(int64_t n, const void* w_row, const void* act_row);
float vec_dot_iq1_s(int64_t n, const void* w_row, const void* act_row);
float vec_dot_iq1_m(int64_t n, const void* w_row, const void* act_row);

// Attention's loops over float rows (DotRowsFn, AxpyRowsFn in kernel_table.h) for F32 / F16 /
// BF16 tables (ref/float_rows.cpp).
void set_float_rows(KernelTable& t);

// Neuron bundles' column groups (NeuronColumnsFn; ref/neuron_columns.cpp) and the memory
// read of the bandwidth probe (IsaKernels::read_all; ref/memory_read.cpp).
void neuron_columns_group(TensorType type, const uint8_t* scales, const uint8_t* codes, size_t col_stride,
                          const int8_t* qa, float da, const int32_t* js, int n_js, int64_t h0, int64_t h1, float* acc,
                          float* out);
uint64_t read_all(const void* p, size_t n);

}  // namespace st::ref
