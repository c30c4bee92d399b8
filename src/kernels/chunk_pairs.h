// Two-stream scheduling of row products, written once for every caller (dense matmuls,
// attention's q/k/v, the experts' gate and down products). For one token a product reads
// each weight byte once and is bound by memory; a core that reads two regions of the weights
// at once streams ~25-40% faster from DRAM than one reading a single run (kernels_bench
// pair/*), so chunk c of a matrix goes with chunk c + half as one work item, read together by
// matmul_rows_pair. With several tokens the pair is two plain matmul_rows calls. Results are
// the same bits either way (see matmul_rows_pair).
#pragma once
#include <cstdint>

#include "kernels/matmul.h"
#include "kernels/thread_pool.h"

namespace st {

// One chunk of rows of one matrix: rows [r0, r1) of w times *act into y (ldy apart per token).
struct RowChunk {
  WeightRows w;
  int64_t r0, r1;
  const QuantizedActs* act;
  float* y;
  int64_t ldy;
};

// Multiplies every chunk of n_units units (matrices, or experts' matrices) of n_chunks chunks
// each, over the pool; chunk_of(unit, chunk) -> RowChunk names the rows. With `paired`, an
// item is chunks c and c + half of one unit (the last of an odd count alone); without, an
// item is one chunk. The pool hands each thread a consecutive run of items, so a thread
// streams its units in order.
template <class ChunkOf>
void matmul_chunks(ThreadPool& pool, int64_t n_units, int64_t n_chunks, bool paired, const ChunkOf& chunk_of) {
  auto one = [](const RowChunk& a) { matmul_rows(a.w, a.r0, a.r1, *a.act, a.y, a.ldy); };
  if (!paired) {
    pool.parallel_for(n_units * n_chunks, 1, [&](int64_t b, int64_t e, int) {
      for (int64_t item = b; item < e; ++item) one(chunk_of(item / n_chunks, item % n_chunks));
    });
    return;
  }
  const int64_t half = (n_chunks + 1) / 2;
  pool.parallel_for(n_units * half, 1, [&](int64_t b, int64_t e, int) {
    for (int64_t item = b; item < e; ++item) {
      const int64_t unit = item / half, c = item % half;
      const RowChunk a = chunk_of(unit, c);
      if (c + half >= n_chunks) {
        one(a);
        continue;
      }
      const RowChunk p = chunk_of(unit, c + half);
      if (a.act->n_tok == 1) {
        matmul_rows_pair(a.w, a.r0, a.r1, a.y, p.w, p.r0, p.r1, p.y, *a.act);
      } else {
        one(a);
        one(p);
      }
    }
  });
}

}  // namespace st
