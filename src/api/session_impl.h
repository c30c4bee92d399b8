// Session::Impl, private to the library: the session's KV cache, its forward pass and the
// observers of its activity. Shared by engine.cpp and the batched decoder of the server.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/forward.h"
#include "runtime/expert_cache.h"
#include "runtime/kv_cache.h"
#include "sampling/sampler.h"
#include "smallthinker/engine.h"
#include "smallthinker/options_check.h"

namespace smallthinker {

// The runtime sampler's parameters from the public options (Session::generate, Sampler);
// throws std::invalid_argument naming an option out of range (check_sampling_options).
inline st::SamplerParams sampler_params(const SamplingOptions& so) {
  if (const auto p = check_sampling_options(so))
    throw std::invalid_argument("sampling option " + p->field + " " + p->message);
  st::SamplerParams sp;
  sp.temperature = so.temperature;
  sp.top_k = so.top_k;
  sp.top_p = so.top_p;
  sp.min_p = so.min_p;
  sp.repeat_penalty = so.repeat_penalty;
  sp.repeat_last_n = so.repeat_last_n;
  sp.presence_penalty = so.presence_penalty;
  sp.frequency_penalty = so.frequency_penalty;
  sp.seed = so.seed;
  return sp;
}

// Throws when a forward pass produced a NaN or infinite logit: sampling from them silently
// yields nothing or garbage. Cheap next to the pass itself (one read of n_vocab floats).
inline void check_finite_logits(std::span<const float> logits, const std::string& model_path) {
  // This runs on every token over the whole vocabulary: first a branch-free pass over the
  // exponent bits (all ones: inf or NaN), which the compiler vectorises, and the search for
  // the value to name only when one is there.
  uint32_t any_non_finite = 0;
  for (const float f : logits) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    any_non_finite |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  if (!any_non_finite) return;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (std::isfinite(logits[i])) continue;
    throw std::runtime_error(model_path + ": the forward pass produced a non-finite logit (" +
                             std::to_string(logits[i]) + " for token " + std::to_string(i) +
                             "): the file's weights or hyper-parameters (rope.freq_base, "
                             "attention.layer_norm_rms_epsilon) likely hold NaN, infinite or out-of-range values");
  }
}

// Records the router's choices for a routing trace. The forward pass reports one layer of a
// whole batch at a time; choices are kept layer-major per batch and interleaved token-major
// (the trace's order) when the batch's last layer arrives.
class TraceRecorder final : public st::ForwardObserver {
 public:
  TraceRecorder(const st::ModelConfig& c, std::string path) : path_(std::move(path)) {
    trace_.n_layer = c.n_layer;
    trace_.n_expert = c.n_expert;
    trace_.k = c.n_expert_used;
    batch_.resize(static_cast<size_t>(c.n_layer));
  }
  ~TraceRecorder() override {
    try {
      trace_.save(path_);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "warning: could not save the routing trace: %s\n", e.what());
    }
  }
  void on_routing(int layer, int64_t n_tok, int k, const int32_t* experts, const float*) override {
    batch_[static_cast<size_t>(layer)].assign(experts, experts + n_tok * k);
    if (layer + 1 < trace_.n_layer) return;
    for (int64_t t = 0; t < n_tok; ++t)
      for (const auto& l : batch_) trace_.experts.insert(trace_.experts.end(), l.begin() + t * k, l.begin() + (t + 1) * k);
  }

 private:
  std::string path_;
  st::RoutingTrace trace_;
  std::vector<std::vector<int32_t>> batch_;  // [layer][n_tok * k]
};

// Passes the forward pass's observations to the trace recorder and the user's observer.
class ObserverFanout final : public st::ForwardObserver {
 public:
  ObserverFanout(st::ForwardObserver* trace, ActivityObserver* user) : trace_(trace), user_(user) {}
  void on_routing(int layer, int64_t n_tok, int k, const int32_t* experts, const float* weights) override {
    if (trace_) trace_->on_routing(layer, n_tok, k, experts, weights);
    if (user_) user_->on_routing(layer, n_tok, k, experts, weights);
  }
  void on_reglu(int layer, int64_t n_rows, int64_t n_ff, int64_t n_zero) override {
    if (user_) user_->on_reglu(layer, n_rows, n_ff, n_zero);
  }

 private:
  st::ForwardObserver* trace_;
  ActivityObserver* user_;
};

struct Session::Impl {
  std::unique_ptr<st::KvCache> kv;
  std::unique_ptr<st::Forward> forward;
  std::unique_ptr<TraceRecorder> recorder;
  std::unique_ptr<ObserverFanout> fanout;
  std::vector<float> all_logits;
};

}  // namespace smallthinker
