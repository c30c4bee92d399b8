// Row-group packing (kernels/row_groups.h) of a model's matmul weights, where the active ISA
// has a kernel for the layout: decode's matrix x vector products then run without horizontal
// sums. Packing keeps the bytes' count and values, so resident memory stays the file's size
// once the originals are let go.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "kernels/page_buffer.h"
#include "model/expert_layout.h"
#include "model/weights.h"

namespace st {

class ThreadPool;

// Loading progress in bytes of weights prepared so far (called from the loading thread).
using ByteProgress = std::function<void(uint64_t done, uint64_t total)>;

// The dense matmul weights that may be packed: attention projections, routers, and lm_head
// unless it is tied to the token embeddings (whose rows are looked up one by one).
std::vector<TensorView*> dense_matmul_views(ModelWeights& w);

// The budget case: the dense copies (runtime/dense_weights.h) are the caller's own memory,
// packed where they are (one 64-row slice at a time: no matrix-sized buffer on top).
void pack_dense_in_place(ModelWeights& w);

// The resident case: packed copies (relay_matrix, model/expert_layout.h) of every packable
// matmul weight (dense and experts), views re-pointed to them, and `release_original` called
// on each original range (so a file mapping can drop those pages).
class PackedWeights {
 public:
  PackedWeights(ModelWeights& w, ThreadPool* pool, const ReleaseBytes& release_original,
                const ByteProgress& progress = {});
  // Frees the packed copy that starts at `data`, if this object owns it (a matrix that now
  // lives in another layout: model/expert_layout.h). Returns whether it did.
  bool release(const uint8_t* data);
  uint64_t bytes() const { return bytes_; }
  PackedWeights(const PackedWeights&) = delete;
  PackedWeights& operator=(const PackedWeights&) = delete;

 private:
  std::vector<PageBuffer> buffers_;
  uint64_t bytes_ = 0;
};

}  // namespace st
