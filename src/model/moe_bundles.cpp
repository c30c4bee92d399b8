// The experts of a sparse layer, kept as neuron bundles (kernels/neuron_bundles.h): every
// gate row is multiplied (the gate decides which neurons are active), then for each active
// neuron one contiguous bundle holds its up row and down column. Called by moe_block for one
// chunk of acquired experts; tokens are grouped per expert as there.
#include <algorithm>
#include <atomic>

#include "kernels/neuron_bundles.h"
#include "model/forward.h"
#include "model/forward_scratch.h"

namespace st {

int64_t Forward::bundled_experts(int il, std::span<const int32_t> active, const std::vector<ExpertLease>& leases,
                                 bool separate_up) {
  auto& S = *s_;
  const int64_t H = config_.n_embd, F = config_.n_ff_exp;
  float* gate = S.gate.data();
  auto tokens_of = [&](int e) {
    const int32_t b = S.expert_begin[static_cast<size_t>(e)];
    return std::pair<int64_t, int64_t>(b, S.expert_begin[static_cast<size_t>(e + 1)] - b);
  };

  // Gate products. An item is chunks c and c + half of one expert's rows: in decode they are
  // read together as two streams (matmul_rows_pair).
  const int64_t chunk = item_rows(F), n_chunks = (F + chunk - 1) / chunk, half = (n_chunks + 1) / 2;
  pool_.parallel_for(static_cast<int64_t>(active.size()) * half, 1, [&](int64_t ib, int64_t ie, int) {
    for (int64_t item = ib; item < ie; ++item) {
      const size_t a = static_cast<size_t>(item / half);
      const int64_t c = item % half;
      const int e = active[a];
      const auto [b, n] = tokens_of(e);
      const WeightRows w = weight_rows(leases[a].view().gate);
      const QuantizedActs& qa = S.expert_act[static_cast<size_t>(e)];
      float* y = gate + b * F;
      const int64_t r0 = c * chunk, r1 = std::min(F, r0 + chunk);
      if (c + half >= n_chunks) {
        matmul_rows(w, r0, r1, qa, y, F);
        continue;
      }
      const int64_t q0 = (c + half) * chunk, q1 = std::min(F, q0 + chunk);
      if (n == 1) {
        matmul_rows_pair(w, r0, r1, y, w, q0, q1, y, qa);
      } else {
        matmul_rows(w, r0, r1, qa, y, F);
        matmul_rows(w, q0, q1, qa, y, F);
      }
    }
  });
  clock_.lap(Phase::expert_gate_up);

  // Up and down over the bundles, an item per (expert, part): part 0's outputs go to
  // expert_out, part 1's to expert_out2, added together below.
  const int64_t r_begin = S.expert_begin[static_cast<size_t>(active.front())];
  const int64_t r_end = S.expert_begin[static_cast<size_t>(active.back() + 1)];
  grow(S.expert_out2, static_cast<size_t>(S.expert_begin[static_cast<size_t>(config_.n_expert)] * H));
  const BundleShape shape(leases.front().view().up.type, H, F);
  std::atomic<int64_t> zeros{0}, rows_read{0};
  pool_.parallel_for(static_cast<int64_t>(active.size()) * 2, 1, [&](int64_t ib, int64_t ie, int) {
    int64_t z = 0, r = 0;
    for (int64_t item = ib; item < ie; ++item) {
      const size_t a = static_cast<size_t>(item / 2);
      const int p = static_cast<int>(item % 2);
      const int e = active[a];
      const auto [b, n] = tokens_of(e);
      const QuantizedActs& qa = (separate_up ? S.expert_act_up : S.expert_act)[static_cast<size_t>(e)];
      float* out = (p == 0 ? S.expert_out.data() : S.expert_out2.data()) + b * H;
      const BundleCounts c = bundle_ffn(shape, leases[a].view().bundles[p], p, gate + b * F, n, qa.row(0), qa.row_bytes,
                                        qa.block_sums.data(), out);
      z += c.zero;
      r += c.rows_read;
    }
    zeros += z;
    rows_read += r;
  });
  pool_.parallel_for(r_end - r_begin, 8, [&](int64_t b, int64_t e, int) {
    for (int64_t row = r_begin + b; row < r_begin + e; ++row) {
      float* o = S.expert_out.data() + row * H;
      const float* o2 = S.expert_out2.data() + row * H;
      for (int64_t i = 0; i < H; ++i) o[i] += o2[i];
    }
  });
  clock_.lap(Phase::expert_down);

  // Counters: every (token, expert) row of F neurons; up rows (bundles) no token needed.
  const int64_t up_rows_total = static_cast<int64_t>(active.size()) * F;
  relu_.up_rows += up_rows_total;
  relu_.up_rows_skipped += up_rows_total - rows_read.load();
  relu_.neurons += (r_end - r_begin) * F;
  relu_.zero += zeros.load();
  sparsity_.observe(il, r_end - r_begin, zeros.load());
  return zeros.load();
}

}  // namespace st
