#include "kernels/row_groups.h"

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/float_convert.h"

namespace st {
namespace {

// Where a row's block lands in the packed layout (row_groups.h): `halves` fp16 fields (d, and
// dmin for Q4_K) become 16-row vectors of 32 bytes each, then the block's other bytes go as
// `chunks` 4-byte chunks, chunk k of the 16 rows together in 64 bytes.
struct GroupShape {
  int block_elems;   // elements per block (32, or 256 for the K-quants)
  int block_bytes;   // the block's bytes in the file
  int halves;        // fp16 fields, leading in the file (Q4_0, Q8_0, Q4_K) ...
  bool halves_last;  // ... or trailing (Q6_K's d)
  int chunks;        // 4-byte chunks: the rest of the block
  uint8_t bias;      // xor applied to the chunks in the packed layout

  int file_half(int h) const { return halves_last ? 4 * chunks + 2 * h : 2 * h; }
  int file_chunks() const { return halves_last ? 0 : 2 * halves; }
};

GroupShape group_shape(TensorType type) {
  if (type == TensorType::Q4_0) return {kQK, static_cast<int>(sizeof(BlockQ4_0)), 1, false, 4, 0};
  if (type == TensorType::Q8_0) return {kQK, static_cast<int>(sizeof(BlockQ8_0)), 1, false, 8, 0x80};
  if (type == TensorType::Q4_K) return {kQK_K, static_cast<int>(sizeof(BlockQ4_K)), 2, false, 35, 0};
  if (type == TensorType::Q5_K) return {kQK_K, static_cast<int>(sizeof(BlockQ5_K)), 2, false, 43, 0};
  if (type == TensorType::Q6_K) return {kQK_K, static_cast<int>(sizeof(BlockQ6_K)), 1, true, 52, 0};
  if (type == TensorType::Q2_K) return {kQK_K, static_cast<int>(sizeof(BlockQ2_K)), 2, true, 20, 0};
  if (type == TensorType::Q3_K) return {kQK_K, static_cast<int>(sizeof(BlockQ3_K)), 1, true, 27, 0};
  throw std::invalid_argument(std::string("row groups: no layout for type ") + std::string(tensor_type_name(type)));
}

void check_rows(const GroupShape& s, int64_t n_rows, int64_t n_cols) {
  if (n_rows % kGroupRows != 0 || n_cols % s.block_elems != 0)
    throw std::invalid_argument("row groups: " + std::to_string(n_rows) + " x " + std::to_string(n_cols) +
                                " is not whole groups of 16 rows and " + std::to_string(s.block_elems) +
                                "-element blocks");
}

// Calls f(row_block, packed_block, r, shape) for every (group, block, row), in the packed
// layout's order (its writes, or reads, are sequential): the one place that knows where a
// row's block lands, shared by pack and unpack.
template <class F>
void for_each_block(TensorType type, int64_t n_rows, int64_t n_cols, F&& f) {
  const GroupShape s = group_shape(type);
  check_rows(s, n_rows, n_cols);
  const int64_t nb = n_cols / s.block_elems;
  const size_t row_bytes = static_cast<size_t>(nb) * static_cast<size_t>(s.block_bytes);
  const size_t packed_block = static_cast<size_t>(kGroupRows) * static_cast<size_t>(s.block_bytes);
  for (int64_t g = 0; g < n_rows / kGroupRows; ++g) {
    const size_t group_off = static_cast<size_t>(g) * kGroupRows * row_bytes;
    for (int64_t b = 0; b < nb; ++b)
      for (int r = 0; r < kGroupRows; ++r)
        f(group_off + static_cast<size_t>(r) * row_bytes + static_cast<size_t>(b) * s.block_bytes,
          group_off + static_cast<size_t>(b) * packed_block, r, s);
  }
}

// 4 code bytes, with the packed layout's bias applied (an involution: xor).
inline void move_chunk(const uint8_t* src, uint8_t* dst, uint32_t bias) {
  uint32_t v;
  std::memcpy(&v, src, 4);
  v ^= bias;
  std::memcpy(dst, &v, 4);
}

// One block of row r between the file (src) and the packed layout (dst), either way.
template <bool kPack>
void move_block(const uint8_t* from, uint8_t* to, int r, const GroupShape& s) {
  const uint32_t bias = s.bias * 0x01010101u;
  for (int h = 0; h < s.halves; ++h) {
    if (kPack) std::memcpy(to + 32 * h + 2 * r, from + s.file_half(h), 2);
    else std::memcpy(to + s.file_half(h), from + 32 * h + 2 * r, 2);
  }
  const int file0 = s.file_chunks(), packed0 = 32 * s.halves;
  for (int k = 0; k < s.chunks; ++k) {
    if (kPack) move_chunk(from + file0 + 4 * k, to + packed0 + 64 * k + 4 * r, bias);
    else move_chunk(from + packed0 + 64 * k + 4 * r, to + file0 + 4 * k, bias);
  }
}

}  // namespace

bool row_groups_supported(TensorType type, int64_t n_rows, Isa isa) {
  if (n_rows <= 0 || n_rows % kGroupRows != 0) return false;
  if (type != TensorType::Q4_0 && type != TensorType::Q8_0 && type != TensorType::Q4_K && type != TensorType::Q5_K &&
      type != TensorType::Q6_K && type != TensorType::Q3_K && type != TensorType::Q2_K)
    return false;
  return kernel_table(type, isa).gemm_groups != nullptr;
}

bool row_groups_supported(TensorType type, int64_t n_rows) { return row_groups_supported(type, n_rows, active_isa()); }

void pack_row_groups(TensorType type, const uint8_t* rows, int64_t n_rows, int64_t n_cols, uint8_t* groups) {
  check_rows(group_shape(type), n_rows, n_cols);
  const auto& kt = kernel_table(type);
  if (kt.pack_groups) return kt.pack_groups(rows, n_rows, n_cols, groups);
  pack_row_groups_ref(type, rows, n_rows, n_cols, groups);
}

void pack_row_groups_ref(TensorType type, const uint8_t* rows, int64_t n_rows, int64_t n_cols, uint8_t* groups) {
  for_each_block(type, n_rows, n_cols, [&](size_t row_off, size_t pk_off, int r, const GroupShape& s) {
    move_block<true>(rows + row_off, groups + pk_off, r, s);
  });
}

void unpack_row_groups(TensorType type, const uint8_t* groups, int64_t n_rows, int64_t n_cols, uint8_t* rows) {
  for_each_block(type, n_rows, n_cols, [&](size_t row_off, size_t pk_off, int r, const GroupShape& s) {
    move_block<false>(groups + pk_off, rows + row_off, r, s);
  });
}

void q8_0_block_sums(const void* act_row, int64_t n, int32_t* sums) {
  const auto* blocks = static_cast<const BlockQ8_0*>(act_row);
  for (int64_t b = 0; b < n / kQK; ++b) {
    int32_t s = 0;
    for (int j = 0; j < kQK; ++j) s += blocks[b].qs[j];
    sums[b] = s;
  }
}

void gemm_row_groups_ref(TensorType type, int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                         const void* act, size_t act_row_bytes, int64_t n_tok, float* y, int64_t ldy) {
  const GroupShape s = group_shape(type);
  check_rows(s, n_rows, n);
  if (s.block_elems != kQK) {
    // K-quants: each group back to file rows, then the scalar dot product (the definition).
    const auto& kt = kernel_table(type, Isa::scalar);
    std::vector<uint8_t> rows(kGroupRows * w_row_bytes);
    for (int64_t g = 0; g < n_rows / kGroupRows; ++g) {
      unpack_row_groups(type, static_cast<const uint8_t*>(w) + static_cast<size_t>(g) * kGroupRows * w_row_bytes,
                        kGroupRows, n, rows.data());
      for (int64_t t = 0; t < n_tok; ++t)
        for (int r = 0; r < kGroupRows; ++r)
          y[t * ldy + g * kGroupRows + r] =
              kt.vec_dot(n, rows.data() + static_cast<size_t>(r) * w_row_bytes,
                         static_cast<const uint8_t*>(act) + static_cast<size_t>(t) * act_row_bytes);
    }
    return;
  }
  const int64_t nb = n / kQK;
  const size_t packed_block = static_cast<size_t>(kGroupRows) * static_cast<size_t>(s.block_bytes);
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(act);
  for (int64_t t = 0; t < n_tok; ++t) {
    const auto* arow = reinterpret_cast<const BlockQ8_0*>(ab + static_cast<size_t>(t) * act_row_bytes);
    for (int64_t row = 0; row < n_rows; ++row) {
      const uint8_t* group = wb + static_cast<size_t>(row / kGroupRows) * kGroupRows * w_row_bytes;
      const int r = static_cast<int>(row % kGroupRows);
      float acc = 0;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = group + static_cast<size_t>(b) * packed_block;
        uint16_t d;
        std::memcpy(&d, blk + 2 * r, 2);
        int32_t sum = 0;
        for (int k = 0; k < s.chunks; ++k)
          for (int i = 0; i < 4; ++i) {
            const uint8_t c = blk[32 + 64 * k + 4 * r + i];
            const int j = 4 * k + i;
            if (type == TensorType::Q4_0) {
              sum += ((c & 0x0F) - 8) * arow[b].qs[j];
              sum += ((c >> 4) - 8) * arow[b].qs[j + 16];
            } else {
              sum += (static_cast<int>(c) - 128) * arow[b].qs[j];
            }
          }
        acc += static_cast<float>(sum) * (fp16_to_fp32(d) * fp16_to_fp32(arow[b].d));
      }
      y[t * ldy + row] = acc;
    }
  }
}

}  // namespace st
