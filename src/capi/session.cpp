// The C API's sessions (a KV cache over a model): evaluation, logits, context, state, statistics.
#include <cstddef>
#include <cstring>
#include <stdexcept>

#include "capi/out_buffer.h"
#include "capi/session_parts.h"

using st_capi::fail;
using st_capi::require;

namespace st_capi {

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

st_session& live_session(st_session* s) {
  require_live(s, "session");
  return *s;
}

}  // namespace st_capi

namespace {

using st_capi::live_session;

// The saved state: this header, then n_tokens int32 ids (host byte order).
struct StateHeader {
  char magic[8];  // "STSTATE1"
  int64_t n_vocab;
  int64_t n_tokens;
};
constexpr char kStateMagic[8] = {'S', 'T', 'S', 'T', 'A', 'T', 'E', '1'};

// Evaluates tokens after what the session holds, keeping its history in step with the KV
// cache (the engine leaves the cache unchanged when an evaluation fails).
void eval_into(st_session& s, std::span<const int32_t> tokens) {
  s.logits = {};
  std::lock_guard<std::mutex> lock(s.loaded->compute);
  s.logits = s.session->eval(tokens);
  s.history.insert(s.history.end(), tokens.begin(), tokens.end());
}

}  // namespace

extern "C" {

void st_session_options_init(st_session_options* options) {
  if (!options) return;
  *options = st_session_options{};
  options->struct_size = sizeof(st_session_options);
  options->n_batch = 512;
}

st_status st_session_new(st_model* model, const st_session_options* options, st_session** out_session) {
  return st_capi::guard(st_capi::slot_of(model), [&] {
    require(out_session, "out_session");
    *out_session = nullptr;
    st_capi::require_live(model, "model");
    st_session_options o;
    st_session_options_init(&o);
    if (options) st_capi::read_versioned(*options, offsetof(st_session_options, kv_type_k), o, "st_session_options");
    smallthinker::SessionOptions so;
    so.n_ctx = o.n_ctx;
    so.n_batch = o.n_batch;
    st_capi::fail_if_problem(smallthinker::check_session_options(so), "st_session_options");  // the CLI's check
    so.n_ctx = o.n_ctx > 0 ? o.n_ctx : model->loaded->default_ctx;  // 0 left: the training context
    so.n_batch = o.n_batch;
    so.kv_types = model->loaded->kv_types;
    if (o.kv_type_k) so.kv_types.k = o.kv_type_k;
    if (o.kv_type_v) so.kv_types.v = o.kv_type_v;
    auto handle = std::make_unique<st_session>();
    handle->loaded = model->loaded;
    handle->session = std::make_unique<smallthinker::Session>(model->loaded->model, so);
    st_capi::register_handle(handle.get());
    *out_session = handle.release();
    return ST_OK;
  });
}

void st_session_free(st_session* session) {
  if (session && st_capi::unregister_handle(session)) delete session;
}

const char* st_session_last_error(const st_session* session) {
  if (!session) return "session is NULL";
  return st_capi::is_live(session) ? session->error.get() : "session is not a live handle (already freed?)";
}

st_status st_session_eval(st_session* session, const int32_t* tokens, size_t n_tokens) {
  return st_capi::guard(st_capi::slot_of(session), [&] {
    st_session& s = live_session(session);
    st_capi::check_tokens(s, tokens, n_tokens);
    eval_into(s, std::span<const int32_t>(tokens, n_tokens));
    return ST_OK;
  });
}

st_status st_session_logits(st_session* session, const float** logits, size_t* n_vocab) {
  return st_capi::guard(st_capi::slot_of(session), [&] {
    st_session& s = live_session(session);
    require(logits, "logits");
    require(n_vocab, "n_vocab");
    if (s.logits.empty())
      fail(ST_ERR_INVALID_ARGUMENT, "no logits: call st_session_eval first (generate and reset discard them)");
    *logits = s.logits.data();
    *n_vocab = s.logits.size();
    return ST_OK;
  });
}

int64_t st_session_n_past(const st_session* session) {
  return session && st_capi::is_live(session) ? session->session->n_past() : -1;
}
int64_t st_session_n_ctx(const st_session* session) {
  return session && st_capi::is_live(session) ? session->session->n_ctx() : -1;
}

st_status st_session_reset(st_session* session) {
  return st_capi::guard(st_capi::slot_of(session), [&] {
    st_session& s = live_session(session);
    s.logits = {};
    s.session->reset();
    s.history.clear();
    return ST_OK;
  });
}

st_status st_session_tokens(st_session* session, int32_t* tokens, size_t capacity, size_t* n_tokens) {
  return st_capi::guard(st_capi::slot_of(session), [&] {
    st_session& s = live_session(session);
    return st_capi::write_out(s.history.data(), s.history.size(), tokens, capacity, n_tokens, "tokens");
  });
}

st_status st_session_save_state(st_session* session, void* state, size_t capacity, size_t* state_size) {
  return st_capi::guard(st_capi::slot_of(session), [&] {
    st_session& s = live_session(session);
    StateHeader h{};
    std::memcpy(h.magic, kStateMagic, sizeof h.magic);
    h.n_vocab = s.loaded->model->info().n_vocab;
    h.n_tokens = static_cast<int64_t>(s.history.size());
    std::string bytes(reinterpret_cast<const char*>(&h), sizeof h);
    bytes.append(reinterpret_cast<const char*>(s.history.data()), s.history.size() * sizeof(int32_t));
    return st_capi::write_out(bytes.data(), bytes.size(), static_cast<char*>(state), capacity, state_size, "state");
  });
}

st_status st_session_load_state(st_session* session, const void* state, size_t state_size) {
  return st_capi::guard(st_capi::slot_of(session), [&] {
    st_session& s = live_session(session);
    require(state, "state");
    StateHeader h{};
    if (state_size < sizeof h) fail(ST_ERR_INVALID_ARGUMENT, "state_size is smaller than a state's header");
    std::memcpy(&h, state, sizeof h);
    if (std::memcmp(h.magic, kStateMagic, sizeof h.magic) != 0)
      fail(ST_ERR_INVALID_ARGUMENT, "state does not start with STSTATE1: not saved by st_session_save_state");
    const size_t room = (state_size - sizeof h) / sizeof(int32_t);  // bounds n_tokens before multiplying
    if (h.n_tokens < 0 || static_cast<uint64_t>(h.n_tokens) > room ||
        state_size != sizeof h + static_cast<size_t>(h.n_tokens) * sizeof(int32_t))
      fail(ST_ERR_INVALID_ARGUMENT, "state_size " + std::to_string(state_size) + " does not match the state's token count");
    if (h.n_vocab != s.loaded->model->info().n_vocab)
      fail(ST_ERR_INVALID_ARGUMENT, "the state is of a model with " + std::to_string(h.n_vocab) +
                                        " tokens, this session's has " + std::to_string(s.loaded->model->info().n_vocab));
    std::vector<int32_t> ids(static_cast<size_t>(h.n_tokens));
    std::memcpy(ids.data(), static_cast<const char*>(state) + sizeof h, ids.size() * sizeof(int32_t));
    if (static_cast<int64_t>(ids.size()) > s.session->n_ctx())
      fail(ST_ERR_CONTEXT_FULL, "the state holds " + std::to_string(ids.size()) + " tokens, the session's context " +
                                    std::to_string(s.session->n_ctx()));
    s.logits = {};
    s.session->reset();
    s.history.clear();
    if (!ids.empty()) {
      st_capi::check_tokens(s, ids.data(), ids.size());
      eval_into(s, ids);
    }
    return ST_OK;
  });
}

st_status st_session_reglu_stats(st_session* session, uint64_t* neurons, uint64_t* zero) {
  return st_capi::guard(st_capi::slot_of(session), [&] {
    st_session& s = live_session(session);
    require(neurons, "neurons");
    require(zero, "zero");
    const smallthinker::Session::ReluStats r = s.session->relu_stats();
    *neurons = r.neurons;
    *zero = r.zero;
    return ST_OK;
  });
}

st_status st_model_runtime_stats(st_model* model, st_runtime_stats* stats) {
  return st_capi::guard(st_capi::slot_of(model), [&] {
    st_capi::require_live(model, "model");
    require(stats, "stats");
    st_capi::check_struct_size(stats->struct_size, offsetof(st_runtime_stats, cache_slots), "st_runtime_stats");
    std::lock_guard<std::mutex> lock(model->loaded->compute);  // the store's counters move during a forward pass
    const smallthinker::RuntimeStats r = model->loaded->model->runtime_stats();
    st_runtime_stats out{};
    out.budgeted = r.budgeted ? 1 : 0;
    out.expert_hits = r.hits;
    out.expert_misses = r.misses;
    out.expert_hit_rate = r.expert_hit_rate;
    out.experts_read = r.experts_read;
    out.bytes_read = r.bytes_read;
    out.io_wait_seconds = r.io_wait_seconds;
    out.cache_slots = r.cache_slots;
    out.cache_resident = r.cache_resident;
    out.prefetched = r.prefetched;
    out.speculated = r.speculated;
    out.lookahead_accuracy = r.lookahead_accuracy;
    st_capi::write_versioned(out, offsetof(st_runtime_stats, cache_slots), *stats, "st_runtime_stats");
    return ST_OK;
  });
}

}  // extern "C"
