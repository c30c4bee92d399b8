// The C API's sessions (a KV cache over a model), samplers and generation.
#include <cmath>
#include <stdexcept>

#include "capi/handles.h"

using st_capi::fail;
using st_capi::require;

namespace {

smallthinker::SamplingOptions to_cpp(const st_sampling_params* p) {
  st_sampling_params d;
  if (!p) {
    st_sampling_params_init(&d);
    p = &d;
  }
  st_capi::check_struct_size(p->struct_size, sizeof(st_sampling_params), "st_sampling_params");
  if (!std::isfinite(p->temperature) || !std::isfinite(p->presence_penalty) || !std::isfinite(p->frequency_penalty))
    fail(ST_ERR_INVALID_ARGUMENT, "st_sampling_params: temperature, presence_penalty and frequency_penalty must be finite");
  if (p->top_k < 0) fail(ST_ERR_INVALID_ARGUMENT, "st_sampling_params.top_k is negative (0: off)");
  if (!(p->top_p >= 0 && p->top_p <= 1)) fail(ST_ERR_INVALID_ARGUMENT, "st_sampling_params.top_p must be in [0, 1]");
  if (!(p->min_p >= 0 && p->min_p <= 1)) fail(ST_ERR_INVALID_ARGUMENT, "st_sampling_params.min_p must be in [0, 1]");
  if (!(p->repeat_penalty > 0)) fail(ST_ERR_INVALID_ARGUMENT, "st_sampling_params.repeat_penalty must be positive (1: off)");
  if (p->repeat_last_n < 0) fail(ST_ERR_INVALID_ARGUMENT, "st_sampling_params.repeat_last_n is negative");
  smallthinker::SamplingOptions s;
  s.temperature = p->temperature;
  s.top_k = p->top_k;
  s.top_p = p->top_p;
  s.min_p = p->min_p;
  s.repeat_penalty = p->repeat_penalty;
  s.repeat_last_n = p->repeat_last_n;
  s.presence_penalty = p->presence_penalty;
  s.frequency_penalty = p->frequency_penalty;
  s.seed = p->seed;
  return s;
}

// Ids outside the vocabulary and more tokens than the context has room for are refused
// before anything is evaluated, so a failed call leaves the session as it was.
void check_tokens(const st_session& s, const int32_t* tokens, size_t n) {
  if (n == 0) fail(ST_ERR_INVALID_ARGUMENT, "no tokens: give at least one");
  require(tokens, "tokens");
  const int64_t n_vocab = s.loaded->model->info().n_vocab;
  for (size_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= n_vocab)
      fail(ST_ERR_INVALID_ARGUMENT, "tokens[" + std::to_string(i) + "] = " + std::to_string(tokens[i]) +
                                        " is outside the vocabulary [0, " + std::to_string(n_vocab) + ")");
  const int64_t room = s.session->n_ctx() - s.session->n_past();
  if (static_cast<int64_t>(n) > room)
    fail(ST_ERR_CONTEXT_FULL, std::to_string(n) + " tokens do not fit: the context holds " +
                                  std::to_string(s.session->n_past()) + " of " + std::to_string(s.session->n_ctx()) +
                                  " (reset the session or create it with a larger n_ctx)");
}

st_capi::ErrorSlot* slot_of(st_session* s) { return s ? &s->error : nullptr; }
st_capi::ErrorSlot* slot_of(st_sampler* s) { return s ? &s->error : nullptr; }

}  // namespace

extern "C" {

void st_session_options_init(st_session_options* options) {
  if (!options) return;
  *options = st_session_options{};
  options->struct_size = sizeof(st_session_options);
  options->n_batch = 512;
}

st_status st_session_new(st_model* model, const st_session_options* options, st_session** out_session) {
  return st_capi::guard(model ? &model->error : nullptr, [&] {
    require(out_session, "out_session");
    *out_session = nullptr;
    require(model, "model");
    st_session_options o;
    st_session_options_init(&o);
    if (options) {
      st_capi::check_struct_size(options->struct_size, sizeof(st_session_options), "st_session_options");
      o = *options;
    }
    if (o.n_ctx < 0) fail(ST_ERR_INVALID_ARGUMENT, "st_session_options.n_ctx is negative (0: the model options' n_ctx)");
    if (o.n_batch <= 0) fail(ST_ERR_INVALID_ARGUMENT, "st_session_options.n_batch must be positive");
    smallthinker::SessionOptions so;
    so.n_ctx = o.n_ctx > 0 ? o.n_ctx : model->loaded->default_ctx;  // 0 left: the training context
    so.n_batch = o.n_batch;
    auto handle = std::make_unique<st_session>();
    handle->loaded = model->loaded;
    handle->session = std::make_unique<smallthinker::Session>(model->loaded->model, so);
    *out_session = handle.release();
    return ST_OK;
  });
}

void st_session_free(st_session* session) { delete session; }

const char* st_session_last_error(const st_session* session) {
  return session ? session->error.get() : "session is NULL";
}

st_status st_session_eval(st_session* session, const int32_t* tokens, size_t n_tokens) {
  return st_capi::guard(slot_of(session), [&] {
    require(session, "session");
    check_tokens(*session, tokens, n_tokens);
    session->logits = {};
    std::lock_guard<std::mutex> lock(session->loaded->compute);
    session->logits = session->session->eval(std::span<const int32_t>(tokens, n_tokens));
    return ST_OK;
  });
}

st_status st_session_logits(st_session* session, const float** logits, size_t* n_vocab) {
  return st_capi::guard(slot_of(session), [&] {
    require(session, "session");
    require(logits, "logits");
    require(n_vocab, "n_vocab");
    if (session->logits.empty())
      fail(ST_ERR_INVALID_ARGUMENT, "no logits: call st_session_eval first (generate and reset discard them)");
    *logits = session->logits.data();
    *n_vocab = session->logits.size();
    return ST_OK;
  });
}

int64_t st_session_n_past(const st_session* session) { return session ? session->session->n_past() : -1; }
int64_t st_session_n_ctx(const st_session* session) { return session ? session->session->n_ctx() : -1; }

st_status st_session_reset(st_session* session) {
  return st_capi::guard(slot_of(session), [&] {
    require(session, "session");
    session->logits = {};
    session->session->reset();
    return ST_OK;
  });
}

st_status st_session_reglu_stats(st_session* session, uint64_t* neurons, uint64_t* zero) {
  return st_capi::guard(slot_of(session), [&] {
    require(session, "session");
    require(neurons, "neurons");
    require(zero, "zero");
    const smallthinker::Session::ReluStats r = session->session->relu_stats();
    *neurons = r.neurons;
    *zero = r.zero;
    return ST_OK;
  });
}

st_status st_model_runtime_stats(st_model* model, st_runtime_stats* stats) {
  return st_capi::guard(model ? &model->error : nullptr, [&] {
    require(model, "model");
    require(stats, "stats");
    st_capi::check_struct_size(stats->struct_size, sizeof(st_runtime_stats), "st_runtime_stats");
    std::lock_guard<std::mutex> lock(model->loaded->compute);  // the store's counters move during a forward pass
    const smallthinker::RuntimeStats r = model->loaded->model->runtime_stats();
    *stats = st_runtime_stats{};
    stats->struct_size = sizeof(st_runtime_stats);
    stats->budgeted = r.budgeted ? 1 : 0;
    stats->expert_hits = r.hits;
    stats->expert_misses = r.misses;
    stats->expert_hit_rate = r.expert_hit_rate;
    stats->experts_read = r.experts_read;
    stats->bytes_read = r.bytes_read;
    stats->io_wait_seconds = r.io_wait_seconds;
    return ST_OK;
  });
}

void st_sampling_params_init(st_sampling_params* params) {
  if (!params) return;
  const smallthinker::SamplingOptions d;
  *params = st_sampling_params{};
  params->struct_size = sizeof(st_sampling_params);
  params->temperature = d.temperature;
  params->top_k = d.top_k;
  params->top_p = d.top_p;
  params->min_p = d.min_p;
  params->repeat_penalty = d.repeat_penalty;
  params->repeat_last_n = d.repeat_last_n;
  params->presence_penalty = d.presence_penalty;
  params->frequency_penalty = d.frequency_penalty;
  params->seed = d.seed;
}

st_status st_sampler_new(st_model* model, const st_sampling_params* params, st_sampler** out_sampler) {
  return st_capi::guard(model ? &model->error : nullptr, [&] {
    require(out_sampler, "out_sampler");
    *out_sampler = nullptr;
    require(model, "model");
    require(params, "params");
    const smallthinker::SamplingOptions so = to_cpp(params);
    auto handle = std::make_unique<st_sampler>();
    handle->loaded = model->loaded;
    handle->sampler = std::make_unique<smallthinker::Sampler>(*model->loaded->model, so);
    *out_sampler = handle.release();
    return ST_OK;
  });
}

void st_sampler_free(st_sampler* sampler) { delete sampler; }

const char* st_sampler_last_error(const st_sampler* sampler) {
  return sampler ? sampler->error.get() : "sampler is NULL";
}

st_status st_sampler_sample(st_sampler* sampler, const float* logits, size_t n_vocab, int32_t* token) {
  return st_capi::guard(slot_of(sampler), [&] {
    require(sampler, "sampler");
    require(logits, "logits");
    require(token, "token");
    const int64_t expected = sampler->loaded->model->info().n_vocab;
    if (static_cast<int64_t>(n_vocab) != expected)
      fail(ST_ERR_INVALID_ARGUMENT, "n_vocab is " + std::to_string(n_vocab) + " but the model has " + std::to_string(expected));
    *token = sampler->sampler->sample(std::span<const float>(logits, n_vocab));
    return ST_OK;
  });
}

st_status st_sampler_accept(st_sampler* sampler, const int32_t* tokens, size_t n_tokens) {
  return st_capi::guard(slot_of(sampler), [&] {
    require(sampler, "sampler");
    if (n_tokens) require(tokens, "tokens");
    for (size_t i = 0; i < n_tokens; ++i) sampler->sampler->accept(tokens[i]);
    return ST_OK;
  });
}

st_status st_session_generate(st_session* session, const int32_t* prompt, size_t n_prompt, int32_t n_predict,
                              const st_sampling_params* params, st_token_fn on_token, void* user_data,
                              size_t* n_generated) {
  return st_capi::guard(slot_of(session), [&] {
    if (n_generated) *n_generated = 0;
    require(session, "session");
    if (n_predict < 0) fail(ST_ERR_INVALID_ARGUMENT, "n_predict is negative");
    const smallthinker::SamplingOptions so = to_cpp(params);
    check_tokens(*session, prompt, n_prompt);
    session->logits = {};
    const smallthinker::Model& m = *session->loaded->model;
    const bool text = m.has_tokenizer();
    std::unique_ptr<smallthinker::TextStreamer> streamer;
    if (text) streamer = std::make_unique<smallthinker::TextStreamer>(m);
    const std::vector<int32_t> stops = text ? m.stop_tokens() : std::vector<int32_t>{};
    size_t count = 0;
    auto each = [&](int32_t tok) {
      ++count;
      if (!on_token) return true;
      const std::string piece = streamer ? streamer->push(tok) : std::string();
      return on_token(tok, piece.data(), piece.size(), user_data) != 0;
    };
    std::lock_guard<std::mutex> lock(session->loaded->compute);
    session->session->generate(std::span<const int32_t>(prompt, n_prompt), n_predict, so, stops, each);
    if (n_generated) *n_generated = count;
    return ST_OK;
  });
}

}  // extern "C"
