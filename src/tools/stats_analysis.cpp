// The numbers behind `smallthinker stats`: expert frequencies, ReGLU zero fractions, expert
// reuse distances and cache hit rates, computed from a recorded ActivityLog. Hit rates come
// from replaying the recorded routing through the engine's own expert cache (runtime layer),
// so the curve is exactly what --memory with that many slots would see, minus look-ahead.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "runtime/expert_cache.h"
#include "smallthinker/tools.h"

namespace smallthinker {
namespace {

void check_log(const ActivityLog& log) {
  if (log.n_layer <= 0 || log.n_expert <= 0 || log.k <= 0 || log.k > log.n_expert)
    throw std::invalid_argument("activity log: bad shape (" + std::to_string(log.n_layer) + " layers, " +
                                std::to_string(log.n_expert) + " experts, top-" + std::to_string(log.k) + ")");
  if (log.routing.size() % static_cast<size_t>(log.n_layer * log.k) != 0)
    throw std::invalid_argument("activity log: routing is not a whole number of tokens");
  for (int32_t e : log.routing)
    if (e < 0 || e >= log.n_expert)
      throw std::invalid_argument("activity log: expert id " + std::to_string(e) + " out of range");
  if (log.reglu_zero.size() != static_cast<size_t>(log.n_layer) || log.reglu_total.size() != log.reglu_zero.size())
    throw std::invalid_argument("activity log: ReGLU counts need one entry per layer");
}

// Bin b holds distances in [2^(b-1) + 1, 2^b] (bin 0: exactly 1): doubling bins keep both the
// "used again by the next token" spike and the long tail readable.
size_t reuse_bin(int64_t d) {
  size_t b = 0;
  while ((int64_t{1} << b) < d) ++b;
  return b;
}

}  // namespace

ActivityStats analyse_activity(const ActivityLog& log, const std::vector<double>& cache_shares_in) {
  check_log(log);
  const size_t L = static_cast<size_t>(log.n_layer), E = static_cast<size_t>(log.n_expert);
  const size_t K = static_cast<size_t>(log.k), T = log.n_tokens();
  ActivityStats s;

  // Frequencies: share of tokens whose top-K includes the expert (a layer's row sums to K).
  s.expert_counts.assign(L, std::vector<uint64_t>(E, 0));
  for (size_t t = 0; t < T; ++t)
    for (size_t l = 0; l < L; ++l)
      for (size_t j = 0; j < K; ++j) ++s.expert_counts[l][static_cast<size_t>(log.routing[(t * L + l) * K + j])];
  s.expert_frequency.assign(L, std::vector<double>(E, 0.0));
  for (size_t l = 0; l < L; ++l)
    for (size_t e = 0; e < E; ++e)
      s.expert_frequency[l][e] = T ? static_cast<double>(s.expert_counts[l][e]) / static_cast<double>(T) : 0.0;

  s.zero_fraction.resize(L);
  for (size_t l = 0; l < L; ++l)
    s.zero_fraction[l] = log.reglu_total[l] ? static_cast<double>(log.reglu_zero[l]) / static_cast<double>(log.reglu_total[l]) : 0.0;

  // Reuse distance: for each use of (layer, expert), tokens since that layer last chose it.
  std::vector<int64_t> last_use(L * E, -1);
  std::vector<uint64_t> bins;
  double distance_sum = 0;
  uint64_t reuses = 0;
  for (size_t t = 0; t < T; ++t)
    for (size_t l = 0; l < L; ++l)
      for (size_t j = 0; j < K; ++j) {
        int64_t& last = last_use[l * E + static_cast<size_t>(log.routing[(t * L + l) * K + j])];
        if (last < 0) {
          ++s.first_uses;
        } else {
          const int64_t d = static_cast<int64_t>(t) - last;
          const size_t b = reuse_bin(d);
          if (bins.size() <= b) bins.resize(b + 1, 0);
          ++bins[b];
          distance_sum += static_cast<double>(d);
          ++reuses;
        }
        last = static_cast<int64_t>(t);
      }
  for (size_t b = 0; b < bins.size(); ++b)
    s.reuse.push_back({b == 0 ? 1 : (int64_t{1} << (b - 1)) + 1, int64_t{1} << b, bins[b]});
  s.mean_reuse_distance = reuses ? distance_sum / static_cast<double>(reuses) : 0.0;

  // Hit rate vs cache size, per policy: the recorded routing replayed through the cache.
  std::vector<double> shares = cache_shares_in;
  if (shares.empty())
    for (int i = 1; i <= 20; ++i) shares.push_back(i / 20.0);
  for (double share : shares)
    if (!(share > 0 && share <= 1))
      throw std::invalid_argument("cache size share " + std::to_string(share) + " is not in (0, 1]");
  std::sort(shares.begin(), shares.end());
  st::RoutingTrace trace;
  trace.n_layer = log.n_layer;
  trace.n_expert = log.n_expert;
  trace.k = log.k;
  trace.experts = log.routing;
  const int total = log.n_layer * log.n_expert;
  for (st::CachePolicy p : {st::CachePolicy::lru, st::CachePolicy::lfu_aging, st::CachePolicy::lfu_cyclic}) {
    CacheCurve curve{st::cache_policy_name(p), {}};
    for (double share : shares) {
      // The cache must hold one layer's K experts at once (they are pinned while in use).
      const int slots = std::max(log.k, static_cast<int>(std::lround(share * total)));
      const double hit = T ? st::replay_trace(trace, slots, p).hit_rate() : 0.0;
      curve.points.push_back({share, slots, static_cast<uint64_t>(slots) * log.expert_slot_bytes, hit});
    }
    s.cache_curves.push_back(std::move(curve));
  }
  return s;
}

}  // namespace smallthinker
