// libsmallthinker's implementation: wires the layers together (GGUF mapping -> config and
// weights -> forward pass over an expert source -> KV cache, sampler) behind engine.h.
#include "smallthinker/engine.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <numeric>
#include <thread>

#include "api/kv_types.h"
#include "api/model_impl.h"
#include "api/session_impl.h"
#include "formats/gguf_names.h"
#include "formats/output_file.h"
#include "kernels/memory_read.h"
#include "runtime/kv_cache.h"
#include "runtime/kv_state.h"
#include "sampling/sampler.h"
#include "smallthinker/options_check.h"

namespace smallthinker {

namespace {

// A "Vm...:  N kB" field of /proc/self/status in bytes, 0 where it is absent.
uint64_t proc_status_bytes(std::string_view field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 && line[field.size()] == ':')
      return std::stoull(line.substr(field.size() + 1)) * 1024;
  return 0;
}

uint64_t current_rss_bytes() { return proc_status_bytes("VmRSS"); }

// What the process costs a memory cgroup before any weight: its anonymous memory plus the whole
// of every file it runs code from (the executable and its shared libraries). Faulting in code
// reads ahead, so the page cache charged to the cgroup holds far more of those files than VmRSS
// shows: 11 MiB of cache against 3.6 MiB of mapped code for the CLI, enough to overrun a small
// budget. The model file is mapped without execute permission and so is not counted.
uint64_t process_baseline_bytes() {
  std::ifstream maps("/proc/self/maps");
  std::set<std::string> code_files;
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream fields(line);
    std::string range, perms, offset, dev, inode, path;
    fields >> range >> perms >> offset >> dev >> inode;
    std::getline(fields >> std::ws, path);
    if (perms.size() >= 3 && perms[2] == 'x' && !path.empty() && path[0] == '/') code_files.insert(path);
  }
  uint64_t bytes = proc_status_bytes("RssAnon") + proc_status_bytes("RssShmem");
  for (const std::string& f : code_files) {
    struct stat st{};
    if (::stat(f.c_str(), &st) == 0) bytes += static_cast<uint64_t>(st.st_size);
  }
  // Without /proc (or its finer fields) fall back to the resident set.
  return bytes > 0 ? std::max(bytes, current_rss_bytes()) : current_rss_bytes();
}

std::string layer_kind(const st::LayerConfig& l) {
  std::string s = l.window > 0 ? "swa(" + std::to_string(l.window) + ")" : "global";
  return s + (l.use_rope ? "-rope" : "-nope");
}

// Plans the budget, copies the dense weights out of the file and opens the expert store.
void setup_budget(Model::Impl& m, const ModelOptions& o) {
  const uint64_t budget = st::parse_byte_size(o.memory);
  const auto policy = st::cache_policy_from_name(o.cache_policy);
  if (!policy) throw std::invalid_argument("unknown cache policy '" + o.cache_policy + "' (lru, lfu or lfu_cyclic)");
  st::AsyncReaderOptions io;
  if (o.io_backend == "io_uring") io.backend = st::IoBackend::io_uring;
  else if (o.io_backend == "pread") io.backend = st::IoBackend::pread;
  else if (o.io_backend != "auto") throw std::invalid_argument("--io must be auto, io_uring or pread");
  // What the process holds before any weight: code, libraries, tokenizer, parsed metadata.
  st::drop_file_pages(*m.file);
  const uint64_t baseline = process_baseline_bytes();
  const auto [k_type, v_type] = kv_cache_types(o.plan_kv_types, o.plan_kv_f32);
  m.plan = st::plan_memory(m.config, m.weights, o.plan_ctx, k_type, v_type,
                           o.plan_batch, budget, baseline);
  m.plan_ctx = o.plan_ctx;
  m.dense = std::make_unique<st::DenseWeights>(*m.file, m.weights, o.progress);
  if (o.repack) st::pack_dense_in_place(m.weights);  // the dense copies are ours
  st::ExpertStoreOptions so;
  so.n_slots = m.plan->n_slots;
  so.slot_bytes = m.plan->slot_bytes;
  so.policy = *policy;
  so.io = io;
  so.lookahead = o.lookahead;
  so.sparse_reads = o.sparse_reads;
  so.bundles = o.sparse_reglu;
  so.row_groups = o.repack;
  so.pool = m.pool.get();
  auto store = std::make_unique<st::ExpertStore>(m.file->path(), m.config, m.weights, so);
  m.store = store.get();
  m.experts = std::move(store);
}

// The --chat-template override, else the file's template; a file template that does not
// parse falls back to ChatML with a warning (the model still loads).
st::ChatTemplate make_chat_template(const st::Tokenizer& tok, const std::string& spec, std::vector<std::string>& warnings) {
  st::ChatTemplate t;
  if (!spec.empty()) {
    t = st::ChatTemplate::from_spec(spec);
  } else {
    try {
      t = st::ChatTemplate::from_template_string(tok.chat_template());
    } catch (const std::exception& e) {
      warnings.push_back(std::string("the file's chat template does not parse (") + e.what() + "); using ChatML");
    }
  }
  auto text = [&](int32_t id) { return id >= 0 && id < tok.n_vocab() ? tok.token_text(id) : std::string(); };
  t.set_special_tokens(text(tok.bos_id()), text(tok.eos_id()));
  return t;
}

}  // namespace

std::shared_ptr<Model> Model::load(const ModelOptions& options) {
  if (const auto p = check_model_options(options)) throw std::invalid_argument("model option " + p->field + " " + p->message);
  auto impl = std::make_unique<Impl>();
  impl->file = st::GgufFile::open(options.path);
  // Under a budget, a fault in the mapping must not read megabytes around it (readahead
  // windows reach 8 MiB): every page it brings in is page cache charged to the budget.
  if (!options.memory.empty()) st::disable_readahead(*impl->file);
  // Without a budget every weight will be used: start reading the whole file now, in the
  // background, instead of faulting it in page by page during the first tokens.
  else madvise(const_cast<uint8_t*>(impl->file->bytes()), impl->file->file_size(), MADV_WILLNEED);
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
    impl->chat = make_chat_template(*impl->tokenizer, options.chat_template, impl->info.warnings);
  }
  impl->pool = std::make_unique<st::ThreadPool>(options.n_threads);
  impl->sparse_reglu = options.sparse_reglu;
  if (options.memory.empty()) {
    // Re-laid weights are copies: the bytes they supersede (mapped or packed) are released so
    // resident memory stays about the file size (model/expert_layout.h).
    const auto drop = st::drop_mapped_pages(impl->file->bytes(), impl->file->file_size());
    if (options.repack) impl->packed = std::make_unique<st::PackedWeights>(impl->weights, impl->pool.get(), drop, options.progress);
    impl->experts = std::make_unique<st::ResidentExpertSource>(impl->weights, impl->pool.get(),
                                                               st::release_superseded(drop, impl->packed.get()));
  } else {
    setup_budget(*impl, options);
  }

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
  if (impl->packed) i.row_group_bytes = impl->packed->bytes();
  {
    const st::ModelWeights& w = impl->weights;
    uint64_t b = w.output.n_bytes() + w.token_embd.row_bytes;
    for (const auto& L : w.layers) {
      b += L.wq.n_bytes() + L.wk.n_bytes() + L.wv.n_bytes() + L.wo.n_bytes() + L.router.n_bytes();
      b += static_cast<uint64_t>(c.n_expert_used) *
           (L.gate_exps.expert_bytes() + L.up_exps.expert_bytes() + L.down_exps.expert_bytes());
      i.expert_up_bytes += L.up_exps.expert_bytes();
      i.expert_down_bytes += L.down_exps.expert_bytes();
      if (L.down_exps.all.type == st::TensorType::Q4_0 || L.down_exps.all.type == st::TensorType::Q8_0)
        i.expert_down_scale_bytes += static_cast<uint64_t>(L.down_exps.rows_per_expert) * (L.down_exps.all.n_cols / 32) * 2;
    }
    i.decode_weight_bytes = b;
  }
  return std::shared_ptr<Model>(new Model(std::move(impl)));
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::string Model::memory_plan() const { return impl_->plan ? impl_->plan->describe() : std::string(); }

RuntimeStats Model::runtime_stats() const {
  RuntimeStats r;
  const st::ExpertStore* s = impl_->store;
  if (!s) return r;
  r.budgeted = true;
  r.io_backend = s->io_backend();
  r.cache_policy = st::cache_policy_name(s->cache().policy());
  r.hits = s->cache_stats().hits;
  r.misses = s->cache_stats().misses;
  r.expert_hit_rate = s->cache_stats().hit_rate();
  r.experts_read = s->stats().experts_read;
  r.bytes_read = s->stats().bytes_read;
  r.prefetched = s->stats().prefetched;
  r.demand_reads = s->stats().demand_reads;
  r.speculated = s->stats().speculated;
  r.lookahead_accuracy = s->stats().guesses ? static_cast<double>(s->stats().guesses_right) / static_cast<double>(s->stats().guesses) : 0.0;
  r.io_wait_seconds = s->stats().io_wait_seconds;
  r.cache_slots = s->cache().n_slots();
  r.cache_resident = s->cache().n_resident();
  r.sparse_read_bytes_saved = static_cast<uint64_t>(std::max<int64_t>(0, s->stats().sparse_read_bytes_saved));
  r.sparse_read_waits = s->stats().up_late_reads;
  return r;
}

void Model::reset_runtime_stats() {
  if (impl_->store) impl_->store->reset_stats();
}
Model::~Model() = default;
const ModelInfo& Model::info() const { return impl_->info; }
int Model::n_threads() const { return impl_->pool->size(); }

Session::Session(std::shared_ptr<Model> model, SessionOptions options)
    : model_(std::move(model)), options_(options), impl_(std::make_unique<Impl>()) {
  auto& m = ModelAccess::impl(*model_);
  if (const auto p = check_session_options(options_))
    throw std::invalid_argument("session option " + p->field + " " + p->message);
  if (options_.n_ctx <= 0) options_.n_ctx = m.config.n_ctx_train;
  const auto [k_type, v_type] = kv_cache_types(options_.kv_types, options_.kv_f32);
  impl_->kv = std::make_unique<st::KvCache>(m.config, options_.n_ctx, k_type, v_type);
  if (m.plan && options_.n_ctx > m.plan_ctx)
    throw std::invalid_argument("context of " + std::to_string(options_.n_ctx) + " tokens exceeds the " +
                                std::to_string(m.plan_ctx) + " the memory plan reserved (pass the same -c to the model)");
  impl_->forward = std::make_unique<st::Forward>(m.config, m.weights, *m.experts, *m.pool);
  impl_->forward->set_sparse(m.sparse_reglu);
  if (m.dense) impl_->forward->set_embedding_reader(m.dense->embedding_reader());
  if (!options_.routing_trace.empty()) {
    st::check_output_path(options_.routing_trace, {m.file->path()});  // refused now, not after the run
    impl_->recorder = std::make_unique<TraceRecorder>(m.config, options_.routing_trace);
  }
  impl_->fanout = std::make_unique<ObserverFanout>(impl_->recorder.get(), options_.observer);
  if (impl_->recorder || options_.observer) impl_->forward->set_observer(impl_->fanout.get());
}

Session::~Session() = default;
Session::ReluStats Session::relu_stats() const {
  const st::ReluCounters& c = impl_->forward->relu_counters();
  return {static_cast<uint64_t>(c.neurons), static_cast<uint64_t>(c.zero), static_cast<uint64_t>(c.up_rows),
          static_cast<uint64_t>(c.up_rows_skipped), c.bundle_layers};
}
std::vector<std::pair<std::string, double>> Session::phase_seconds() const {
  std::vector<std::pair<std::string, double>> out;
  const auto& sec = impl_->forward->phase_clock().seconds();
  for (size_t i = 0; i < sec.size(); ++i) out.emplace_back(st::kPhaseNames[i], sec[i]);
  return out;
}
void Session::reset_phase_seconds() { impl_->forward->reset_phase_clock(); }
int64_t Session::n_past() const { return impl_->kv->n_past(); }
int64_t Session::n_ctx() const { return impl_->kv->n_ctx(); }
void Session::reset() { impl_->kv->clear(); }

bool Session::truncate(int64_t n) { return impl_->kv->truncate(n); }

namespace {
st::ModelFingerprint fingerprint(const st::GgufFile& f) {
  return st::model_fingerprint(f.bytes(), f.data_offset(), f.file_size(),
                               std::filesystem::path(f.path()).filename().string());
}
}  // namespace

void Session::save_state(const std::string& path, std::span<const int32_t> tokens) {
  const st::GgufFile& f = *ModelAccess::impl(*model_).file;
  st::save_kv_state(path, *impl_->kv, tokens, fingerprint(f), {f.path()});
}

std::vector<int32_t> Session::load_state(const std::string& path) {
  const st::GgufFile& f = *ModelAccess::impl(*model_).file;
  return st::load_kv_state(path, *impl_->kv, fingerprint(f), model_->info().n_vocab);
}

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
  if (all_logits) {
    check_finite_logits(impl_->all_logits, ModelAccess::impl(*model_).file->path());
    return impl_->all_logits;
  }
  last = last.subspan(last.size() - static_cast<size_t>(V));
  check_finite_logits(last, ModelAccess::impl(*model_).file->path());
  return last;
}

std::vector<int32_t> Session::generate(std::span<const int32_t> prompt, int n_predict, const SamplingOptions& so,
                                       const std::vector<int32_t>& stop_tokens,
                                       const std::function<bool(int32_t)>& on_token, Timings* timings) {
  return generate(prompt, 0, n_predict, so, stop_tokens, on_token, timings, {});
}

std::vector<int32_t> Session::generate(std::span<const int32_t> prompt, size_t n_cached, int n_predict,
                                       const SamplingOptions& so, const std::vector<int32_t>& stop_tokens,
                                       const std::function<bool(int32_t)>& on_token, Timings* timings,
                                       const std::function<void()>& on_prompt) {
  using clock = std::chrono::steady_clock;
  if (const auto p = check_n_predict(n_predict)) throw std::invalid_argument(p->field + " " + p->message);
  if (n_cached >= prompt.size() || static_cast<int64_t>(n_cached) > n_past())
    throw std::invalid_argument("generate: " + std::to_string(n_cached) + " cached tokens of a " +
                                std::to_string(prompt.size()) + "-token prompt with " + std::to_string(n_past()) +
                                " in the context");
  st::Sampler sampler(sampler_params(so), static_cast<int>(model_->info().n_vocab));
  for (int32_t t : prompt) sampler.accept(t);

  const auto t0 = clock::now();
  std::span<const float> logits = eval(prompt.subspan(n_cached));
  const auto t1 = clock::now();
  if (on_prompt) on_prompt();
  std::vector<int32_t> out;
  // -1: no limit of our own; the loop ends at a stop token or a full context.
  for (int i = 0; n_predict < 0 || i < n_predict; ++i) {
    const int32_t tok = sampler.sample(logits);
    sampler.accept(tok);
    out.push_back(tok);
    const bool stop = std::find(stop_tokens.begin(), stop_tokens.end(), tok) != stop_tokens.end();
    if (on_token && !on_token(tok)) break;
    if (stop || (n_predict >= 0 && i + 1 == n_predict) || n_past() >= n_ctx()) break;
    logits = eval(std::span<const int32_t>(&out.back(), 1));
  }
  const auto t2 = clock::now();
  if (timings) {
    timings->prompt_tokens = static_cast<int64_t>(prompt.size() - n_cached);  // evaluated, not reused
    timings->prompt_seconds = std::chrono::duration<double>(t1 - t0).count();
    timings->generated_tokens = static_cast<int64_t>(out.size());
    timings->generate_seconds = std::chrono::duration<double>(t2 - t1).count();
  }
  return out;
}

std::vector<ReplayResult> replay_routing_trace(const std::string& path, const std::vector<double>& shares) {
  const st::RoutingTrace trace = st::RoutingTrace::load(path);
  const int total = trace.n_layer * trace.n_expert;
  std::vector<ReplayResult> out;
  for (double share : shares) {
    const int slots = std::max(trace.k, static_cast<int>(share * total + 0.5));
    for (st::CachePolicy p : {st::CachePolicy::lru, st::CachePolicy::lfu_aging, st::CachePolicy::lfu_cyclic})
      out.push_back({st::cache_policy_name(p), share, slots, st::replay_trace(trace, slots, p).hit_rate()});
  }
  return out;
}

uint64_t resident_bytes() { return current_rss_bytes(); }

uint64_t peak_rss_bytes() {
  // VmHWM is the peak resident set; ru_maxrss is the same in KiB where /proc is absent.
  if (const uint64_t hwm = proc_status_bytes("VmHWM")) return hwm;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_maxrss) * 1024;
}

double measure_read_bandwidth(int n_threads, size_t bytes) {
  if (n_threads <= 0) n_threads = st::ThreadPool::physical_cores();  // as a Model's pool is sized
  n_threads = std::max(1, n_threads);
  const size_t n = bytes / sizeof(uint64_t);
  std::vector<uint64_t> buf(n);
  for (size_t i = 0; i < n; ++i) buf[i] = i;  // touch every page before timing
  double best = 0;
  std::vector<uint64_t> sums(static_cast<size_t>(n_threads));
  for (int pass = 0; pass < 4; ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < n_threads; ++t)
      threads.emplace_back([&, t] {
        const size_t b = n * static_cast<size_t>(t) / static_cast<size_t>(n_threads);
        const size_t e = n * static_cast<size_t>(t + 1) / static_cast<size_t>(n_threads);
        sums[static_cast<size_t>(t)] = st::read_all(buf.data() + b, (e - b) * sizeof(uint64_t));
      });
    for (auto& th : threads) th.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(bytes) / s);
  }
  volatile uint64_t sink = std::accumulate(sums.begin(), sums.end(), uint64_t{0});
  (void)sink;
  return best;
}

}  // namespace smallthinker
