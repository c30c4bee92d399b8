// Log-probabilities of tokens from logits, shared by perplexity and multiple-choice scoring.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>

namespace smallthinker {

// log softmax(logits)[target], accumulated in double; the max is subtracted first so exp never
// overflows. `target` must be a valid index.
inline double token_log_prob(std::span<const float> logits, int32_t target) {
  float max_logit = logits[0];
  for (float v : logits) max_logit = std::max(max_logit, v);
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - max_logit);
  return static_cast<double>(logits[static_cast<size_t>(target)]) - max_logit - std::log(sum);
}

}  // namespace smallthinker
