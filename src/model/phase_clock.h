// Wall time of the forward pass's phases, for `bench` to say where a decoded token's time
// goes. Each lap() charges the time since the previous lap to one phase, so the phases add up
// to the whole run. A steady_clock read costs ~20 ns; a decode step takes ~300 of them.
#pragma once
#include <array>
#include <chrono>
#include <cstddef>

namespace st {

enum class Phase : int {
  embed,         // token embedding rows
  route,         // router product, top-K, expert prefetch
  attn_proj,     // RMSNorm, Q/K/V and output projections, RoPE, residual
  attn_core,     // softmax(q k^T) v over the cache
  moe_prep,      // RMSNorm, activation quantization, grouping tokens per expert, acquiring experts
  expert_gate_up,  // gate and up products, ReGLU
  expert_down,   // down products
  moe_combine,   // weighted sum of the experts' outputs, residual
  lm_head,       // final RMSNorm and the vocabulary product
  count
};

inline constexpr std::array<const char*, static_cast<size_t>(Phase::count)> kPhaseNames = {
    "embed", "route", "attn_proj", "attn_core", "moe_prep", "expert_gate_up", "expert_down", "moe_combine", "lm_head"};

class PhaseClock {
 public:
  using Seconds = std::array<double, static_cast<size_t>(Phase::count)>;
  void start() { last_ = std::chrono::steady_clock::now(); }
  void lap(Phase p) {
    const auto now = std::chrono::steady_clock::now();
    seconds_[static_cast<size_t>(p)] += std::chrono::duration<double>(now - last_).count();
    last_ = now;
  }
  const Seconds& seconds() const { return seconds_; }
  void reset() { seconds_ = {}; }

 private:
  std::chrono::steady_clock::time_point last_{};
  Seconds seconds_{};
};

}  // namespace st
