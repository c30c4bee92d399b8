// A read-only 2-D view of weight bytes in their storage type: n_rows rows of n_cols elements.
// The bytes live elsewhere (a memory map, an expert cache slot); views are cheap to copy.
#pragma once
#include <cstddef>
#include <cstdint>

#include "formats/tensor_type.h"
#include "model/expert_layout.h"

namespace st {

struct TensorView {
  TensorType type = TensorType::F32;
  int64_t n_cols = 0;      // ggml ne[0]: elements per row (the reduction dimension of a matmul)
  int64_t n_rows = 0;      // output features
  size_t row_bytes = 0;
  const uint8_t* data = nullptr;
  WeightLayout layout = WeightLayout::rows;  // model/expert_layout.h

  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes; }
  size_t n_bytes() const { return static_cast<size_t>(n_rows) * row_bytes; }
  // Rows [first, first + count) as their own view (an expert's slice of a 3-D tensor).
  TensorView rows(int64_t first, int64_t count) const {
    TensorView v = *this;
    v.n_rows = count;
    v.data = row(first);
    return v;
  }
};

}  // namespace st
