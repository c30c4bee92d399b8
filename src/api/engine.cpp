// libsmallthinker's implementation: wires the layers together (GGUF mapping -> config and
// weights -> forward pass over an expert source -> KV cache, sampler) behind engine.h.
#include "smallthinker/engine.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <stdexcept>
#include <string>

#include "api/model_impl.h"
#include "formats/gguf_names.h"
#include "runtime/kv_cache.h"
#include "runtime/sampler.h"

namespace smallthinker {

namespace {

std::string layer_kind(const st::LayerConfig& l) {
  std::string s = l.window > 0 ? "swa(" + std::to_string(l.window) + ")" : "global";
  return s + (l.use_rope ? "-rope" : "-nope");
}

}  // namespace

std::shared_ptr<Model> Model::load(const ModelOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->file = st::GgufFile::open(options.path);
  st::ConfigOverrides ov;
  if (options.gating) {
    if (*options.gating == "softmax") ov.gating = st::GatingFunc::softmax;
    else if (*options.gating == "sigmoid") ov.gating = st::GatingFunc::sigmoid;
    else throw std::invalid_argument("--gating must be 'softmax' or 'sigmoid', not '" + *options.gating + "'");
  }
  if (options.window) ov.window = *options.window;
  impl->info.warnings.clear();
  impl->config = st::config_from_gguf(*impl->file, ov, &impl->info.warnings);
  impl->weights = st::weights_from_gguf(*impl->file, impl->config);
  if (impl->file->has(st::gguf_names::kTokTokens)) {
    impl->tokenizer = std::make_unique<st::Tokenizer>(st::Tokenizer::from_gguf(*impl->file));
    impl->chat = st::ChatTemplate::from_template_string(impl->tokenizer->chat_template());
  }
  impl->pool = std::make_unique<st::ThreadPool>(options.n_threads);
  impl->experts = std::make_unique<st::ResidentExpertSource>(impl->weights);

  const auto& c = impl->config;
  ModelInfo& i = impl->info;
  i.name = c.name;
  i.n_layer = c.n_layer;
  i.n_embd = c.n_embd;
  i.n_head = c.n_head;
  i.n_head_kv = c.n_head_kv;
  i.head_dim = c.head_dim;
  i.n_expert = c.n_expert;
  i.n_expert_used = c.n_expert_used;
  i.n_ff_exp = c.n_ff_exp;
  i.n_vocab = c.n_vocab;
  i.n_ctx_train = c.n_ctx_train;
  i.gating = c.gating == st::GatingFunc::softmax ? "softmax" : "sigmoid";
  for (const auto& l : c.layers) i.layer_kinds.push_back(layer_kind(l));
  i.file_bytes = impl->file->file_size();
  return std::shared_ptr<Model>(new Model(std::move(impl)));
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;
const ModelInfo& Model::info() const { return impl_->info; }
int Model::n_threads() const { return impl_->pool->size(); }

struct Session::Impl {
  std::unique_ptr<st::KvCache> kv;
  std::unique_ptr<st::Forward> forward;
  std::vector<float> all_logits;
};

Session::Session(std::shared_ptr<Model> model, SessionOptions options)
    : model_(std::move(model)), options_(options), impl_(std::make_unique<Impl>()) {
  auto& m = model_->impl();
  if (options_.n_ctx <= 0) options_.n_ctx = m.config.n_ctx_train;
  if (options_.n_batch <= 0) throw std::invalid_argument("batch size must be positive");
  impl_->kv = std::make_unique<st::KvCache>(m.config, options_.n_ctx,
                                            options_.kv_f32 ? st::TensorType::F32 : st::TensorType::F16);
  impl_->forward = std::make_unique<st::Forward>(m.config, m.weights, *m.experts, *m.pool);
}

Session::~Session() = default;
int64_t Session::n_past() const { return impl_->kv->n_past(); }
int64_t Session::n_ctx() const { return impl_->kv->n_ctx(); }
void Session::reset() { impl_->kv->clear(); }

std::span<const float> Session::eval(std::span<const int32_t> tokens, bool all_logits) {
  if (tokens.empty()) throw std::invalid_argument("eval: no tokens");
  const int64_t V = model_->info().n_vocab;
  if (all_logits) impl_->all_logits.resize(tokens.size() * static_cast<size_t>(V));
  std::span<const float> last;
  for (size_t b = 0; b < tokens.size(); b += static_cast<size_t>(options_.n_batch)) {
    const size_t n = std::min(tokens.size() - b, static_cast<size_t>(options_.n_batch));
    st::SeqChunk chunk{impl_->kv.get(), tokens.subspan(b, n), all_logits};
    last = impl_->forward->run(std::span<const st::SeqChunk>(&chunk, 1));
    if (all_logits) std::copy(last.begin(), last.end(), impl_->all_logits.begin() + static_cast<std::ptrdiff_t>(b * V));
  }
  if (all_logits) return impl_->all_logits;
  return last.subspan(last.size() - static_cast<size_t>(V));
}

std::vector<int32_t> Session::generate(std::span<const int32_t> prompt, int n_predict, const SamplingOptions& so,
                                       const std::vector<int32_t>& stop_tokens,
                                       const std::function<bool(int32_t)>& on_token, Timings* timings) {
  using clock = std::chrono::steady_clock;
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
  st::Sampler sampler(sp, static_cast<int>(model_->info().n_vocab));
  for (int32_t t : prompt) sampler.accept(t);

  const auto t0 = clock::now();
  std::span<const float> logits = eval(prompt);
  const auto t1 = clock::now();
  std::vector<int32_t> out;
  for (int i = 0; i < n_predict; ++i) {
    const int32_t tok = sampler.sample(logits);
    sampler.accept(tok);
    out.push_back(tok);
    const bool stop = std::find(stop_tokens.begin(), stop_tokens.end(), tok) != stop_tokens.end();
    if (on_token && !on_token(tok)) break;
    if (stop || i + 1 == n_predict || n_past() >= n_ctx()) break;
    logits = eval(std::span<const int32_t>(&out.back(), 1));
  }
  const auto t2 = clock::now();
  if (timings) {
    timings->prompt_tokens = static_cast<int64_t>(prompt.size());
    timings->prompt_seconds = std::chrono::duration<double>(t1 - t0).count();
    timings->generated_tokens = static_cast<int64_t>(out.size());
    timings->generate_seconds = std::chrono::duration<double>(t2 - t1).count();
  }
  return out;
}

uint64_t peak_rss_bytes() {
  // VmHWM is the peak resident set; ru_maxrss is the same in KiB where /proc is absent.
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_maxrss) * 1024;
}

}  // namespace smallthinker
