// The C API's generation: evaluate a prompt, then sample token by token with a callback that
// can stop. Unconstrained, it is the engine's Session::generate (the CLI's path, so the same
// tokens); with a JSON constraint, the same loop over a constrained smallthinker::Sampler.
#include <algorithm>

#include "capi/session_parts.h"

using st_capi::fail;

namespace {

using OnToken = std::function<bool(int32_t)>;

// Session::generate's loop (prompt tokens feed the penalties only; stop after a stop token, at
// n_predict or a full context; the last token is not evaluated) with the constraint applied.
void generate_constrained(st_session& s, std::span<const int32_t> prompt, int n_predict,
                          const st_capi::SamplingRequest& r, const std::vector<int32_t>& stops, const OnToken& each) {
  smallthinker::Sampler sampler(*s.loaded->model, r.options, r.json_object, r.json_schema);
  sampler.accept_prompt(prompt);
  std::span<const float> logits = s.session->eval(prompt);
  s.history.insert(s.history.end(), prompt.begin(), prompt.end());
  // -1: no limit of our own; the loop ends at a stop token or a full context (Session::generate's rule).
  for (int i = 0; n_predict < 0 || i < n_predict; ++i) {
    const int32_t tok = sampler.sample(logits);
    sampler.accept(tok);
    const bool stop = std::find(stops.begin(), stops.end(), tok) != stops.end();
    if (!each(tok)) break;
    if (stop || (n_predict >= 0 && i + 1 == n_predict) || s.session->n_past() >= s.session->n_ctx()) break;
    logits = s.session->eval(std::span<const int32_t>(&tok, 1));
    s.history.push_back(tok);
  }
}

// The engine's generate; the history gets what the KV cache now holds: the prompt and every
// generated token but the last.
void generate_plain(st_session& s, std::span<const int32_t> prompt, int n_predict, const st_capi::SamplingRequest& r,
                    const std::vector<int32_t>& stops, const OnToken& each) {
  std::vector<int32_t> generated;
  auto record = [&](int32_t tok) {
    generated.push_back(tok);
    return each(tok);
  };
  // The cache holds the prompt and every generated token but the last (also after a failure
  // part-way, which leaves the cache as it was before the failing evaluation).
  auto sync = [&] {
    s.history.insert(s.history.end(), prompt.begin(), prompt.end());
    s.history.insert(s.history.end(), generated.begin(), generated.end());
    s.history.resize(std::min(s.history.size(), static_cast<size_t>(s.session->n_past())));
  };
  try {
    s.session->generate(prompt, n_predict, r.options, stops, record);
  } catch (...) {
    sync();
    throw;
  }
  sync();
}

}  // namespace

extern "C" {

st_status st_session_generate(st_session* session, const int32_t* prompt, size_t n_prompt, int32_t n_predict,
                              const st_sampling_params* params, st_token_fn on_token, void* user_data,
                              size_t* n_generated) {
  return st_capi::guard(st_capi::slot_of(session), [&] {
    if (n_generated) *n_generated = 0;
    st_session& s = st_capi::live_session(session);
    st_capi::fail_if_problem(smallthinker::check_n_predict(n_predict), nullptr);
    const st_capi::SamplingRequest r = st_capi::to_cpp(params);
    st_capi::check_tokens(s, prompt, n_prompt);
    s.logits = {};
    const smallthinker::Model& m = *s.loaded->model;
    const bool text = m.has_tokenizer();
    std::unique_ptr<smallthinker::TextStreamer> streamer;
    if (text) streamer = std::make_unique<smallthinker::TextStreamer>(m);
    const std::vector<int32_t> stops = text ? m.stop_tokens() : std::vector<int32_t>{};
    size_t count = 0;
    const OnToken each = [&](int32_t tok) {
      ++count;
      if (!on_token) return true;
      const std::string piece = streamer ? streamer->push(tok) : std::string();
      return on_token(tok, piece.data(), piece.size(), user_data) != 0;
    };
    const std::span<const int32_t> p(prompt, n_prompt);
    std::lock_guard<std::mutex> lock(s.loaded->compute);
    if (r.constrained()) generate_constrained(s, p, n_predict, r, stops, each);
    else generate_plain(s, p, n_predict, r, stops, each);
    if (n_generated) *n_generated = count;
    return ST_OK;
  });
}

}  // extern "C"
