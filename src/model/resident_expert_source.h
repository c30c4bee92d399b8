// Experts served straight from the model's memory map (everything resident or paged in by
// the OS): the default when no memory budget is set, and the baseline the cache must match.
#pragma once
#include <vector>

#include "model/expert_source.h"
#include "model/weights.h"

namespace st {

class ResidentExpertSource final : public ExpertSource {
 public:
  explicit ResidentExpertSource(const ModelWeights& weights) : weights_(weights) {}
  void prefetch(int, std::span<const int32_t>) override {}
  ExpertView acquire(int layer, int expert) override {
    const auto& L = weights_.layers[static_cast<size_t>(layer)];
    return {L.gate_exps.expert(expert), L.up_exps.expert(expert), L.down_exps.expert(expert), L.down_transposed};
  }
  void release(int, int) override {}

 private:
  const ModelWeights& weights_;
};

}  // namespace st
