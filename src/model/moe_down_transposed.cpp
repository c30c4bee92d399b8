// Down projection for experts whose down matrix is stored one row per neuron (PowerInfer
// GGUFs): each token's output is the sum of its active neurons' rows scaled by their
// activation. Inactive (zero) ReGLU neurons are skipped, which is exact. Rows are dequantized
// to f32 and accumulated in f32, so results agree with the dot-product layout within float
// rounding.
#include <algorithm>
#include <utility>
#include <vector>

#include "kernels/kernel_table.h"
#include "model/forward.h"
#include "model/forward_scratch.h"

namespace st {

void Forward::down_transposed(const ExpertChunk& chunk) {
  auto& S = *s_;
  const int64_t H = config_.n_embd, F = config_.n_ff_exp;
  const float* act = S.gate.data();  // ReGLU activations
  float* down = S.expert_out.data();
  if (S.row_buf.size() < static_cast<size_t>(pool_.size())) S.row_buf.resize(static_cast<size_t>(pool_.size()));
  for (auto& b : S.row_buf) grow(b, static_cast<size_t>(H));
  // Work item: one (expert, token) pair; rows are dequantized once per pair.
  std::vector<std::pair<size_t, int32_t>> items;
  for (size_t a = 0; a < chunk.ids.size(); ++a) {
    const int e = chunk.ids[a];
    for (int32_t r = S.expert_begin[static_cast<size_t>(e)]; r < S.expert_begin[static_cast<size_t>(e + 1)]; ++r)
      items.push_back({a, r});
  }
  pool_.parallel_for(static_cast<int64_t>(items.size()), 1, [&](int64_t ib, int64_t ie, int thread) {
    float* row = S.row_buf[static_cast<size_t>(thread)].data();
    for (int64_t it = ib; it < ie; ++it) {
      const auto [a, r] = items[static_cast<size_t>(it)];
      const TensorView& dv = chunk.view(a).down;
      const KernelTable& kt = kernel_table(dv.type);
      const float* ar = act + static_cast<int64_t>(r) * F;
      float* out = down + static_cast<int64_t>(r) * H;
      std::fill(out, out + H, 0.0f);
      for (int64_t i = 0; i < F; ++i) {
        if (ar[i] == 0.0f) continue;
        kt.dequantize_row(dv.row(i), row, H);
        for (int64_t d = 0; d < H; ++d) out[d] += ar[i] * row[d];
      }
    }
  });
  clock_.lap(Phase::expert_down);
}

}  // namespace st
