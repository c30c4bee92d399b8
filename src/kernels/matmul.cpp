#include "kernels/matmul.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/chunk_pairs.h"
#include "kernels/kernel_table.h"
#include "kernels/row_groups.h"
#include "kernels/scratch.h"
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
  const bool sums = out.type == TensorType::Q8_0;
  const int64_t nb = n_cols / 32;
  if (sums && out.block_sums.size() < static_cast<size_t>(n_tok * nb)) out.block_sums.resize(static_cast<size_t>(n_tok * nb));
  auto body = [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; ++t) {
      uint8_t* row = out.bytes.data() + static_cast<size_t>(t) * out.row_bytes;
      at.quantize_row(x + t * n_cols, row, n_cols);
      if (sums) q8_0_block_sums(row, n_cols, out.block_sums.data() + t * nb);
    }
  };
  if (pool && n_tok > 1) pool->parallel_for(n_tok, 1, body);
  else body(0, n_tok, 0);
}

namespace {

// File-layout rows on an ISA with row-group kernels: up to 16 rows at a time (consecutive or
// listed) are interleaved into a per-thread buffer and multiplied by the group kernel. Every
// Q4_0/Q8_0 product on such an ISA thus uses one arithmetic, and results do not depend on the
// layout: experts the cache has just read from the file match the re-laid resident ones bit
// for bit, as do up rows read on request. Missing rows of a last partial group are zero
// bytes (scale 0: products 0).
class GroupStaging {
 public:
  GroupStaging(const WeightRows& w, int64_t n_tok) : w_(w) {
    const size_t group = static_cast<size_t>(kGroupRows) * w.row_bytes;
    auto* p = static_cast<uint8_t*>(staging_scratch(2 * group + static_cast<size_t>(kGroupRows * n_tok) * sizeof(float)));
    rows_ = p;
    packed_ = p + group;
    y_ = reinterpret_cast<float*>(p + 2 * group);
  }
  // Rows [r0, r0 + 16) of w, packed (straight from the matrix).
  const uint8_t* whole_group(int64_t r0) {
    pack_row_groups(w_.type, w_.data + static_cast<size_t>(r0) * w_.row_bytes, kGroupRows, w_.n_cols, packed_);
    return packed_;
  }
  // `n` rows (< 16 or listed), the rest zero, packed.
  template <class RowOf>
  const uint8_t* some_rows(int64_t n, RowOf row_of) {
    for (int64_t i = 0; i < kGroupRows; ++i) {
      uint8_t* dst = rows_ + static_cast<size_t>(i) * w_.row_bytes;
      if (i < n) std::memcpy(dst, w_.data + static_cast<size_t>(row_of(i)) * w_.row_bytes, w_.row_bytes);
      else std::memset(dst, 0, w_.row_bytes);
    }
    pack_row_groups(w_.type, rows_, kGroupRows, w_.n_cols, packed_);
    return packed_;
  }
  float* y() { return y_; }

 private:
  const WeightRows& w_;
  uint8_t* rows_;
  uint8_t* packed_;
  float* y_;
};

bool through_groups(const KernelTable& kt, const WeightRows& w) { return kt.gemm_groups && !w.row_groups; }

void rows_through_groups(const KernelTable& kt, const WeightRows& w, int64_t row_begin, int64_t row_end,
                         const QuantizedActs& act, float* y, int64_t ldy) {
  GroupStaging s(w, act.n_tok);
  auto run = [&](const uint8_t* g, float* out, int64_t out_ld) {
    kt.gemm_groups(w.n_cols, g, w.row_bytes, kGroupRows, act.bytes.data(), act.row_bytes, act.block_sums.data(),
                   act.n_tok, out, out_ld);
  };
  int64_t r = row_begin;
  for (; r + kGroupRows <= row_end; r += kGroupRows) run(s.whole_group(r), y + r, ldy);
  if (r == row_end) return;
  const int64_t n = row_end - r;
  run(s.some_rows(n, [r](int64_t i) { return r + i; }), s.y(), kGroupRows);
  for (int64_t t = 0; t < act.n_tok; ++t)
    std::memcpy(y + t * ldy + r, s.y() + t * kGroupRows, static_cast<size_t>(n) * sizeof(float));
}

}  // namespace

void matmul_rows(const WeightRows& w, int64_t row_begin, int64_t row_end, const QuantizedActs& act, float* y,
                 int64_t ldy) {
  const KernelTable& kt = kernel_table(w.type);
  if (through_groups(kt, w)) return rows_through_groups(kt, w, row_begin, row_end, act, y, ldy);
  const uint8_t* w0 = w.data + static_cast<size_t>(row_begin) * w.row_bytes;
  if (w.row_groups) {
    if (row_begin % kGroupRows != 0 || row_end % kGroupRows != 0 || !kt.gemm_groups)
      throw std::logic_error("matmul: rows " + std::to_string(row_begin) + ".." + std::to_string(row_end) +
                             " of a row-group matrix are not whole groups (or no kernel)");
    kt.gemm_groups(w.n_cols, w0, w.row_bytes, row_end - row_begin, act.bytes.data(), act.row_bytes,
                   act.block_sums.data(), act.n_tok, y + row_begin, ldy);
    return;
  }
  if (act.n_tok == 1)
    kt.gemv(w.n_cols, w0, w.row_bytes, row_end - row_begin, act.bytes.data(), y + row_begin);
  else
    kt.gemm(w.n_cols, w0, w.row_bytes, row_end - row_begin, act.bytes.data(), act.row_bytes, act.n_tok,
            y + row_begin, ldy);
}

void matmul_rows_pair(const WeightRows& wa, int64_t a0, int64_t a1, float* ya, const WeightRows& wb, int64_t b0,
                      int64_t b1, float* yb, const QuantizedActs& act) {
  if (act.n_tok != 1) throw std::logic_error("matmul_rows_pair: one token only");
  const KernelTable& kt = kernel_table(wa.type);
  const int64_t n = std::min(a1 - a0, b1 - b0);
  const bool pair = kt.gemm_groups_pair && wa.row_groups && wb.row_groups && wa.type == wb.type &&
                    wa.row_bytes == wb.row_bytes && wa.n_cols == wb.n_cols && n > 0 && a0 % kGroupRows == 0 &&
                    b0 % kGroupRows == 0 && n % kGroupRows == 0;
  if (!pair) {
    matmul_rows(wa, a0, a1, act, ya, 0);
    matmul_rows(wb, b0, b1, act, yb, 0);
    return;
  }
  kt.gemm_groups_pair(wa.n_cols, wa.data + static_cast<size_t>(a0) * wa.row_bytes,
                      wb.data + static_cast<size_t>(b0) * wb.row_bytes, wa.row_bytes, n, act.bytes.data(),
                      act.block_sums.data(), ya + a0, yb + b0);
  if (a0 + n < a1) matmul_rows(wa, a0 + n, a1, act, ya, 0);  // the longer range's rest
  if (b0 + n < b1) matmul_rows(wb, b0 + n, b1, act, yb, 0);
}

void matmul_row_list(const WeightRows& w, std::span<const int32_t> rows, const QuantizedActs& act, float* y,
                     int64_t ldy) {
  const KernelTable& kt = kernel_table(w.type);
  const int64_t n_tok = act.n_tok;
  if (w.row_groups) {
    // Each group holding a listed row is computed whole: a group's rows are interleaved.
    constexpr int64_t kTok = 8;
    float out[kTok * kGroupRows];
    for (int64_t t0 = 0; t0 < n_tok; t0 += kTok) {
      const int64_t tn = std::min(kTok, n_tok - t0);
      const uint8_t* a0 = act.row(t0);
      // (Q8_0 activations only: the K-quant kernels take their sums from the Q8_K blocks.)
      const int32_t* s0 = act.type == TensorType::Q8_0 ? act.block_sums.data() + t0 * (w.n_cols / 32) : nullptr;
      int64_t done = -1;
      for (int32_t r : rows) {
        const int64_t g = r / kGroupRows;
        if (g != done) {
          kt.gemm_groups(w.n_cols, w.data + static_cast<size_t>(g) * kGroupRows * w.row_bytes, w.row_bytes, kGroupRows,
                         a0, act.row_bytes, s0, tn, out, kGroupRows);
          done = g;
        }
        for (int64_t t = 0; t < tn; ++t) y[(t0 + t) * ldy + r] = out[t * kGroupRows + r % kGroupRows];
      }
    }
    return;
  }
  if (kt.gemm_rows) {
    kt.gemm_rows(w.n_cols, w.data, w.row_bytes, rows.data(), static_cast<int64_t>(rows.size()), act.bytes.data(),
                 act.row_bytes, act.block_sums.data(), n_tok, y, ldy);
    return;
  }
  if (through_groups(kt, w)) {
    GroupStaging s(w, n_tok);
    for (size_t i = 0; i < rows.size(); i += kGroupRows) {
      const size_t n = std::min<size_t>(kGroupRows, rows.size() - i);
      const uint8_t* g = s.some_rows(static_cast<int64_t>(n), [&](int64_t k) { return rows[i + static_cast<size_t>(k)]; });
      kt.gemm_groups(w.n_cols, g, w.row_bytes, kGroupRows, act.bytes.data(), act.row_bytes, act.block_sums.data(), n_tok,
                     s.y(), kGroupRows);
      for (int64_t t = 0; t < n_tok; ++t)
        for (size_t k = 0; k < n; ++k) y[t * ldy + rows[i + k]] = s.y()[t * kGroupRows + static_cast<int64_t>(k)];
    }
    return;
  }
  if (!kt.gemv_rows || n_tok > 1) {
    for (int64_t t = 0; t < n_tok; ++t)
      for (int32_t r : rows)
        y[t * ldy + r] = kt.vec_dot(w.n_cols, w.data + static_cast<size_t>(r) * w.row_bytes, act.row(t));
    return;
  }
  float out[64];
  for (size_t i = 0; i < rows.size(); i += 64) {
    const size_t n = std::min<size_t>(64, rows.size() - i);
    kt.gemv_rows(w.n_cols, w.data, w.row_bytes, rows.data() + i, static_cast<int64_t>(n), act.bytes.data(), out);
    for (size_t k = 0; k < n; ++k) y[rows[i + k]] = out[k];
  }
}

void matmul_parts(std::span<const MatmulPart> parts, const QuantizedActs& act, ThreadPool& pool) {
  // Rows per chunk: whole row groups, small enough that the threads finish together (the
  // pool keeps each thread's chunks consecutive, so small chunks still stream in order).
  constexpr int64_t kChunk = 4 * kGroupRows;
  int64_t first[8];               // first chunk of each part (q, k, v: 3 parts)
  if (parts.size() > 7) throw std::logic_error("matmul_parts: at most 7 parts");
  int64_t n_chunks = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const WeightRows& w = parts[i].w;
    if (act.n_cols != w.n_cols || act.type != kernel_table(w.type).vec_dot_type)
      throw std::logic_error("matmul_parts: activations do not match part " + std::to_string(i));
    first[i] = n_chunks;
    n_chunks += (w.n_rows + kChunk - 1) / kChunk;
  }
  first[parts.size()] = n_chunks;
  auto chunk = [&](int64_t c, const MatmulPart*& p, int64_t& r0, int64_t& r1) {
    size_t i = 0;
    while (c >= first[i + 1]) ++i;
    p = &parts[i];
    r0 = (c - first[i]) * kChunk;
    r1 = std::min(p->w.n_rows, r0 + kChunk);
  };
  // One token: chunk c goes with chunk c + half, two streams per thread (chunk_pairs.h).
  matmul_chunks(pool, 1, n_chunks, /*paired=*/act.n_tok == 1, [&](int64_t, int64_t c) {
    const MatmulPart* p;
    int64_t r0, r1;
    chunk(c, p, r0, r1);
    return RowChunk{p->w, r0, r1, &act, p->y, p->ldy};
  });
}

void matmul(const WeightRows& w, const QuantizedActs& act, float* y, int64_t ldy, ThreadPool& pool) {
  if (act.n_cols != w.n_cols || act.type != kernel_table(w.type).vec_dot_type)
    throw std::logic_error("matmul: activations (" + std::to_string(act.n_cols) + " cols) do not match weights (" +
                           std::to_string(w.n_cols) + " cols)");
  // Chunks of up to 64 rows: whole row groups, a few microseconds of streaming each, so the
  // threads finish a loop together (the pool hands each thread a consecutive run of chunks
  // and lets it steal from the back of the other's; chunks of up to 4096 rows left one thread
  // waiting at the end of each of decode's ~160 loops per token). Small matrices (a router's
  // 32 rows) still get a chunk per thread.
  const int64_t per_thread = w.n_rows / (2 * static_cast<int64_t>(pool.size())) / kGroupRows * kGroupRows;
  const int64_t grain = std::clamp<int64_t>(per_thread, kGroupRows, 4 * kGroupRows);
  if (act.n_tok == 1 && w.row_groups && w.n_rows >= 4 * grain) {
    // One token: chunk c goes with chunk c + half (chunk_pairs.h), so each thread streams
    // two regions of the matrix at once.
    matmul_chunks(pool, 1, (w.n_rows + grain - 1) / grain, /*paired=*/true, [&](int64_t, int64_t c) {
      return RowChunk{w, c * grain, std::min(w.n_rows, (c + 1) * grain), &act, y, ldy};
    });
    return;
  }
  pool.parallel_for(w.n_rows, grain, [&](int64_t b, int64_t e, int) { matmul_rows(w, b, e, act, y, ldy); });
}

}  // namespace st
