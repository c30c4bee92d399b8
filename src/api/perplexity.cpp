// Perplexity with llama.cpp's conventions, so numbers compare across engines: non-overlapping
// chunks of n_ctx tokens, each evaluated from an empty KV cache; only the second half of a
// chunk is scored (every scored token then has at least n_ctx/2 tokens of context), and the
// error bar is ppl times the standard error of the mean negative log-likelihood.
#include <algorithm>
#include <cmath>
#include <span>
#include <stdexcept>
#include <string>

#include "api/log_prob.h"
#include "smallthinker/engine.h"
#include "smallthinker/tools.h"

namespace smallthinker {

PerplexityResult compute_perplexity(const std::shared_ptr<Model>& model, const std::vector<int32_t>& tokens,
                                    const SessionOptions& session_options, int max_chunks,
                                    const std::function<void(int, double)>& on_chunk) {
  SessionOptions so = session_options;
  if (so.n_ctx <= 0) so.n_ctx = model->info().n_ctx_train;
  const int64_t n_ctx = so.n_ctx;
  if (n_ctx < 4) throw std::invalid_argument("perplexity needs a context of at least 4 tokens (-c)");
  const int64_t n_vocab = model->info().n_vocab;
  PerplexityResult r;
  r.n_text_tokens = tokens.size();
  int n_chunks = static_cast<int>(static_cast<int64_t>(tokens.size()) / n_ctx);
  if (n_chunks == 0)
    throw std::invalid_argument("the text has " + std::to_string(tokens.size()) + " tokens, fewer than one chunk of " +
                                std::to_string(n_ctx) + " (use a longer text or a smaller -c)");
  if (max_chunks > 0) n_chunks = std::min(n_chunks, max_chunks);
  for (int32_t t : tokens)
    if (t < 0 || t >= n_vocab) throw std::invalid_argument("token id " + std::to_string(t) + " is outside the vocabulary");

  Session session(model, so);
  const int64_t first = n_ctx / 2;
  double nll_sum = 0, nll2_sum = 0;
  uint64_t count = 0;
  for (int c = 0; c < n_chunks; ++c) {
    const std::span<const int32_t> chunk(tokens.data() + static_cast<size_t>(c) * static_cast<size_t>(n_ctx),
                                         static_cast<size_t>(n_ctx));
    session.reset();
    const std::span<const float> logits = session.eval(chunk, /*all_logits=*/true);
    // The logits at position j predict token j + 1: score j = first .. n_ctx - 2.
    for (int64_t j = first; j + 1 < n_ctx; ++j) {
      const double v = -token_log_prob(logits.subspan(static_cast<size_t>(j * n_vocab), static_cast<size_t>(n_vocab)),
                                       chunk[static_cast<size_t>(j + 1)]);
      nll_sum += v;
      nll2_sum += v * v;
      ++count;
    }
    r.chunk_ppl.push_back(std::exp(nll_sum / static_cast<double>(count)));
    if (on_chunk) on_chunk(c, r.chunk_ppl.back());
  }
  r.n_chunks = n_chunks;
  r.n_scored = count;
  r.nll_mean = nll_sum / static_cast<double>(count);
  r.ppl = std::exp(r.nll_mean);
  // Standard error of the mean NLL: the population variance over (n - 1), as llama.cpp
  // reports it; the perplexity's error follows from d exp(x) = exp(x) dx.
  const double variance = nll2_sum / static_cast<double>(count) - r.nll_mean * r.nll_mean;
  r.nll_stderr = variance > 0 && count > 1 ? std::sqrt(variance / static_cast<double>(count - 1)) : 0.0;
  r.ppl_stderr = r.ppl * r.nll_stderr;
  return r;
}

}  // namespace smallthinker
