// Expert cache: bookkeeping cost per lookup, and hit rates of each policy on synthetic routing.
//
//   build/bench/expert_cache_bench --benchmark_filter=lookup      # ns per lookup
//   build/bench/expert_cache_bench --benchmark_filter=hit_rate    # policy table (counters)
//
// lookup/*: steady-state decode pattern (per layer: K lookups, each pinned until the layer is
// done, then unpinned) on a skewed trace; time per lookup includes the pin and unpin.
// scan_victim/*: what a linear-scan LFU would pay per miss instead of the heap, for scale.
// hit_rate/*: whole-trace replays; the counters are the result, the time is irrelevant.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "runtime/expert_cache.h"

namespace st {
namespace {

struct Shape {
  int n_layer, n_expert, k;
};
constexpr Shape kShapes[] = {{32, 32, 4}, {52, 64, 6}};  // 4B, 21B

const RoutingTrace& trace_for(int shape, bool skewed) {
  static const RoutingTrace traces[2][2] = {
      {RoutingTrace::synthetic(32, 32, 4, 1000, 0.0, 0.0, 1), RoutingTrace::synthetic(32, 32, 4, 1000, 0.25, 0.5, 1)},
      {RoutingTrace::synthetic(52, 64, 6, 600, 0.0, 0.0, 2), RoutingTrace::synthetic(52, 64, 6, 600, 0.25, 0.5, 2)}};
  return traces[shape][skewed ? 1 : 0];
}

// Args: policy, shape index, budget in percent of all experts.
void BM_Lookup(benchmark::State& state) {
  const auto policy = static_cast<CachePolicy>(state.range(0));
  const Shape sh = kShapes[state.range(1)];
  const RoutingTrace& t = trace_for(static_cast<int>(state.range(1)), true);
  const int n_slots = sh.n_layer * sh.n_expert * static_cast<int>(state.range(2)) / 100;
  ExpertCache cache(sh.n_layer, sh.n_expert, n_slots, policy);
  std::vector<int> held(static_cast<size_t>(sh.k));
  const size_t per_token = static_cast<size_t>(sh.n_layer * sh.k);
  size_t pos = 0, lookups = 0;
  for (auto _ : state) {
    // One token: every layer's K lookups, pinned while "in use".
    for (int l = 0; l < sh.n_layer; ++l) {
      int n_held = 0;
      for (int j = 0; j < sh.k; ++j) {
        const ExpertCache::Admit a = cache.access(l, t.experts[pos++]);
        if (a.slot >= 0) {
          cache.pin(a.slot);
          held[static_cast<size_t>(n_held++)] = a.slot;
        }
      }
      for (int j = 0; j < n_held; ++j) cache.unpin(held[static_cast<size_t>(j)]);
    }
    lookups += per_token;
    if (pos == t.experts.size()) pos = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(lookups));
  state.counters["ns_per_lookup"] = benchmark::Counter(static_cast<double>(lookups), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["hit_rate"] = cache.stats().hit_rate();
  state.counters["slots"] = n_slots;
  state.SetLabel(cache_policy_name(policy));
}
BENCHMARK(BM_Lookup)
    ->Name("lookup")
    ->ArgNames({"policy", "shape", "pct"})
    ->ArgsProduct({{0, 1, 2}, {0, 1}, {10, 30, 50}});

// The alternative to the heap: on each miss scan every slot for the lowest (count, last use)
// among unpinned ones.
void BM_ScanVictim(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::mt19937 rng(3);
  std::vector<uint32_t> count(n), pins(n);
  std::vector<uint64_t> last(n);
  for (size_t i = 0; i < n; ++i) count[i] = rng() % 16, last[i] = rng(), pins[i] = rng() % 64 == 0;
  for (auto _ : state) {
    size_t best = n;
    for (size_t i = 0; i < n; ++i) {
      if (pins[i]) continue;
      if (best == n || count[i] < count[best] || (count[i] == count[best] && last[i] < last[best])) best = i;
    }
    benchmark::DoNotOptimize(best);
    last[best % n] += n;  // vary the input a little between iterations
  }
}
BENCHMARK(BM_ScanVictim)->Name("scan_victim")->Arg(100)->Arg(300)->Arg(1000)->Arg(3000);

// Args: policy, shape, skewed (0/1), budget percent. One replay of the whole trace.
void BM_HitRate(benchmark::State& state) {
  const auto policy = static_cast<CachePolicy>(state.range(0));
  const Shape sh = kShapes[state.range(1)];
  const RoutingTrace& t = trace_for(static_cast<int>(state.range(1)), state.range(2) != 0);
  const int n_slots = sh.n_layer * sh.n_expert * static_cast<int>(state.range(3)) / 100;
  CacheStats s;
  for (auto _ : state) s = replay_trace(t, n_slots, policy);
  state.counters["hit_rate"] = s.hit_rate();
  state.counters["budget_share"] = static_cast<double>(n_slots) / (sh.n_layer * sh.n_expert);
  state.SetLabel(cache_policy_name(policy));
}
BENCHMARK(BM_HitRate)
    ->Name("hit_rate")
    ->ArgNames({"policy", "shape", "skewed", "pct"})
    ->ArgsProduct({{0, 1, 2}, {0, 1}, {0, 1}, {10, 20, 30, 50}})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace st

BENCHMARK_MAIN();
