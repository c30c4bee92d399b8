#include "kernels/matmul.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/kernel_table.h"
#include "kernels/thread_pool.h"

namespace st {

void quantize_acts(TensorType weight_type, const float* x, int64_t n_tok, int64_t n_cols, QuantizedActs& out,
                   ThreadPool* pool) {
  const KernelTable& wt = kernel_table(weight_type);
  const KernelTable& at = kernel_table(wt.vec_dot_type);
  out.type = wt.vec_dot_type;
  out.n_cols = n_cols;
  out.n_tok = n_tok;
  out.row_bytes = row_bytes(out.type, n_cols);
  const size_t need = out.row_bytes * static_cast<size_t>(n_tok);
  if (out.bytes.size() < need) out.bytes.resize(need);
  auto body = [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; ++t) at.quantize_row(x + t * n_cols, out.bytes.data() + static_cast<size_t>(t) * out.row_bytes, n_cols);
  };
  if (pool && n_tok > 1) pool->parallel_for(n_tok, 1, body);
  else body(0, n_tok, 0);
}

void matmul_rows(const WeightRows& w, int64_t row_begin, int64_t row_end, const QuantizedActs& act, float* y,
                 int64_t ldy) {
  const KernelTable& kt = kernel_table(w.type);
  const uint8_t* w0 = w.data + static_cast<size_t>(row_begin) * w.row_bytes;
  if (act.n_tok == 1)
    kt.gemv(w.n_cols, w0, w.row_bytes, row_end - row_begin, act.bytes.data(), y + row_begin);
  else
    kt.gemm(w.n_cols, w0, w.row_bytes, row_end - row_begin, act.bytes.data(), act.row_bytes, act.n_tok,
            y + row_begin, ldy);
}

void matmul_row_list(const WeightRows& w, std::span<const int32_t> rows, const QuantizedActs& act, float* y) {
  const KernelTable& kt = kernel_table(w.type);
  if (!kt.gemv_rows) {
    for (int32_t r : rows) y[r] = kt.vec_dot(w.n_cols, w.data + static_cast<size_t>(r) * w.row_bytes, act.bytes.data());
    return;
  }
  float out[64];
  for (size_t i = 0; i < rows.size(); i += 64) {
    const size_t n = std::min<size_t>(64, rows.size() - i);
    kt.gemv_rows(w.n_cols, w.data, w.row_bytes, rows.data() + i, static_cast<int64_t>(n), act.bytes.data(), out);
    for (size_t k = 0; k < n; ++k) y[rows[i + k]] = out[k];
  }
}

void matmul(const WeightRows& w, const QuantizedActs& act, float* y, int64_t ldy, ThreadPool& pool) {
  if (act.n_cols != w.n_cols || act.type != kernel_table(w.type).vec_dot_type)
    throw std::logic_error("matmul: activations (" + std::to_string(act.n_cols) + " cols) do not match weights (" +
                           std::to_string(w.n_cols) + " cols)");
  // Chunks of rows big enough to amortise the hand-out, small enough to balance two threads.
  const int64_t grain = w.n_rows >= 4096 ? 256 : 32;
  pool.parallel_for(w.n_rows, grain, [&](int64_t b, int64_t e, int) { matmul_rows(w, b, e, act, y, ldy); });
}

}  // namespace st
