// The experts of a sparse layer, kept as neuron bundles (kernels/neuron_bundles.h): every
// gate row is multiplied (the gate decides which neurons are active), then for each active
// neuron one contiguous bundle holds its up row and down column. Called by moe_block for one
// chunk of acquired experts; tokens are grouped per expert as there.
#include <algorithm>
#include <atomic>

#include "kernels/chunk_pairs.h"
#include "kernels/neuron_bundles.h"
#include "model/forward.h"
#include "model/forward_scratch.h"

namespace st {

int64_t Forward::bundled_experts(int il, const ExpertChunk& chunk) {
  auto& S = *s_;
  const int64_t H = config_.n_embd, F = config_.n_ff_exp;
  const int64_t n_experts = static_cast<int64_t>(chunk.ids.size());

  // Gate products, two streams per item (kernels/chunk_pairs.h).
  const int64_t rows = item_rows(F);
  matmul_chunks(pool_, n_experts, (F + rows - 1) / rows, /*paired=*/true, [&](int64_t a, int64_t c) {
    const int e = chunk.ids[static_cast<size_t>(a)];
    const int64_t r0 = c * rows;
    return RowChunk{weight_rows(chunk.view(static_cast<size_t>(a)).gate), r0, std::min(F, r0 + rows),
                    &S.expert_act[static_cast<size_t>(e)], S.gate.data() + S.expert_rows(e).first * F, F};
  });
  clock_.lap(Phase::expert_gate_up);

  // Up and down over the bundles, an item per (expert, part): part 0's outputs go to
  // expert_out, part 1's to expert_out2, added together below.
  grow(S.expert_out2, static_cast<size_t>(S.expert_begin[static_cast<size_t>(config_.n_expert)] * H));
  const BundleShape shape(chunk.view(0).up.type, H, F);
  std::atomic<int64_t> zeros{0}, rows_read{0};
  pool_.parallel_for(n_experts * 2, 1, [&](int64_t ib, int64_t ie, int) {
    int64_t z = 0, r = 0;
    for (int64_t item = ib; item < ie; ++item) {
      const size_t a = static_cast<size_t>(item / 2);
      const int p = static_cast<int>(item % 2);
      const int e = chunk.ids[a];
      const auto [b, n] = S.expert_rows(e);
      const QuantizedActs& qa = (chunk.separate_up ? S.expert_act_up : S.expert_act)[static_cast<size_t>(e)];
      float* out = (p == 0 ? S.expert_out.data() : S.expert_out2.data()) + b * H;
      const BundleCounts c = bundle_ffn(shape, (p == 0 ? chunk.view(a).up : chunk.view(a).down).data, p, S.gate.data() + b * F, n, qa.row(0),
                                        qa.row_bytes, qa.block_sums.data(), out);
      z += c.zero;
      r += c.rows_read;
    }
    zeros += z;
    rows_read += r;
  });
  const int64_t r_begin = S.expert_begin[static_cast<size_t>(chunk.ids.front())];
  const int64_t r_end = S.expert_begin[static_cast<size_t>(chunk.ids.back() + 1)];
  pool_.parallel_for(r_end - r_begin, 8, [&](int64_t b, int64_t e, int) {
    for (int64_t row = r_begin + b; row < r_begin + e; ++row) {
      float* o = S.expert_out.data() + row * H;
      const float* o2 = S.expert_out2.data() + row * H;
      for (int64_t i = 0; i < H; ++i) o[i] += o2[i];
    }
  });
  clock_.lap(Phase::expert_down);
  count_reglu(il, chunk, rows_read.load(), zeros.load());  // up rows read: bundles some token needed
  return zeros.load();
}

}  // namespace st
