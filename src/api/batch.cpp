// Serving several sequences at once: the public Sampler (with the optional JSON constraint)
// and BatchDecoder, which advances N KV caches through one shared forward pass per step.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "api/kv_types.h"
#include "api/model_impl.h"
#include "api/session_impl.h"
#include "runtime/kv_cache.h"
#include "sampling/sampler.h"

#if __has_include("sampling/json_constraint.h")
#include "sampling/json_constraint.h"
#include "sampling/tool_call_constraint.h"
#define ST_HAVE_JSON_CONSTRAINT 1
#endif

namespace smallthinker {

// ---- Sampler ----

struct Sampler::Impl {
  Impl(const st::SamplerParams& params, int n_vocab) : sampler(params, n_vocab) {}
  st::Sampler sampler;
#ifdef ST_HAVE_JSON_CONSTRAINT
  std::unique_ptr<st::JsonConstraint> json;
  std::unique_ptr<st::ToolCallConstraint> tools;
  std::vector<float> masked;  // logits with the constraint applied (reused every step)
#endif
  std::vector<float> adjusted;  // logprobs: the logits after penalties and bias (reused)
  // The logits sample() draws from: the caller's, or masked by the JSON constraint.
  std::span<const float> constrained(std::span<const float> logits) {
#ifdef ST_HAVE_JSON_CONSTRAINT
    if (json || tools) {
      masked.assign(logits.begin(), logits.end());
      if (json) json->apply(masked);
      if (tools) tools->apply(masked);
      return masked;
    }
#endif
    return logits;
  }
};

namespace {

// log_softmax(logits) at `chosen` and at the n_top largest logits (NaN counts as -inf),
// accumulated in double with the max subtracted first.
Sampler::Sampled log_softmax_top(std::span<const float> logits, int32_t chosen, int n_top) {
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  auto value = [&](size_t i) { return std::isnan(logits[i]) ? kNegInf : static_cast<double>(logits[i]); };
  double max_logit = kNegInf;
  for (size_t i = 0; i < logits.size(); ++i) max_logit = std::max(max_logit, value(i));
  double sum = 0;
  if (max_logit > kNegInf)
    for (size_t i = 0; i < logits.size(); ++i) sum += std::exp(value(i) - max_logit);
  const double log_norm = max_logit > kNegInf ? max_logit + std::log(sum) : 0.0;
  auto logprob = [&](int32_t id) { return max_logit > kNegInf ? value(static_cast<size_t>(id)) - log_norm : kNegInf; };

  Sampler::Sampled out;
  out.chosen = {chosen, logprob(chosen)};
  const size_t n = std::min(logits.size(), static_cast<size_t>(std::max(n_top, 0)));
  if (n == 0) return out;
  std::vector<int32_t> ids(logits.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end(), [&](int32_t a, int32_t b) {
    const double la = value(static_cast<size_t>(a)), lb = value(static_cast<size_t>(b));
    return la > lb || (la == lb && a < b);
  });
  for (size_t i = 0; i < n; ++i) out.top.push_back({ids[i], logprob(ids[i])});
  return out;
}

}  // namespace

Sampler::Sampler(const Model& model, const SamplingOptions& options, bool json_object, const std::string& json_schema)
    : impl_(std::make_unique<Impl>(sampler_params(options), static_cast<int>(model.info().n_vocab))) {
  if (!json_object && json_schema.empty()) return;
#ifdef ST_HAVE_JSON_CONSTRAINT
  if (!json_schema.empty())
    impl_->json = std::make_unique<st::JsonConstraint>(
        st::JsonConstraint::for_schema(model.token_bytes(), model.stop_tokens(), json_schema));
  else
    impl_->json = std::make_unique<st::JsonConstraint>(model.token_bytes(), model.stop_tokens());
#else
  throw std::runtime_error("JSON-constrained sampling is not available in this build");
#endif
}

Sampler::Sampler(const Model& model, const SamplingOptions& options, const std::vector<Tool>& tools, ToolChoice choice,
                 bool parallel_calls)
    : impl_(std::make_unique<Impl>(sampler_params(options), static_cast<int>(model.info().n_vocab))) {
#ifdef ST_HAVE_JSON_CONSTRAINT
  std::vector<st::ToolCallConstraint::Tool> specs;
  for (const Tool& t : tools) specs.push_back({t.name, t.parameters});
  const auto mode = choice == ToolChoice::required ? st::ToolCallConstraint::Mode::required
                    : choice == ToolChoice::none   ? st::ToolCallConstraint::Mode::none
                                                   : st::ToolCallConstraint::Mode::automatic;
  try {
    impl_->tools = std::make_unique<st::ToolCallConstraint>(model.token_bytes(), model.stop_tokens(), std::move(specs), mode,
                                                            parallel_calls);
  } catch (const st::ToolCallConstraint::SchemaError& e) {
    throw ToolSchemaError(e.tool, e.what());
  }
#else
  (void)tools, (void)choice, (void)parallel_calls;
  throw std::runtime_error("constrained tool calls are not available in this build");
#endif
}

Sampler::~Sampler() = default;

int32_t Sampler::sample(std::span<const float> logits) { return impl_->sampler.sample(impl_->constrained(logits)); }

Sampler::Sampled Sampler::sample_with_logprobs(std::span<const float> logits, int n_top) {
  const std::span<const float> from = impl_->constrained(logits);
  const int32_t token = impl_->sampler.sample(from);
  impl_->adjusted.assign(from.begin(), from.end());
  impl_->sampler.apply_adjustments(impl_->adjusted);  // the penalties and bias sample() applied
  return log_softmax_top(impl_->adjusted, token, n_top);
}

void Sampler::accept(int32_t token) {
  impl_->sampler.accept(token);
#ifdef ST_HAVE_JSON_CONSTRAINT
  if (impl_->json) impl_->json->accept(token);
  if (impl_->tools) impl_->tools->accept(token);
#endif
}

void Sampler::accept_prompt(std::span<const int32_t> tokens) {
  for (int32_t t : tokens) impl_->sampler.accept(t);
}

bool Sampler::json_complete() const {
#ifdef ST_HAVE_JSON_CONSTRAINT
  if (impl_->json) return impl_->json->complete();
#endif
  return true;
}

uint64_t Sampler::seed() const { return impl_->sampler.seed(); }

// ---- BatchDecoder ----

struct BatchDecoder::Impl {
  SessionOptions options;
  std::unique_ptr<st::Forward> forward;
  std::vector<std::unique_ptr<st::KvCache>> kv;
  std::vector<std::vector<int32_t>> cached;
  std::vector<st::SeqChunk> seq;  // reused by step()
  std::vector<std::span<const float>> out;

  void check_slot(int slot) const {
    if (slot < 0 || slot >= static_cast<int>(kv.size()))
      throw std::out_of_range("slot " + std::to_string(slot) + " is outside [0, " + std::to_string(kv.size()) + ")");
  }
};

BatchDecoder::BatchDecoder(std::shared_ptr<Model> model, int n_slots, SessionOptions options)
    : model_(std::move(model)), impl_(std::make_unique<Impl>()) {
  auto& m = ModelAccess::impl(*model_);
  if (n_slots <= 0) throw std::invalid_argument("the number of slots (--parallel) must be positive");
  if (const auto p = check_session_options(options))
    throw std::invalid_argument("session option " + p->field + " " + p->message);
  if (options.n_ctx <= 0) options.n_ctx = m.config.n_ctx_train;
  // The memory plan reserved KV memory for plan_ctx tokens in all; the slots share it.
  if (m.plan && options.n_ctx * n_slots > m.plan_ctx)
    throw std::invalid_argument(std::to_string(n_slots) + " slots of " + std::to_string(options.n_ctx) +
                                " tokens exceed the " + std::to_string(m.plan_ctx) +
                                " tokens of KV cache the memory plan reserved");
  impl_->options = options;
  impl_->forward = std::make_unique<st::Forward>(m.config, m.weights, *m.experts, *m.pool);
  impl_->forward->set_sparse(m.sparse_reglu);
  if (m.dense) impl_->forward->set_embedding_reader(m.dense->embedding_reader());
  const auto [k_type, v_type] = kv_cache_types(options.kv_types, options.kv_f32);
  for (int i = 0; i < n_slots; ++i)
    impl_->kv.push_back(std::make_unique<st::KvCache>(m.config, options.n_ctx, k_type, v_type));
  impl_->cached.resize(static_cast<size_t>(n_slots));
}

BatchDecoder::~BatchDecoder() = default;
int BatchDecoder::n_slots() const { return static_cast<int>(impl_->kv.size()); }
int64_t BatchDecoder::n_ctx() const { return impl_->options.n_ctx; }
int64_t BatchDecoder::n_batch() const { return impl_->options.n_batch; }

const std::vector<int32_t>& BatchDecoder::cached(int slot) const {
  impl_->check_slot(slot);
  return impl_->cached[static_cast<size_t>(slot)];
}

int64_t BatchDecoder::keep(int slot, int64_t n) {
  impl_->check_slot(slot);
  auto& tokens = impl_->cached[static_cast<size_t>(slot)];
  auto& kv = *impl_->kv[static_cast<size_t>(slot)];
  n = std::clamp<int64_t>(n, 0, static_cast<int64_t>(tokens.size()));
  if (!kv.truncate(n)) {
    kv.clear();  // a ring layer lost positions the prefix needs: start over
    n = 0;
  }
  tokens.resize(static_cast<size_t>(n));
  return n;
}

std::vector<std::span<const float>> BatchDecoder::step(std::span<const Chunk> chunks) {
  if (chunks.empty()) throw std::invalid_argument("BatchDecoder::step: no chunks");
  const int64_t n_vocab = model_->info().n_vocab;
  auto& seq = impl_->seq;
  seq.clear();
  for (size_t i = 0; i < chunks.size(); ++i) {
    const Chunk& c = chunks[i];
    impl_->check_slot(c.slot);
    for (size_t j = 0; j < i; ++j)
      if (chunks[j].slot == c.slot) throw std::invalid_argument("BatchDecoder::step: slot " + std::to_string(c.slot) + " appears twice");
    for (int32_t t : c.tokens)
      if (t < 0 || t >= n_vocab)
        throw std::out_of_range("token id " + std::to_string(t) + " is outside the vocabulary [0, " + std::to_string(n_vocab) + ")");
    seq.push_back({impl_->kv[static_cast<size_t>(c.slot)].get(), c.tokens, false});
  }
  const std::span<const float> logits = impl_->forward->run(seq);  // validates empty chunks and context
  for (const Chunk& c : chunks) {
    auto& tokens = impl_->cached[static_cast<size_t>(c.slot)];
    tokens.insert(tokens.end(), c.tokens.begin(), c.tokens.end());
  }
  impl_->out.clear();
  for (size_t i = 0; i < chunks.size(); ++i) {
    impl_->out.push_back(logits.subspan(i * static_cast<size_t>(n_vocab), static_cast<size_t>(n_vocab)));
    check_finite_logits(impl_->out.back(), ModelAccess::impl(*model_).file->path());
  }
  return impl_->out;
}

}  // namespace smallthinker
