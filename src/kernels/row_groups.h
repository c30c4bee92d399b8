// "Row groups": a load-time re-layout of Q4_0 and Q8_0 weight matrices for the products that
// dominate decode. In the file each row's blocks are contiguous, so a SIMD kernel multiplies
// one row at a time and must reduce every block's partial sums horizontally and gather its
// scale: more instructions than the memory traffic can hide. Here 16 consecutive rows are
// interleaved block by block so that one 512-bit vector holds 4 bytes of each of the 16 rows
// and one vpdpbusd puts each row's products into its own lane: no horizontal reduction, one
// scale vector per block, and the weight vectors are reused for every token of a small batch.
//
// Layout (same size as the file's, bit-exact weights): for each group of 16 rows, for each
// 32-element block b, kGroupBlockBytes(type) bytes:
//   - 16 fp16 scales (row 0..15 of block b), 32 bytes;
//   - the codes in 4-byte chunks, chunk k of every row together: byte 64*k + 4*r + i is byte
//     4*k + i of row r's codes. Q4_0: the block's 16 code bytes (4 chunks; element j in the
//     low nibble of byte j, element j+16 in the high one, as in the file). Q8_0: the 32 codes
//     stored biased as u8 (code + 128, i.e. xor 0x80), 8 chunks, so u8 x s8 products apply.
// Q4_K (256-element super-blocks, 144 bytes per row) the same way, 2304 bytes per group and
// super-block: 16 fp16 d (32 bytes), 16 fp16 dmin (32 bytes), then the row's 12 scale bytes
// and 128 code bytes as 35 chunks of 4 bytes (chunks 0-2 the scales, 3-34 the codes), chunk k
// of every row together in 64 bytes. Q5_K the same way, 2816 bytes: d, dmin, then 43 chunks:
// the scales (0-2), qh (3-10) and qs (11-42). Q6_K likewise, 3360 bytes: 16 fp16 d (its last field in
// the file), then 52 chunks: ql (0-31), qh (32-47), the 16 int8 scales (48-51). Q3_K, 1760
// bytes: 16 fp16 d (also last in the file), then 27 chunks: hmask (0-7), qs (8-23), scales (24-26).
// Q2_K, 1344 bytes: 16 fp16 d, 16 fp16 dmin (last in the file), then 20 chunks: the scale/min
// bytes (0-3) and qs (4-19). Kernels for
// K-quants take Q8_K activations (bsums give the mins' and offsets' terms) and ignore act_sums.
// A group's bytes are the 16 rows' bytes in the file; matrices whose row count is not a
// multiple of 16 stay in the file layout.
#pragma once
#include <cstddef>
#include <cstdint>

#include "formats/tensor_type.h"
#include "kernels/kernel_table.h"

namespace st {

inline constexpr int kGroupRows = 16;

// True when the active ISA has a row-group kernel for `type` and n_rows is a multiple of 16.
bool row_groups_supported(TensorType type, int64_t n_rows);
// The same for a given ISA (tests).
bool row_groups_supported(TensorType type, int64_t n_rows, Isa isa);

// rows (file layout, n_rows x row bytes of n_cols) -> groups (same size); n_rows % 16 == 0.
// Uses the active ISA's pack_groups where there is one.
void pack_row_groups(TensorType type, const uint8_t* rows, int64_t n_rows, int64_t n_cols, uint8_t* groups);
// The plain C++ version (tests compare the SIMD ones with it).
void pack_row_groups_ref(TensorType type, const uint8_t* rows, int64_t n_rows, int64_t n_cols, uint8_t* groups);
// The inverse.
void unpack_row_groups(TensorType type, const uint8_t* groups, int64_t n_rows, int64_t n_cols, uint8_t* rows);

// Plain C++ product on the packed layout with the GemmGroupsFn contract (kernel_table.h,
// act_sums unused): the oracle the SIMD kernels are tested against (same integer block sums,
// then scale; results equal vec_dot's within float summation order).
void gemm_row_groups_ref(TensorType type, int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                         const void* act, size_t act_row_bytes, int64_t n_tok, float* y, int64_t ldy);

// Sums of each Q8_0 block's 32 codes, for GemmGroupsFn's act_sums: sums[b] for one row.
void q8_0_block_sums(const void* act_row, int64_t n, int32_t* sums);

}  // namespace st
