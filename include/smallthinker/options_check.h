// The one range check of the options a caller chooses (sampling, session, model), shared by
// the CLI, the server's request parsing and the library itself, so a value one of them accepts
// is accepted by all. Header-only and free of the library's code: the server's protocol layer
// (and its fuzz target) compiles it without linking libsmallthinker.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "smallthinker/engine.h"

namespace smallthinker {

// The first problem found: `field` is the option's name in the API (the server's JSON key:
// "temperature", "top_p", "n_ctx", ...), `message` says what is wrong without naming it
// ("must be between 0 and 1 (got 2)"), so each front end prefixes its own spelling.
struct OptionProblem {
  std::string field;
  std::string message;
};

namespace options_detail {

inline std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

// nullopt when lo <= v <= hi and v is finite; otherwise the problem, naming the range.
inline std::optional<OptionProblem> in_range(const char* field, double v, double lo, double hi) {
  if (std::isfinite(v) && v >= lo && v <= hi) return std::nullopt;
  return OptionProblem{field, "must be between " + number_text(lo) + " and " + number_text(hi) + " (got " +
                                  number_text(v) + ")"};
}

}  // namespace options_detail

// Largest context and batch a session may ask for: far above any SmallThinker model's
// training context, and small enough that KV and scratch sizes cannot overflow.
inline constexpr int64_t kMaxContextTokens = int64_t{1} << 24;
inline constexpr int64_t kMaxBatchTokens = int64_t{1} << 20;

inline std::optional<OptionProblem> check_sampling_options(const SamplingOptions& s) {
  using options_detail::in_range;
  if (auto p = in_range("temperature", s.temperature, 0, 10)) {
    p->message += " (0 = greedy)";
    return p;
  }
  if (auto p = in_range("top_k", s.top_k, 0, 1 << 20)) return p;
  if (auto p = in_range("top_p", s.top_p, 0, 1)) return p;
  if (auto p = in_range("min_p", s.min_p, 0, 1)) return p;
  // A repeated token's positive logit is divided by the penalty: 0 would make it infinite.
  if (auto p = in_range("repeat_penalty", s.repeat_penalty, 0, 10)) {
    p->message += " (1 = off)";
    return p;
  }
  if (s.repeat_penalty == 0) return OptionProblem{"repeat_penalty", "must be greater than 0 (1 = off; got 0)"};
  if (auto p = in_range("repeat_last_n", s.repeat_last_n, 0, 1 << 20)) return p;
  if (auto p = in_range("presence_penalty", s.presence_penalty, -2, 2)) return p;
  if (auto p = in_range("frequency_penalty", s.frequency_penalty, -2, 2)) return p;
  return std::nullopt;
}

inline std::optional<OptionProblem> check_session_options(const SessionOptions& s) {
  using options_detail::in_range;
  if (auto p = in_range("n_ctx", static_cast<double>(s.n_ctx), 0, static_cast<double>(kMaxContextTokens))) {
    p->message += " (0 = the model's training context)";
    return p;
  }
  if (auto p = in_range("n_batch", static_cast<double>(s.n_batch), 1, static_cast<double>(kMaxBatchTokens))) return p;
  return std::nullopt;
}

inline std::optional<OptionProblem> check_model_options(const ModelOptions& m) {
  using options_detail::in_range;
  if (m.path.empty()) return OptionProblem{"model", "is required (a GGUF file)"};
  if (auto p = in_range("n_threads", m.n_threads, 0, 1 << 16)) {
    p->message += " (0 = one per physical core)";
    return p;
  }
  if (m.window)
    if (auto p = in_range("window", static_cast<double>(*m.window), 1, static_cast<double>(kMaxContextTokens))) return p;
  if (auto p = in_range("plan_ctx", static_cast<double>(m.plan_ctx), 1, static_cast<double>(kMaxContextTokens))) return p;
  if (auto p = in_range("plan_batch", static_cast<double>(m.plan_batch), 1, static_cast<double>(kMaxBatchTokens))) return p;
  return std::nullopt;
}

// Tokens to generate: -1 means until an end-of-generation token or a full context, as in
// llama.cpp; other negative counts are mistakes.
inline std::optional<OptionProblem> check_n_predict(int64_t n_predict) {
  if (n_predict >= -1) return std::nullopt;
  return OptionProblem{"n_predict", "must be -1 (until the end of the text or the context) or a count >= 0 (got " +
                                        std::to_string(n_predict) + ")"};
}

}  // namespace smallthinker
