// How a memory budget is spent: the engine plans it once at start-up and prints the plan.
// Resident dense weights (attention, norms, routers, lm_head), token embeddings (resident or
// read row by row on demand), the KV cache for the requested context, scratch buffers and
// what the process already holds (code, tokenizer) come first; the expert cache gets the rest.
#pragma once
#include <array>
#include <cstdint>
#include <string>

#include "formats/tensor_type.h"
#include "model/config.h"
#include "model/weights.h"

namespace st {

struct MemoryPlan {
  uint64_t budget_bytes = 0;
  uint64_t baseline_bytes = 0;        // resident before weights: code, libraries, tokenizer, metadata
  uint64_t dense_bytes = 0;           // attention, norms, routers, output norm, lm_head
  bool embeddings_on_demand = false;  // else lm_head shares them and they count as dense
  uint64_t kv_bytes = 0;
  std::string kv_types = "f16/f16";   // K/V element types the cache is sized in
  uint64_t scratch_bytes = 0;         // forward-pass buffers at the planned batch size
  uint64_t io_bytes = 0;              // staging buffers of the expert store
  uint64_t reserve_bytes = 0;         // slack for kernel-side charges
  uint64_t slot_bytes = 0;            // one expert (gate + up + down, aligned for direct reads)
  int n_slots = 0;                    // experts the cache holds
  int n_experts_total = 0;            // n_layer * n_expert
  uint64_t expert_cache_bytes = 0;
  uint64_t minimum_bytes = 0;         // the smallest budget that can run (2 layers' worth of experts)

  bool all_experts_fit() const { return n_slots >= n_experts_total; }
  std::string describe() const;       // the multi-line plan printed at start-up
};

// Parses "1GiB", "512MiB", "8G", "1.5GB" (powers of 1024 for both spellings, as memory is
// sold), or a plain byte count. Throws std::invalid_argument with the accepted forms.
uint64_t parse_byte_size(const std::string& text);
std::string format_bytes(uint64_t bytes);

// Scratch bytes the forward pass needs for batches of n_batch tokens.
uint64_t forward_scratch_bytes(const ModelConfig& c, int64_t n_batch);
// Bytes of gate, up and down of one expert in a cache slot (the largest over layers), each
// read as a 4 KiB-aligned superset range; a slot holds the three.
std::array<uint64_t, 3> expert_part_bytes(const ModelWeights& w);
uint64_t expert_slot_bytes(const ModelWeights& w);

// Throws std::runtime_error naming the minimum when the budget is too small.
// The KV cache is sized for n_ctx tokens with K and V in their types.
MemoryPlan plan_memory(const ModelConfig& config, const ModelWeights& weights, int64_t n_ctx, TensorType k_type,
                       TensorType v_type, int64_t n_batch, uint64_t budget_bytes, uint64_t baseline_bytes);

}  // namespace st
