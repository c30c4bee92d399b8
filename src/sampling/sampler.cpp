#include "sampling/sampler.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>

namespace st {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr float kMaxFinite = std::numeric_limits<float>::max();

// Total order for selection and sorting: higher logit first, then lower id, so every partial
// sort and tie break is deterministic.
template <typename C>
bool better(const C& a, const C& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

float nan_to_neg_inf(float x) { return std::isnan(x) ? kNegInf : x; }

// top_p histogram: kBuckets buckets of 1/kBucketsPerNat nats each below the max logit. 32 nats
// covers every token whose probability is within e^-32 of the best; the last bucket takes the
// rest.
constexpr size_t kBuckets = 256;
constexpr double kBucketsPerNat = 8.0;

}  // namespace

Sampler::Sampler(SamplerParams params, int n_vocab)
    : params_(std::move(params)), n_vocab_(n_vocab) {
  if (n_vocab_ <= 0) throw std::invalid_argument("Sampler: n_vocab must be positive");
  for (const LogitBias& b : params_.logit_bias) {
    if (b.token < 0 || b.token >= n_vocab_) {
      throw std::invalid_argument("Sampler: logit_bias token " + std::to_string(b.token) +
                                  " outside the vocabulary of " + std::to_string(n_vocab_));
    }
  }
  seed_ = params_.seed;
  if (seed_ == SamplerParams::kRandomSeed) {
    // random_device yields 32 bits per call; two calls fill the 64-bit seed.
    std::random_device rd;
    seed_ = (uint64_t{rd()} << 32) ^ uint64_t{rd()};
    if (seed_ == SamplerParams::kRandomSeed) seed_ = 0;  // keep seed() a replayable value
  }
  rng_.seed(seed_);

  // Anything below -1 is read as "unbounded" too rather than rejected: it cannot mean a size.
  if (params_.repeat_last_n < 0) params_.repeat_last_n = -1;
  if (penalizing()) {
    if (params_.repeat_last_n > 0) {
      ring_.resize(static_cast<size_t>(params_.repeat_last_n));
      seen_.reserve(std::min<size_t>(ring_.size(), static_cast<size_t>(n_vocab_)));
    }
    counts_.assign(static_cast<size_t>(n_vocab_), 0);
  }
  cand_.resize(static_cast<size_t>(n_vocab_));
}

bool Sampler::penalizing() const {
  return params_.repeat_last_n != 0 &&
         (params_.repeat_penalty != 1.0f || params_.frequency_penalty != 0.0f ||
          params_.presence_penalty != 0.0f);
}

void Sampler::accept(int32_t token) {
  if (token < 0 || token >= n_vocab_ || !penalizing()) return;
  if (params_.repeat_last_n > 0) {
    if (ring_size_ == ring_.size()) {
      // Window full: the oldest entry (at ring_pos_) leaves before the new one takes its slot.
      const int32_t old = ring_[ring_pos_];
      if (--counts_[static_cast<size_t>(old)] == 0) {
        auto it = std::find(seen_.begin(), seen_.end(), old);
        *it = seen_.back();
        seen_.pop_back();
      }
    } else {
      ++ring_size_;
    }
    ring_[ring_pos_] = token;
    ring_pos_ = (ring_pos_ + 1) % ring_.size();
  }
  if (counts_[static_cast<size_t>(token)]++ == 0) seen_.push_back(token);
}

void Sampler::reset() {
  for (int32_t t : seen_) counts_[static_cast<size_t>(t)] = 0;
  seen_.clear();
  ring_pos_ = 0;
  ring_size_ = 0;
  rng_.seed(seed_);
}

// Penalties, then bias, through an accessor so sample() can work on its candidate buffer and
// apply_adjustments() on a plain float vector with the same arithmetic.
template <typename LogitAt>
void Sampler::adjust(LogitAt&& logit_at) const {
  const float repeat = params_.repeat_penalty;
  const float freq = params_.frequency_penalty;
  const float presence = params_.presence_penalty;
  for (int32_t t : seen_) {  // empty unless penalizing()
    float& l = logit_at(t);
    const int32_t count = counts_[static_cast<size_t>(t)];
    // llama.cpp's rule: dividing a negative logit would raise it, so those are multiplied,
    // which pushes every repeated token down whatever its sign.
    l = l <= 0.0f ? l * repeat : l / repeat;
    l -= static_cast<float>(count) * freq + (count > 0 ? presence : 0.0f);
  }
  for (const LogitBias& b : params_.logit_bias) logit_at(b.token) += b.bias;
}

void Sampler::apply_adjustments(std::span<float> logits) const {
  if (logits.size() != static_cast<size_t>(n_vocab_)) {
    throw std::invalid_argument("Sampler::apply_adjustments: logits size != n_vocab");
  }
  adjust([&](int32_t t) -> float& { return logits[static_cast<size_t>(t)]; });
}

// Used when no allowed token has a finite adjusted logit: there is no distribution to draw from,
// but the caller still needs a valid id. The raw logits are the model's last word, so take
// their argmax among the allowed tokens (the lowest allowed id when those are all -inf too),
// and ignore a mask that allows nothing rather than return an out-of-range id.
int32_t Sampler::fallback(std::span<const float> logits) const {
  auto argmax = [&](bool use_mask) {
    int32_t best = -1;
    float best_logit = kNegInf;
    for (int32_t i = 0; i < n_vocab_; ++i) {
      if (use_mask && !params_.allowed_token(i)) continue;
      const float l = nan_to_neg_inf(logits[static_cast<size_t>(i)]);
      if (best < 0 || l > best_logit) {
        best = i;
        best_logit = l;
      }
    }
    return best;
  };
  const int32_t best = params_.allowed_token ? argmax(true) : -1;
  return best >= 0 ? best : argmax(false);
}

double Sampler::uniform01() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

int32_t Sampler::sample(std::span<const float> logits) {
  if (logits.size() != static_cast<size_t>(n_vocab_)) {
    throw std::invalid_argument("Sampler::sample: logits size " + std::to_string(logits.size()) +
                                " != n_vocab " + std::to_string(n_vocab_));
  }
  Candidate* c = cand_.data();
  auto cmp = [](const Candidate& a, const Candidate& b) { return better(a, b); };

  // 1. Penalties and bias address tokens by id, so when any apply, copy first (index == id) and
  //    adjust in place; otherwise compaction reads the caller's logits directly.
  const bool adjusting = !params_.logit_bias.empty() || (penalizing() && !seen_.empty());
  if (adjusting) {
    for (int32_t i = 0; i < n_vocab_; ++i) c[i] = {i, logits[static_cast<size_t>(i)]};
    adjust([&](int32_t t) -> float& { return c[t].logit; });
  }

  // 2. Greedy: top_k / top_p / min_p always keep the best token, so only the argmax of the allowed
  // finite logits matters and nothing needs copying. A temperature so small that 1/T overflows
  // is greedy in the limit too.
  const bool masked = static_cast<bool>(params_.allowed_token);
  if (!(params_.temperature > 0.0f) || !std::isfinite(1.0f / params_.temperature)) {
    float best = kNegInf;
    int32_t best_id = -1;
    for (int32_t i = 0; i < n_vocab_; ++i) {
      const float l = adjusting ? c[i].logit : logits[static_cast<size_t>(i)];
      if (!(l > best)) continue;  // strict: the lowest id wins ties; drops NaN and -inf
      if (masked && !params_.allowed_token(i)) continue;
      best = l;
      best_id = i;
    }
    return best_id >= 0 ? best_id : fallback(logits);
  }
  const size_t k = params_.top_k > 0 && params_.top_k < n_vocab_
                       ? static_cast<size_t>(params_.top_k) : 0;

  // 3. One pass: mask, drop zero-probability tokens, and select the top k. `floor` is the k-th
  //    best logit seen so far; anything not above it can never enter the top k (an equal logit
  //    comes later, so has a higher id and loses the tie), which turns most of the vocabulary
  //    into a single compare and also spares those tokens the mask call. Survivors collect at
  //    the front of cand_ (write index n <= read index i, so this is safe in place) and are cut
  //    back to k with nth_element whenever the buffer fills.
  //    `!(l > floor)` also drops NaN. +inf is clamped to the largest float so softmax gives all
  //    the mass to the +inf tokens instead of computing inf - inf = NaN.
  const size_t flush_at = k + std::max<size_t>(k, 256);
  float floor = kNegInf;
  float max_logit = kNegInf;
  size_t n = 0;
  for (int32_t i = 0; i < n_vocab_; ++i) {
    const float l = adjusting ? c[i].logit : logits[static_cast<size_t>(i)];
    if (!(l > floor)) continue;
    if (masked && !params_.allowed_token(i)) continue;
    const float clamped = std::min(l, kMaxFinite);
    max_logit = std::max(max_logit, clamped);
    c[n++] = {i, clamped};
    if (k > 0 && n == flush_at) {
      std::nth_element(c, c + (k - 1), c + n, cmp);
      n = k;
      floor = c[k - 1].logit;
    }
  }
  if (n == 0) return fallback(logits);
  if (k > 0 && n > k) {
    std::nth_element(c, c + (k - 1), c + n, cmp);
    n = k;
  }
  // The max is always among the top k, so max_logit stays valid from here on.

  // 4. top_p, then min_p (nucleus() runs both; see there for why min_p goes first inside).
  if (params_.top_p < 1.0f) {
    n = nucleus(n, max_logit);
  } else if (params_.min_p > 0.0f) {
    n = min_p_filter(n, max_logit);
  }

  // 5. Temperature, then the draw: weight exp((l - max) / T), pick by inverse CDF. The exponent
  //    is formed in double (l - max cannot overflow there even for clamped +inf logits, and
  //    -inf * (1/T = 0) cannot occur), exp in float is plenty for a weight in [0, 1], and the
  //    sum is double so 150k small weights do not lose the tail.
  const double inv_t = 1.0 / static_cast<double>(params_.temperature);
  auto weight = [&](const Candidate& x) {
    return static_cast<double>(
        std::exp(static_cast<float>((static_cast<double>(x.logit) - max_logit) * inv_t)));
  };
  double total = 0.0;
  for (size_t i = 0; i < n; ++i) total += weight(c[i]);
  const double target = uniform01() * total;
  double cum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    cum += weight(c[i]);
    if (target < cum) return c[i].id;
  }
  return c[n - 1].id;  // rounding left target == total
}

// min_p keeps logit >= max + log(min_p), i.e. p >= min_p * p_max; the max itself always stays
// (min_p > 1 would otherwise empty the set). Returns the new candidate count.
size_t Sampler::min_p_filter(size_t n, float max_logit) {
  Candidate* c = cand_.data();
  const float threshold = max_logit + std::log(params_.min_p);
  Candidate* end = std::partition(c, c + n, [&](const Candidate& x) {
    return x.logit >= threshold || x.logit == max_logit;
  });
  return static_cast<size_t>(end - c);
}

// top_p keeps the shortest most-likely-first prefix whose probability (normalised over the
// top_k survivors) reaches top_p; min_p then cuts by its own threshold. Both keep a prefix of
// the sorted order, so running min_p first, with top_p still normalising by the pre-min_p sum,
// cuts in the same place as llama.cpp's top_p -> min_p and gives top_p fewer tokens to handle.
//
// With top_k off the nucleus can be thousands of tokens, and a full sort of 150k candidates
// costs milliseconds. So the normalising pass also histograms probability mass by logit
// distance from the max (kBucketsPerNat per nat, bucket 0 nearest); the bucket where the
// running mass reaches top_p holds the cut. Tokens in earlier buckets are all kept, unsorted;
// only the cut bucket is sorted and walked. Grouping uses the same bucket_of() throughout, and
// if rounding puts the cut outside the predicted bucket the walk simply continues into the
// neighbouring groups, so the result never depends on the histogram being exact.
size_t Sampler::nucleus(size_t n, float max_logit) {
  Candidate* c = cand_.data();
  auto cmp = [](const Candidate& a, const Candidate& b) { return better(a, b); };
  auto bucket_of = [max_logit](float l) {
    const double d = (static_cast<double>(max_logit) - l) * kBucketsPerNat;
    return d < kBuckets - 1 ? static_cast<size_t>(d) : size_t{kBuckets - 1};
  };
  // Weights in [0, 1]: float exp is accurate enough and several times cheaper than double;
  // the sums are double. The exponent is formed in double so l - max cannot overflow.
  auto prob = [max_logit](float l) {
    return static_cast<double>(std::exp(static_cast<float>(static_cast<double>(l) - max_logit)));
  };

  std::array<double, kBuckets> mass{};
  double norm = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double w = prob(c[i].logit);
    norm += w;
    mass[bucket_of(c[i].logit)] += w;
  }
  if (params_.min_p > 0.0f) n = min_p_filter(n, max_logit);

  const double target = static_cast<double>(params_.top_p) * norm;
  size_t cut_bucket = kBuckets - 1;
  double before_cut = 0.0;  // mass of the buckets before cut_bucket
  for (size_t bucket = 0; bucket < kBuckets; ++bucket) {
    if (before_cut + mass[bucket] >= target) {
      cut_bucket = bucket;
      break;
    }
    before_cut += mass[bucket];
  }

  // [0, a): before the cut bucket; [a, b): in it; [b, n): after it. The first partition is the
  // only pass over everything; the second only splits the (small) kept side.
  const size_t b = static_cast<size_t>(
      std::partition(c, c + n, [&](const Candidate& x) { return bucket_of(x.logit) <= cut_bucket; }) - c);
  const size_t a = static_cast<size_t>(
      std::partition(c, c + b, [&](const Candidate& x) { return bucket_of(x.logit) < cut_bucket; }) - c);

  // Sorts [from, to) and walks it; returns the kept count once the running mass reaches target.
  // When min_p removed tokens from the earlier buckets, before_cut overstates their mass, so it
  // is only a shortcut when min_p is off.
  double cum = 0.0;
  auto walk = [&](size_t from, size_t to) -> std::optional<size_t> {
    std::sort(c + from, c + to, cmp);
    for (size_t i = from; i < to; ++i) {
      cum += prob(c[i].logit);
      if (cum >= target) return i + 1;
    }
    return std::nullopt;
  };
  std::optional<size_t> kept;
  if (params_.min_p > 0.0f) {
    for (size_t i = 0; i < a; ++i) cum += prob(c[i].logit);
  } else {
    cum = before_cut;
  }
  if (cum >= target) {  // rounding moved the cut into the earlier buckets: walk them sorted
    cum = 0.0;
    kept = walk(0, a);
  }
  if (!kept) kept = walk(a, b);
  if (!kept) kept = walk(b, n);
  return kept.value_or(n);
}

std::vector<std::pair<int32_t, float>> top_probs(std::span<const float> logits, size_t n) {
  struct Entry {
    int32_t id;
    float logit;
  };
  std::vector<Entry> all(logits.size());
  float max_logit = kNegInf;
  for (size_t i = 0; i < logits.size(); ++i) {
    const float l = std::min(nan_to_neg_inf(logits[i]), kMaxFinite);
    all[i] = {static_cast<int32_t>(i), l};
    max_logit = std::max(max_logit, l);
  }
  n = std::min(n, all.size());
  std::vector<std::pair<int32_t, float>> out;
  if (n == 0) return out;
  out.reserve(n);

  auto cmp = [](const Entry& a, const Entry& b) { return better(a, b); };
  std::partial_sort(all.begin(), all.begin() + static_cast<ptrdiff_t>(n), all.end(), cmp);
  if (max_logit == kNegInf) {
    // Every logit is -inf (or NaN): no distribution exists, report zeros rather than NaN.
    for (size_t i = 0; i < n; ++i) out.emplace_back(all[i].id, 0.0f);
    return out;
  }
  double norm = 0.0;
  for (const Entry& e : all) norm += std::exp(static_cast<double>(e.logit) - max_logit);
  for (size_t i = 0; i < n; ++i) {
    const double p = std::exp(static_cast<double>(all[i].logit) - max_logit) / norm;
    out.emplace_back(all[i].id, static_cast<float>(p));
  }
  return out;
}

}  // namespace st
