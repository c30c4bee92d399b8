// The plain-NEON float kernels (float_rows.cpp) and activation quantizers (quantize.cpp);
// registry.cpp puts them into the tables. Signatures as in kernel_table.h.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/kernel_table.h"

namespace st::neon {

float vec_dot_f32(int64_t n, const void* w_row, const void* act_row);
float vec_dot_f16(int64_t n, const void* w_row, const void* act_row);
float vec_dot_bf16(int64_t n, const void* w_row, const void* act_row);
void gemm_f32(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
              int64_t n_tok, float* y, int64_t ldy);
void gemm_f16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
              int64_t n_tok, float* y, int64_t ldy);
void gemm_bf16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
               int64_t n_tok, float* y, int64_t ldy);

// Attention's loops over float rows (float_rows_impl.h) for F32 / F16 / BF16 tables.
void set_float_rows(KernelTable& t);

void dequantize_row_f16(const void* src, float* dst, int64_t n);
void quantize_row_f16(const float* src, void* dst, int64_t n);
void dequantize_row_bf16(const void* src, float* dst, int64_t n);
void quantize_row_bf16(const float* src, void* dst, int64_t n);

// Activation quantizers, bit-identical to ref/.
void quantize_row_q8_0(const float* src, void* dst, int64_t n);
void quantize_row_q8_1(const float* src, void* dst, int64_t n);
void quantize_row_q8_k(const float* src, void* dst, int64_t n);

}  // namespace st::neon
