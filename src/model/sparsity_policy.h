// When a layer's experts move to the sparse layouts (neuron bundles, or up in rows): once the
// layer has shown enough ReGLU rows, if enough of their neurons were exactly zero. The
// decision is made once per layer and the same way for every expert source, so budgeted and
// in-RAM runs compute alike.
#pragma once
#include <cstdint>
#include <vector>

namespace st {

struct SparsityThresholds {
  // From bench/sparse_reglu_bench and `bench` on the 2-core AMD EPYC: the bundles of
  // scattered active neurons stream worse than whole matrices and cost more arithmetic per
  // byte (one thread, one expert from DRAM: even with dense at ~60% zero, 0.8x its time at
  // 70%, 0.55-0.75x at 90%; two threads sharing the memory bus widen the gap), so the switch
  // waits for 75% zero neurons.
  double min_zero_share = 0.75;
  int64_t min_rows = 64;  // (token, expert) rows seen before deciding
};

class SparsityPolicy {
 public:
  using Thresholds = SparsityThresholds;
  // Never switches (comparisons and tests of the dense layouts).
  static constexpr Thresholds kNever{2.0, INT64_MAX};
  // Switches after a layer's first batch (tests of the sparse layouts).
  static constexpr Thresholds kAlways{0.0, 0};

  explicit SparsityPolicy(int n_layer, Thresholds t = {})
      : t_(t), rows_(static_cast<size_t>(n_layer)), zero_(static_cast<size_t>(n_layer)), decided_(static_cast<size_t>(n_layer)) {}
  void set_thresholds(Thresholds t) { t_ = t; }

  // One batch of `layer`: n_rows (token, expert) rows, of whose neurons n_zero were exactly zero.
  void observe(int layer, int64_t n_rows, int64_t n_zero) {
    rows_[static_cast<size_t>(layer)] += n_rows;
    zero_[static_cast<size_t>(layer)] += n_zero;
  }
  // True exactly once, when `layer` (n_ff neurons per row) should switch; false before the
  // layer has shown min_rows rows and forever after its decision.
  bool should_switch(int layer, int64_t n_ff) {
    const size_t l = static_cast<size_t>(layer);
    if (decided_[l] || rows_[l] == 0 || rows_[l] < t_.min_rows) return false;
    decided_[l] = 1;
    const double zero_share = static_cast<double>(zero_[l]) / static_cast<double>(rows_[l] * n_ff);
    return zero_share >= t_.min_zero_share;
  }

 private:
  Thresholds t_;
  std::vector<int64_t> rows_, zero_;  // per layer: ReGLU rows and zero neurons seen
  std::vector<uint8_t> decided_;
};

}  // namespace st
