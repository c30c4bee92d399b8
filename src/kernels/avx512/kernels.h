// Declarations of the AVX-512 VNNI kernels that have their own files (the block formats'
// gemv/gemm are BlockKernels instances in registry.cpp); registry.cpp puts them into the
// tables on top of the AVX2 ones. Signatures as in kernel_table.h.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/kernel_table.h"

namespace st::avx512 {

void gemm_q2_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
               int64_t n_tok, float* y, int64_t ldy);
void gemm_q3_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
               int64_t n_tok, float* y, int64_t ldy);
void gemm_iq4_xs(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                 size_t act_row_bytes, int64_t n_tok, float* y, int64_t ldy);
void gemm_q4_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
               int64_t n_tok, float* y, int64_t ldy);
void gemm_q5_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
               int64_t n_tok, float* y, int64_t ldy);
void gemm_q6_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
               int64_t n_tok, float* y, int64_t ldy);

// Row-group layout (kernels/row_groups.h), GemmGroupsFn contract.
void gemm_groups_q4_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy);
void gemm_groups_q8_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy);

// Listed rows in the file's layout (GemmRowsFn contract; avx512/row_list.cpp).
void gemm_rows_q4_0(int64_t n, const void* w, size_t w_row_bytes, const int32_t* rows, int64_t n_rows, const void* act,
                    size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy);
void gemm_rows_q8_0(int64_t n, const void* w, size_t w_row_bytes, const int32_t* rows, int64_t n_rows, const void* act,
                    size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy);

// Attention's loops over float rows (float_rows_impl.h) for F32 / F16 / BF16 tables.
void set_float_rows(KernelTable& t);

void gemm_groups_pair_q4_0(int64_t n, const void* wa, const void* wb, size_t w_row_bytes, int64_t n_rows,
                           const void* act, const int32_t* act_sums, float* ya, float* yb);
void gemm_groups_pair_q8_0(int64_t n, const void* wa, const void* wb, size_t w_row_bytes, int64_t n_rows,
                           const void* act, const int32_t* act_sums, float* ya, float* yb);

// Q4_K on the row-group layout (avx512/row_groups_q4_k.cpp): Q8_K activations, act_sums unused.
void gemm_groups_q4_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy);
// Q2_K on the row-group layout (avx512/row_groups_q2_k.cpp): Q8_K activations, act_sums unused.
void gemm_groups_q2_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy);
// Q3_K on the row-group layout (avx512/row_groups_q3_k.cpp): Q8_K activations, act_sums unused.
void gemm_groups_q3_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy);
// Q6_K on the row-group layout (avx512/row_groups_q6_k.cpp): Q8_K activations, act_sums unused.
void gemm_groups_q6_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy);
}  // namespace st::avx512
