// Declarations of the AVX2 kernels that have their own files (the block formats' gemv/gemm
// are BlockKernels instances in registry.cpp); registry.cpp puts them into the tables. Signatures as in kernel_table.h.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/kernel_table.h"

namespace st::avx2 {

float vec_dot_f32(int64_t n, const void* w_row, const void* act_row);
void gemv_f32(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y);
void gemm_f32(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
              int64_t n_tok, float* y, int64_t ldy);
float vec_dot_f16(int64_t n, const void* w_row, const void* act_row);
void gemv_f16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y);
void gemm_f16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
              int64_t n_tok, float* y, int64_t ldy);
float vec_dot_bf16(int64_t n, const void* w_row, const void* act_row);
void gemv_bf16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y);
void gemm_bf16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
               int64_t n_tok, float* y, int64_t ldy);
float vec_dot_q2_k(int64_t n, const void* w_row, const void* act_row);
void gemv_q2_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y);
void gemm_q2_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
               int64_t n_tok, float* y, int64_t ldy);
float vec_dot_q3_k(int64_t n, const void* w_row, const void* act_row);
void gemv_q3_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y);
void gemm_q3_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
               int64_t n_tok, float* y, int64_t ldy);
float vec_dot_iq4_xs(int64_t n, const void* w_row, const void* act_row);
void gemv_iq4_xs(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y);
void gemm_iq4_xs(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
                 int64_t n_tok, float* y, int64_t ldy);
// The grid i-quants (avx2/iq_grid.cpp).
float vec_dot_iq2_xs(int64_t n, const void* w_row, const void* act_row);
void gemv_iq2_xs(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y);
void gemm_iq2_xs(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
                 int64_t n_tok, float* y, int64_t ldy);
float vec_dot_iq3_s(int64_t n, const void* w_row, const void* act_row);
void gemv_iq3_s(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y);
void gemm_iq3_s(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
                int64_t n_tok, float* y, int64_t ldy);
float vec_dot_q4_k(int64_t n, const void* w_row, const void* act_row);
void gemv_q4_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y);
void gemm_q4_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
               int64_t n_tok, float* y, int64_t ldy);
float vec_dot_q5_k(int64_t n, const void* w_row, const void* act_row);
void gemv_q5_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y);
void gemm_q5_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
               int64_t n_tok, float* y, int64_t ldy);
float vec_dot_q6_k(int64_t n, const void* w_row, const void* act_row);
void gemv_q6_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y);
void gemm_q6_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
               int64_t n_tok, float* y, int64_t ldy);

// Float rows and activation quantizers (bit-identical to ref/).
// Attention's loops over float rows (float_rows_impl.h) for F32 / F16 / BF16 tables.
void set_float_rows(KernelTable& t);
void dequantize_row_f16(const void* src, float* dst, int64_t n);
void quantize_row_f16(const float* src, void* dst, int64_t n);
void dequantize_row_bf16(const void* src, float* dst, int64_t n);
void quantize_row_bf16(const float* src, void* dst, int64_t n);
void quantize_row_q8_0(const float* src, void* dst, int64_t n);
void quantize_row_q8_1(const float* src, void* dst, int64_t n);
void quantize_row_q8_k(const float* src, void* dst, int64_t n);

// Listed file-layout rows x a few tokens (KernelTable::gemm_rows; avx2/row_list.cpp).
void gemm_rows_q4_0(int64_t n, const void* w, size_t w_row_bytes, const int32_t* rows, int64_t n_rows, const void* act,
                    size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy);
void gemm_rows_q8_0(int64_t n, const void* w, size_t w_row_bytes, const int32_t* rows, int64_t n_rows, const void* act,
                    size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy);

// Row-group layout products and packers (kernels/row_groups.h; avx2/row_groups.cpp).
void gemm_groups_pair_q4_0(int64_t n, const void* wa, const void* wb, size_t w_row_bytes, int64_t n_rows,
                           const void* act, const int32_t* act_sums, float* ya, float* yb);
void gemm_groups_pair_q8_0(int64_t n, const void* wa, const void* wb, size_t w_row_bytes, int64_t n_rows,
                           const void* act, const int32_t* act_sums, float* ya, float* yb);
void gemm_groups_q4_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy);
void gemm_groups_q8_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy);
// Q4_K on the row-group layout (avx2/row_groups_q4_k.cpp): Q8_K activations, act_sums unused.
void gemm_groups_q4_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy);
// Q2_K on the row-group layout (avx2/row_groups_q2_k.cpp): Q8_K activations, act_sums unused.
void gemm_groups_q2_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy);
// Q3_K on the row-group layout (avx2/row_groups_q3_k.cpp): Q8_K activations, act_sums unused.
void gemm_groups_q3_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy);
// Q5_K on the row-group layout (avx2/row_groups_q4_k.cpp, with Q4_K).
void gemm_groups_q5_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy);
void gemm_groups_q6_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy);
void pack_groups_q4_k(const uint8_t* rows, int64_t n_rows, int64_t n_cols, uint8_t* groups);
void pack_groups_q5_k(const uint8_t* rows, int64_t n_rows, int64_t n_cols, uint8_t* groups);
void pack_groups_q4_0(const uint8_t* rows, int64_t n_rows, int64_t n_cols, uint8_t* groups);
void pack_groups_q8_0(const uint8_t* rows, int64_t n_rows, int64_t n_cols, uint8_t* groups);

}  // namespace st::avx2
