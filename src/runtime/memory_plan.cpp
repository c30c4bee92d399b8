#include "runtime/memory_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "runtime/kv_cache.h"

namespace st {
namespace {

constexpr uint64_t kAlign = 4096;
uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace

uint64_t parse_byte_size(const std::string& text) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = text.substr(used);
  for (auto& ch : unit) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  double mult = -1;
  if (unit.empty() || unit == "b") mult = 1;
  else if (unit == "k" || unit == "kb" || unit == "kib") mult = 1024.0;
  else if (unit == "m" || unit == "mb" || unit == "mib") mult = 1024.0 * 1024;
  else if (unit == "g" || unit == "gb" || unit == "gib") mult = 1024.0 * 1024 * 1024;
  else if (unit == "t" || unit == "tb" || unit == "tib") mult = 1024.0 * 1024 * 1024 * 1024;
  if (used == 0 || mult < 0 || !(value > 0) || !std::isfinite(value * mult) || value * mult > 1e18)
    throw std::invalid_argument("'" + text + "' is not a memory size (examples: 1GiB, 512MiB, 8G, 1500000000)");
  return static_cast<uint64_t>(value * mult);
}

std::string format_bytes(uint64_t b) {
  char buf[64];
  if (b >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(b) / (1ull << 30));
  else if (b >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(b) / (1ull << 20));
  else std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(b) / 1024);
  return buf;
}

uint64_t forward_scratch_bytes(const ModelConfig& c, int64_t n_batch) {
  const uint64_t T = static_cast<uint64_t>(n_batch), H = static_cast<uint64_t>(c.n_embd);
  const uint64_t K = static_cast<uint64_t>(c.n_expert_used), F = static_cast<uint64_t>(c.n_ff_exp);
  const uint64_t floats = T * H * 3                                      // x, h, tmp
                          + T * static_cast<uint64_t>(c.q_width()) * 2   // q, attn
                          + T * static_cast<uint64_t>(c.kv_width()) * 2  // k, v
                          + T * K * F * 2                                // gate, up
                          + T * K * H                                    // expert outputs
                          + static_cast<uint64_t>(c.n_vocab) + H;        // logits and final norm (last row)
  // Quantized activation copies (at most ~1.1 bytes per float value) and per-expert gathers.
  return floats * 4 + T * (H + K * H + K * F) * 2;
}

std::array<uint64_t, 3> expert_part_bytes(const ModelWeights& w) {
  // An expert's bytes start anywhere inside a 4 KiB page: one extra page covers both ends.
  auto part = [](const ExpertTensor& x) { return round_up(x.expert_bytes(), kAlign) + kAlign; };
  std::array<uint64_t, 3> parts{0, 0, 0};
  for (const auto& L : w.layers) {
    parts[0] = std::max(parts[0], part(L.gate_exps));
    parts[1] = std::max(parts[1], part(L.up_exps));
    parts[2] = std::max(parts[2], part(L.down_exps));
  }
  return parts;
}

uint64_t expert_slot_bytes(const ModelWeights& w) {
  const auto parts = expert_part_bytes(w);
  return parts[0] + parts[1] + parts[2];
}

MemoryPlan plan_memory(const ModelConfig& c, const ModelWeights& w, int64_t n_ctx, TensorType k_type, TensorType v_type,
                       int64_t n_batch, uint64_t budget, uint64_t baseline) {
  MemoryPlan p;
  p.budget_bytes = budget;
  p.baseline_bytes = baseline;
  for (const auto& L : w.layers)
    p.dense_bytes += L.wq.n_bytes() + L.wk.n_bytes() + L.wv.n_bytes() + L.wo.n_bytes() + L.router.n_bytes() +
                     (L.attn_norm.size() + L.ffn_norm.size()) * sizeof(float);
  p.dense_bytes += w.output_norm.size() * sizeof(float) + w.output.n_bytes();
  // Embeddings: one row per token is all a step needs; they stay on storage unless lm_head
  // shares them (then they are resident anyway as part of the dense weights).
  p.embeddings_on_demand = !w.tied_output;
  p.kv_bytes = KvCache::bytes_needed(c, n_ctx, k_type, v_type);
  p.kv_types = std::string(tensor_type_name(k_type)) + "/" + std::string(tensor_type_name(v_type));
  p.scratch_bytes = forward_scratch_bytes(c, n_batch);
  p.slot_bytes = expert_slot_bytes(w);
  p.io_bytes = 2 * round_up(w.token_embd.row_bytes, kAlign) + kAlign * 4;
  p.n_experts_total = c.n_layer * c.n_expert;
  // Slack for what the kernel charges beside our own buffers: page tables, the few pages of
  // page cache that buffered reads pass through, allocator fragmentation.
  p.reserve_bytes = std::max<uint64_t>(4u << 20, budget / 50);
  const uint64_t fixed = p.baseline_bytes + p.dense_bytes + p.kv_bytes + p.scratch_bytes + p.io_bytes + p.reserve_bytes;
  // Minimum: the K experts of the layer being computed plus K being read for the next one.
  const uint64_t min_slots = 2 * static_cast<uint64_t>(c.n_expert_used);
  p.minimum_bytes = fixed + min_slots * p.slot_bytes;
  if (budget < p.minimum_bytes)
    throw std::runtime_error("memory budget " + format_bytes(budget) + " is below the minimum of " +
                             format_bytes(p.minimum_bytes) + " for this model and context (" + std::to_string(n_ctx) +
                             " tokens); raise --memory or lower -c");
  const uint64_t slots = (budget - fixed) / p.slot_bytes;
  p.n_slots = static_cast<int>(std::min<uint64_t>(slots, static_cast<uint64_t>(p.n_experts_total)));
  p.expert_cache_bytes = static_cast<uint64_t>(p.n_slots) * p.slot_bytes;
  return p;
}

std::string MemoryPlan::describe() const {
  std::string s = "memory plan for a budget of " + format_bytes(budget_bytes) + ":\n";
  auto line = [&](const char* what, uint64_t b) { s += "  " + std::string(what) + std::string(28 - std::string(what).size(), ' ') + format_bytes(b) + "\n"; };
  line("process (code, tokenizer)", baseline_bytes);
  line("dense weights (resident)", dense_bytes);
  if (embeddings_on_demand) s += "  token embeddings            read row by row on demand\n";
  line(("KV cache (K/V " + kv_types + ")").c_str(), kv_bytes);
  line("scratch buffers", scratch_bytes + io_bytes);
  line("reserve (kernel, slack)", reserve_bytes);
  line("expert cache", expert_cache_bytes);
  s += "  -> " + std::to_string(n_slots) + " of " + std::to_string(n_experts_total) + " experts (" +
       std::to_string(static_cast<int>(100.0 * n_slots / std::max(1, n_experts_total) + 0.5)) + "%), " +
       format_bytes(slot_bytes) + " each; minimum budget " + format_bytes(minimum_bytes) + "\n";
  return s;
}

}  // namespace st
