// Experts served straight from the model's memory map (everything resident or paged in by
// the OS): the default when no memory budget is set, and the baseline the cache must match.
#pragma once
#include <memory>
#include <vector>

#include "kernels/thread_pool.h"
#include "model/expert_layout.h"
#include "model/expert_source.h"
#include "model/weights.h"

namespace st {

class ResidentExpertSource final : public ExpertSource, public ExpertSourceHints {
 public:
  // When the forward pass asks (use_sparse_layout), a layer's up and down matrices whose type
  // allows it are copied once into neuron bundles (else up matrices held in row groups go back
  // into rows: relay_expert, model/expert_layout.h); `release_source` is then called on the
  // original ranges so a file mapping (or the packed copy) can drop those pages (resident
  // memory stays ~ the file: release_superseded).
  ResidentExpertSource(const ModelWeights& weights, ThreadPool* pool = nullptr, ReleaseBytes release_source = {});
  void prefetch(int, std::span<const int32_t>) override {}
  ExpertView acquire(int layer, int expert) override;
  void release(int, int) override {}
  ExpertSourceHints* hints() override { return this; }
  bool use_sparse_layout(int layer) override;

 private:
  struct Relaid {                      // one layer's up (and down) in their sparse layout
    std::unique_ptr<uint8_t[]> bytes;  // per expert: up, then down when bundled (null: as loaded)
    size_t per_expert = 0;
    bool bundles = false;
  };
  ExpertView as_loaded(size_t layer, int expert) const;
  void relay_layer(size_t layer);
  const ModelWeights& weights_;
  ThreadPool* pool_;
  ReleaseBytes release_source_;
  std::vector<Relaid> relaid_;  // per layer
};

}  // namespace st
