// Token sampler: turns one step's logits into a token id.
//
// The chain and the meaning of every knob follow llama.cpp's default sampler, so settings carry
// over from llama-cli / llama-server unchanged:
//
//   penalties (repeat, presence, frequency) -> logit bias -> allowed-token mask
//     -> top_k -> top_p -> min_p -> temperature -> seeded random draw
//
// top_p and min_p therefore see the untempered distribution (normalised over the top_k
// survivors), and temperature only reshapes what is left. temperature <= 0 is greedy: argmax
// of the penalised, biased, masked logits, lowest id on ties.
//
// Usage per generated token: `id = s.sample(logits); s.accept(id);`. sample() never records
// anything itself, so the caller decides which tokens count for the penalties (llama.cpp also
// feeds prompt tokens through accept()).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <utility>
#include <vector>

namespace st {

struct LogitBias {
  int32_t token;
  float bias;  // added to the logit; -INFINITY bans the token
};

struct SamplerParams {
  // seed value meaning "draw a fresh seed from std::random_device" (the CLI's `--seed -1`).
  static constexpr uint64_t kRandomSeed = UINT64_MAX;

  float temperature = 0.8f;       // <= 0: greedy argmax
  int32_t top_k = 40;             // <= 0: off
  float top_p = 0.95f;            // >= 1: off
  float min_p = 0.05f;            // <= 0: off; keeps p >= min_p * p_max
  float repeat_penalty = 1.0f;    // 1: off; logit > 0 ? logit / penalty : logit * penalty
  int32_t repeat_last_n = 64;     // penalty window in accepted tokens; 0: off, -1: since reset()
  float presence_penalty = 0.0f;  // OpenAI: logit -= presence if the token is in the window
  float frequency_penalty = 0.0f; // OpenAI: logit -= frequency * count in the window
  uint64_t seed = kRandomSeed;
  std::vector<LogitBias> logit_bias;  // applied after the penalties; ids must be < n_vocab
  // Constrained decoding (JSON mode): when set, only tokens for which it returns true can be
  // sampled. sample() calls it only for tokens that could still be chosen (with top_k, usually
  // a few hundred per step), so it must not rely on seeing every id; its answer must not change
  // during one sample() call, but may between calls (e.g. a grammar advanced after accept()).
  std::function<bool(int32_t token)> allowed_token;
};

class Sampler {
 public:
  // Throws std::invalid_argument if n_vocab <= 0 or a logit_bias id is outside [0, n_vocab).
  explicit Sampler(SamplerParams params, int n_vocab);

  // Returns an id in [0, n_vocab). Never modifies `logits`. NaN logits count as -inf. If no
  // allowed token has a finite logit after penalties and bias, the result is the argmax of the
  // raw logits over the allowed tokens (lowest id on ties; over all tokens if the mask allows
  // none), so a broken model step cannot crash the caller.
  // Throws std::invalid_argument if logits.size() != n_vocab.
  int32_t sample(std::span<const float> logits);

  // Records a token for the penalty window (a no-op when every penalty is off). Ids outside
  // [0, n_vocab) are ignored.
  void accept(int32_t token);

  // Forgets the penalty window and re-seeds the generator with seed(), so the same logits
  // produce the same tokens again.
  void reset();

  // Penalties and logit bias exactly as sample() applies them, in place on a full logit vector
  // (size n_vocab): for `--n-probs` after penalties, and so tests can check the arithmetic.
  void apply_adjustments(std::span<float> logits) const;

  // The seed actually in use (the drawn one when params.seed == kRandomSeed), for logging.
  uint64_t seed() const { return seed_; }
  const SamplerParams& params() const { return params_; }
  int n_vocab() const { return n_vocab_; }

 private:
  struct Candidate {
    int32_t id;
    float logit;
  };

  // True when repeat/presence/frequency penalties can change anything; otherwise accept()
  // records nothing and counts_ is never allocated.
  bool penalizing() const;
  template <typename LogitAt>
  void adjust(LogitAt&& logit_at) const;
  // Chain steps on cand_[0, n); each returns the new n.
  size_t nucleus(size_t n, float max_logit);      // top_p (and min_p, which it runs first)
  size_t min_p_filter(size_t n, float max_logit);
  int32_t fallback(std::span<const float> logits) const;
  double uniform01();  // [0, 1) from the top 53 bits of one mt19937_64 output

  SamplerParams params_;
  int n_vocab_;
  uint64_t seed_;
  // mt19937_64's output sequence is fixed by the standard, and the conversion to double is ours
  // (std::uniform_real_distribution differs between standard libraries), so a seed gives the
  // same tokens with any compiler.
  std::mt19937_64 rng_;

  // Penalty window: ring_ holds the last repeat_last_n accepted ids (unused when the window is
  // unbounded), counts_[id] how often id occurs in it, and seen_ the distinct ids with a
  // non-zero count, so applying penalties costs O(window) rather than O(n_vocab).
  std::vector<int32_t> ring_;
  size_t ring_pos_ = 0;
  size_t ring_size_ = 0;
  std::vector<int32_t> counts_;  // [n_vocab] when penalizing(), else empty
  std::vector<int32_t> seen_;

  // Work buffer reused by every sample() call: no allocation per token in steady state.
  std::vector<Candidate> cand_;  // [n_vocab]
};

// The n most likely tokens under softmax(logits) (NaN as -inf), most likely first, ties by lowest
// id; n is clamped to logits.size(). For `--n-probs`-style output; allocates, not for hot loops.
std::vector<std::pair<int32_t, float>> top_probs(std::span<const float> logits, size_t n);

}  // namespace st
