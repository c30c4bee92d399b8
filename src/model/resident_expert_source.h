// Experts served straight from the model's memory map (everything resident or paged in by
// the OS): the default when no memory budget is set, and the baseline the cache must match.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "kernels/thread_pool.h"
#include "model/expert_source.h"
#include "model/weights.h"

namespace st {

class ResidentExpertSource final : public ExpertSource, public ExpertSourceHints {
 public:
  // When the forward pass asks (use_sparse_layout), a layer's up and down matrices whose type
  // allows it are copied once into neuron bundles (else up matrices held in row groups go back
  // into rows); `release_source` is then called on the original ranges so a file mapping (or
  // the packed copy) can drop those pages (resident memory stays ~ the file).
  ResidentExpertSource(const ModelWeights& weights, ThreadPool* pool = nullptr,
                       std::function<void(const uint8_t*, size_t)> release_source = {});
  void prefetch(int, std::span<const int32_t>) override {}
  ExpertView acquire(int layer, int expert) override;
  void release(int, int) override {}
  ExpertSourceHints* hints() override { return this; }
  bool use_sparse_layout(int layer) override;

 private:
  const ModelWeights& weights_;
  ThreadPool* pool_;
  std::function<void(const uint8_t*, size_t)> release_source_;
  std::vector<std::unique_ptr<uint8_t[]>> bundles_;  // per layer: [expert][part 0, part 1] (null: as loaded)
  std::vector<std::unique_ptr<uint8_t[]>> up_rows_;  // per layer (null: up as loaded)
  bool to_bundles(size_t layer);
  void up_to_rows(size_t layer);
};

}  // namespace st
