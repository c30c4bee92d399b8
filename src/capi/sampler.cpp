// The C API's sampling parameters and samplers.
#include <cstddef>
#include <stdexcept>

#include "capi/session_parts.h"

using st_capi::fail;
using st_capi::require;

namespace st_capi {

SamplingRequest to_cpp(const st_sampling_params* given) {
  st_sampling_params p;
  st_sampling_params_init(&p);
  if (given) read_versioned(*given, offsetof(st_sampling_params, json_object), p, "st_sampling_params");
  SamplingRequest r;
  smallthinker::SamplingOptions& s = r.options;
  s.temperature = p.temperature;
  s.top_k = p.top_k;
  s.top_p = p.top_p;
  s.min_p = p.min_p;
  s.repeat_penalty = p.repeat_penalty;
  s.repeat_last_n = p.repeat_last_n;
  s.presence_penalty = p.presence_penalty;
  s.frequency_penalty = p.frequency_penalty;
  s.seed = p.seed;
  // The CLI's and the server's check, so a value one front end takes, all take.
  fail_if_problem(smallthinker::check_sampling_options(s), "st_sampling_params");
  r.json_object = p.json_object != 0;
  if (p.json_schema) r.json_schema = p.json_schema;
  return r;
}

}  // namespace st_capi

namespace {

st_sampler& live_sampler(st_sampler* s) {
  st_capi::require_live(s, "sampler");
  return *s;
}

void check_logits(const st_sampler& s, const float* logits, size_t n_vocab) {
  require(logits, "logits");
  const int64_t expected = s.loaded->model->info().n_vocab;
  if (static_cast<int64_t>(n_vocab) != expected)
    fail(ST_ERR_INVALID_ARGUMENT, "n_vocab is " + std::to_string(n_vocab) + " but the model has " + std::to_string(expected));
}

void check_ids(const st_sampler& s, const int32_t* tokens, size_t n) {
  if (n) require(tokens, "tokens");
  const int64_t n_vocab = s.loaded->model->info().n_vocab;
  for (size_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= n_vocab)
      fail(ST_ERR_INVALID_ARGUMENT, "tokens[" + std::to_string(i) + "] = " + std::to_string(tokens[i]) +
                                        " is outside the vocabulary [0, " + std::to_string(n_vocab) + ")");
}

}  // namespace

extern "C" {

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
  return st_capi::guard(st_capi::slot_of(model), [&] {
    require(out_sampler, "out_sampler");
    *out_sampler = nullptr;
    st_capi::require_live(model, "model");
    require(params, "params");
    const st_capi::SamplingRequest r = st_capi::to_cpp(params);
    auto handle = std::make_unique<st_sampler>();
    handle->loaded = model->loaded;
    handle->sampler = std::make_unique<smallthinker::Sampler>(*model->loaded->model, r.options, r.json_object, r.json_schema);
    st_capi::register_handle(handle.get());
    *out_sampler = handle.release();
    return ST_OK;
  });
}

void st_sampler_free(st_sampler* sampler) {
  if (sampler && st_capi::unregister_handle(sampler)) delete sampler;
}

const char* st_sampler_last_error(const st_sampler* sampler) {
  if (!sampler) return "sampler is NULL";
  return st_capi::is_live(sampler) ? sampler->error.get() : "sampler is not a live handle (already freed?)";
}

st_status st_sampler_sample(st_sampler* sampler, const float* logits, size_t n_vocab, int32_t* token) {
  return st_capi::guard(st_capi::slot_of(sampler), [&] {
    st_sampler& s = live_sampler(sampler);
    require(token, "token");
    check_logits(s, logits, n_vocab);
    *token = s.sampler->sample(std::span<const float>(logits, n_vocab));
    return ST_OK;
  });
}

st_status st_sampler_sample_logprobs(st_sampler* sampler, const float* logits, size_t n_vocab, int32_t* token,
                                     float* logprob, size_t n_top, int32_t* top_tokens, float* top_logprobs) {
  return st_capi::guard(st_capi::slot_of(sampler), [&] {
    st_sampler& s = live_sampler(sampler);
    require(token, "token");
    require(logprob, "logprob");
    check_logits(s, logits, n_vocab);
    if (n_top > n_vocab) fail(ST_ERR_INVALID_ARGUMENT, "n_top is larger than n_vocab");
    if (n_top) {
      require(top_tokens, "top_tokens");
      require(top_logprobs, "top_logprobs");
    }
    const auto r = s.sampler->sample_with_logprobs(std::span<const float>(logits, n_vocab), static_cast<int>(n_top));
    *token = r.chosen.token;
    *logprob = static_cast<float>(r.chosen.logprob);
    for (size_t i = 0; i < n_top; ++i) {
      top_tokens[i] = i < r.top.size() ? r.top[i].token : -1;
      top_logprobs[i] = i < r.top.size() ? static_cast<float>(r.top[i].logprob) : -INFINITY;
    }
    return ST_OK;
  });
}

st_status st_sampler_accept(st_sampler* sampler, const int32_t* tokens, size_t n_tokens) {
  return st_capi::guard(st_capi::slot_of(sampler), [&] {
    st_sampler& s = live_sampler(sampler);
    check_ids(s, tokens, n_tokens);
    for (size_t i = 0; i < n_tokens; ++i) s.sampler->accept(tokens[i]);
    return ST_OK;
  });
}

st_status st_sampler_accept_prompt(st_sampler* sampler, const int32_t* tokens, size_t n_tokens) {
  return st_capi::guard(st_capi::slot_of(sampler), [&] {
    st_sampler& s = live_sampler(sampler);
    check_ids(s, tokens, n_tokens);
    s.sampler->accept_prompt(std::span<const int32_t>(tokens, n_tokens));
    return ST_OK;
  });
}

st_status st_sampler_json_complete(st_sampler* sampler, int* complete) {
  return st_capi::guard(st_capi::slot_of(sampler), [&] {
    st_sampler& s = live_sampler(sampler);
    require(complete, "complete");
    *complete = s.sampler->json_complete() ? 1 : 0;
    return ST_OK;
  });
}

}  // extern "C"
