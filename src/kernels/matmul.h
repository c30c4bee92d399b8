// Threaded matrix products over weights in any storage type: activations are quantized once
// into the weight type's vec_dot_type, then output rows are split across the pool's threads.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "formats/tensor_type.h"

namespace st {
class ThreadPool;

// Weight rows in their storage type (a view; see model/tensor_view.h for the model-level one).
struct WeightRows {
  TensorType type;
  int64_t n_cols;
  int64_t n_rows;
  size_t row_bytes;
  const uint8_t* data;
  bool row_groups = false;  // data in row-group layout (kernels/row_groups.h)
};

// Activations quantized for one weight type: n_tok rows of row_bytes each.
struct QuantizedActs {
  TensorType type = TensorType::F32;
  int64_t n_cols = 0;
  int64_t n_tok = 0;
  size_t row_bytes = 0;
  std::vector<uint8_t> bytes;  // grows, never shrinks: no allocation in steady state
  // Q8_0 only: [n_tok][n_cols / 32] sums of each block's codes, for the row-group kernels (kept
  // for every Q8_0 row: activations quantized for one weight type serve others of the same
  // vec_dot_type, e.g. q/k/v).
  std::vector<int32_t> block_sums;
  const uint8_t* row(int64_t t) const { return bytes.data() + static_cast<size_t>(t) * row_bytes; }
};

// Quantizes x [n_tok, n_cols] into the dot partner of `weight_type` (parallel over tokens).
void quantize_acts(TensorType weight_type, const float* x, int64_t n_tok, int64_t n_cols, QuantizedActs& out,
                   ThreadPool* pool);

// y[t * ldy + r] = w_r . act_t for all rows r of w and tokens t of act.
void matmul(const WeightRows& w, const QuantizedActs& act, float* y, int64_t ldy, ThreadPool& pool);
// Several matrices multiplied by the same activations (attention's q, k and v) in one
// parallel loop: one hand-out and one wait instead of one per matrix, which in decode is a
// measurable share of a layer's time.
struct MatmulPart {
  WeightRows w;
  float* y;
  int64_t ldy;
};
void matmul_parts(std::span<const MatmulPart> parts, const QuantizedActs& act, ThreadPool& pool);
// The same on a row range [row_begin, row_end), single-threaded (callers that split work themselves).
void matmul_rows(const WeightRows& w, int64_t row_begin, int64_t row_end, const QuantizedActs& act, float* y,
                 int64_t ldy);
// Two row ranges (of one matrix, or of two taking the same activations: an expert's gate and
// up) for one token (act.n_tok == 1), single-threaded: y_a[r] for rows [a0, a1) of wa, y_b[r] for [b0, b1)
// of wb. On row-group weights the two ranges are read together (GemmGroupsPairFn: two
// streams per core read DRAM faster than one); results equal two matmul_rows calls bit for bit.
void matmul_rows_pair(const WeightRows& wa, int64_t a0, int64_t a1, float* ya, const WeightRows& wb, int64_t b0,
                      int64_t b1, float* yb, const QuantizedActs& act);
// Row ranges of weights in row-group layout must start and end at multiples of 16.
// y[t * ldy + rows[i]] = w_rows[i] . act_t for every token of act, single-threaded. On the
// file's layout this reads only the listed rows (sparse ReGLU's up products).
void matmul_row_list(const WeightRows& w, std::span<const int32_t> rows, const QuantizedActs& act, float* y,
                     int64_t ldy);

}  // namespace st
