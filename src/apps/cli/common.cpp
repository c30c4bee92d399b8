#include "apps/cli/common.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace st::cli {

void add_kv_type_options(CLI::App& app, std::string& k, std::string& v) {
  const auto valid = CLI::IsMember({"f32", "f16", "bf16", "q8_0", "q4_0"});
  // -ctk/-ctv are renamed to these by main.cpp (CLI11 takes "-ctk" for one-letter flags).
  app.add_option("--cache-type-k", k, "(-ctk) KV cache type of K: f16 | bf16 | q8_0 | q4_0 | f32")->check(valid)->capture_default_str();
  app.add_option("--cache-type-v", v, "(-ctv) KV cache type of V: f16 | bf16 | q8_0 | q4_0 | f32")->check(valid)->capture_default_str();
}

void ModelArgs::add_to(CLI::App& app) {
  app.add_option("-m,--model", model.path, "model file (GGUF)")->required();
  app.add_option("-t,--threads", model.n_threads, "threads (default: physical cores)");
  app.add_option("-c,--ctx-size", session.n_ctx, "context size in tokens (0 = the model's)")->capture_default_str();
  app.add_option("-b,--batch-size,--batch", session.n_batch, "prompt tokens per forward pass")->capture_default_str();
  app.add_option("--gating", gating, "override the router gating: softmax | sigmoid (for files that omit it)");
  app.add_option("--window", window, "override the sliding-window size (>= 1)");
  app.add_flag("--kv-f32", kv_f32, "keep the KV cache in f32 (same as -ctk f32 -ctv f32)");
  add_kv_type_options(app, session.kv_types.k, session.kv_types.v);
  app.add_option("--routing-trace", session.routing_trace, "record the router's choices to this file (replay with `replay`)");
  app.add_option("--memory", model.memory, "memory budget, e.g. 1GiB: experts stream from the file through a cache");
  app.add_option("--cache-policy", model.cache_policy, "expert cache policy under --memory: lru | lfu | lfu_cyclic")->capture_default_str();
  app.add_flag("!--no-lookahead", model.lookahead, "under --memory: do not guess the next layer's experts early");
  app.add_flag("--sparse-reads", model.sparse_reads,
               "under --memory: read a missed expert's up rows only for neurons its gate turned on");
  app.add_flag("!--no-repack", model.repack,
               "keep Q4_0/Q8_0/Q2_K-Q6_K weights in the file's row layout (staged through the 16-row kernels per use: "
               "same results, slower; for comparison)");
  app.add_flag("!--no-sparse", model.sparse_reglu,
               "compute every ReGLU neuron (dense experts) instead of skipping the zero ones");
  app.add_option("--io", model.io_backend, "I/O backend under --memory: auto | io_uring | pread")->capture_default_str();
}

std::shared_ptr<smallthinker::Model> ModelArgs::load() const {
  smallthinker::ModelOptions o = model;
  if (!gating.empty()) o.gating = gating;
  if (window != kNoWindow) o.window = window;
  throw_if_problem(smallthinker::check_session_options(session));
  o.plan_ctx = session.n_ctx > 0 ? session.n_ctx : 4096;
  o.plan_batch = session.n_batch;
  o.plan_kv_f32 = kv_f32;
  o.plan_kv_types = session.kv_types;
  throw_if_problem(smallthinker::check_model_options(o));
  // More threads than the machine runs at once only wait on each other (-t 1000 ran 300x
  // slower than -t 2): use them all, and say so.
  const int hardware = static_cast<int>(std::thread::hardware_concurrency());
  if (hardware > 0 && o.n_threads > hardware) {
    std::fprintf(stderr, "note: -t %d is more than the %d hardware threads of this machine; using %d\n", o.n_threads,
                 hardware, hardware);
    o.n_threads = hardware;
  }
  if (o.sparse_reads && o.memory.empty())
    std::fprintf(stderr, "warning: --sparse-reads only applies under --memory (without it every expert is in RAM)\n");
  // On a terminal, loading shows how far the weights are (a 4 GB model takes seconds to
  // re-lay); in logs and pipes it stays quiet.
  bool shown = false;
  if (isatty(STDERR_FILENO)) {
    const auto start = std::chrono::steady_clock::now();
    o.progress = [&shown, start, path = o.path, last = -1](uint64_t done, uint64_t total) mutable {
      const int pct = total ? static_cast<int>(100 * done / total) : 100;
      if (pct == last || std::chrono::steady_clock::now() - start < std::chrono::milliseconds(300)) return;
      last = pct;
      shown = true;
      std::fprintf(stderr, "\rloading %s: %3d%% of %.2f GiB", path.c_str(), pct, static_cast<double>(total) / (1 << 30));
    };
  }
  auto m = smallthinker::Model::load(o);
  if (shown) std::fprintf(stderr, "\r\033[K");  // the line is done with: clear it
  for (const auto& w : m->info().warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  if (!m->memory_plan().empty()) std::fprintf(stderr, "%s", m->memory_plan().c_str());
  return m;
}

std::string model_and_file(ModelArgs& args, const std::vector<std::string>& positional, const std::string& usage,
                           const std::string& file_flag) {
  if (!file_flag.empty()) {
    // FILE by its flag: MODEL by -m, or as the one positional.
    if (positional.empty() && !args.model.path.empty()) return file_flag;
    if (positional.size() == 1 && args.model.path.empty()) {
      args.model.path = positional[0];
      return file_flag;
    }
    throw std::invalid_argument("usage: " + usage + " (or -m MODEL -f FILE)");
  }
  if (positional.size() == 2 && args.model.path.empty()) {
    args.model.path = positional[0];
    return positional[1];
  }
  if (positional.size() == 1 && !args.model.path.empty()) return positional[0];
  throw std::invalid_argument("usage: " + usage + " (or -m MODEL instead of the first argument)");
}

smallthinker::SessionOptions ModelArgs::session_options() const {
  smallthinker::SessionOptions s = session;
  s.kv_f32 = kv_f32;
  throw_if_problem(smallthinker::check_session_options(s));
  return s;
}

void SamplingArgs::add_to(CLI::App& app) {
  app.add_option("--temp", s.temperature, "temperature (0 = greedy)")->capture_default_str();
  app.add_option("--top-k", s.top_k, "top-k sampling (0 = off)")->capture_default_str();
  app.add_option("--top-p", s.top_p, "top-p sampling (1 = off)")->capture_default_str();
  app.add_option("--min-p", s.min_p, "min-p sampling (0 = off)")->capture_default_str();
  app.add_option("--repeat-penalty", s.repeat_penalty, "penalise repeated tokens (1 = off)")->capture_default_str();
  app.add_option("--repeat-last-n", s.repeat_last_n, "tokens the repeat penalty looks back on")->capture_default_str();
  app.add_option("--presence-penalty", s.presence_penalty, "presence penalty (0 = off)");
  app.add_option("--frequency-penalty", s.frequency_penalty, "frequency penalty (0 = off)");
  app.add_option("-s,--seed", seed, "random seed (-1 = random)")->capture_default_str();
}

smallthinker::SamplingOptions SamplingArgs::options() const {
  smallthinker::SamplingOptions o = s;
  o.seed = seed < 0 ? UINT64_MAX : static_cast<uint64_t>(seed);
  throw_if_problem(smallthinker::check_sampling_options(o));
  return o;
}

void throw_if_problem(const std::optional<smallthinker::OptionProblem>& problem) {
  if (!problem) return;
  // The shared check names fields as the API does; users typed these flags.
  static const std::map<std::string, std::string> flags = {
      {"temperature", "--temp"},          {"top_k", "--top-k"},
      {"top_p", "--top-p"},               {"min_p", "--min-p"},
      {"repeat_penalty", "--repeat-penalty"}, {"repeat_last_n", "--repeat-last-n"},
      {"presence_penalty", "--presence-penalty"}, {"frequency_penalty", "--frequency-penalty"},
      {"n_ctx", "-c/--ctx-size"},         {"plan_ctx", "-c/--ctx-size"},
      {"n_batch", "-b/--batch-size"},     {"plan_batch", "-b/--batch-size"},
      {"n_threads", "-t/--threads"},      {"window", "--window"},
      {"n_predict", "-n/--n-predict"},    {"model", "-m/--model"}};
  const auto it = flags.find(problem->field);
  throw std::invalid_argument((it != flags.end() ? it->second : problem->field) + " " + problem->message);
}

std::string read_input_file(const std::string& path, const std::string& what) {
  std::stringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
    return ss.str();
  }
  struct stat st {};
  if (stat(path.c_str(), &st) != 0)
    throw std::runtime_error("cannot read the " + what + " " + path + ": " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw std::runtime_error("the " + what + " " + path + " is a directory; name a file in it");
  if (!S_ISREG(st.st_mode))
    throw std::runtime_error("the " + what + " " + path + " is not a regular file (a FIFO, socket or device); use '-' for standard input");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read the " + what + " " + path);
  ss << f.rdbuf();
  return ss.str();
}

ProgressLine::ProgressLine(std::string label) : label_(std::move(label)), tty_(isatty(STDERR_FILENO) != 0) {}

ProgressLine::~ProgressLine() { finish(); }

void ProgressLine::update(size_t done, size_t total, const char* unit) {
  if (tty_) {
    std::fprintf(stderr, "\r%s: %zu/%zu %s", label_.c_str(), done, total, unit);
    open_ = true;
    if (done >= total) finish();
    return;
  }
  const size_t tenth = total ? done * 10 / total : 10;
  if (tenth == last_tenth_) return;
  last_tenth_ = tenth;
  std::fprintf(stderr, "%s: %zu/%zu %s\n", label_.c_str(), done, total, unit);
}

void ProgressLine::finish() {
  if (!open_) return;
  std::fprintf(stderr, "\n");
  open_ = false;
}

std::vector<int32_t> parse_token_list(const std::string& text) {
  std::vector<int32_t> out;
  size_t i = 0;
  while (i <= text.size()) {
    const size_t j = std::min(text.find(',', i), text.size());
    const std::string item = text.substr(i, j - i);
    try {
      size_t used = 0;
      const long v = std::stol(item, &used);
      if (used != item.size() || v < 0 || v > INT32_MAX) throw std::invalid_argument("");
      out.push_back(static_cast<int32_t>(v));
    } catch (const std::exception&) {
      throw std::invalid_argument("--tokens: '" + item + "' is not a token id (expected e.g. 1,2,3)");
    }
    i = j + 1;
  }
  return out;
}

}  // namespace st::cli

namespace st::cli {

void PromptCacheArgs::add_to(CLI::App& app, bool with_all) {
  app.add_option("--prompt-cache", path,
                 "file to cache the prompt's state in: reused when a later prompt starts the same way, written after "
                 "the prompt");
  if (with_all) app.add_flag("--prompt-cache-all", all, "also save the generated tokens to the prompt cache");
  app.add_flag("--prompt-cache-ro", read_only, "use the prompt cache but do not update it");
}

size_t PromptCacheArgs::restore(smallthinker::Session& session, std::span<const int32_t> prompt) const {
  if (path.empty()) return 0;
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) {
    std::fprintf(stderr, "prompt cache: %s does not exist yet%s\n", path.c_str(),
                 read_only ? " (read-only: it will not be written)" : "; it will be written after the prompt");
    return 0;
  }
  const std::vector<int32_t> cached = session.load_state(path);
  size_t n = static_cast<size_t>(std::mismatch(cached.begin(), cached.end(), prompt.begin(), prompt.end()).first - cached.begin());
  n = std::min(n, prompt.size() - 1);  // the last prompt token is evaluated for the logits
  if (!session.truncate(static_cast<int64_t>(n))) {
    // A sliding-window ring has moved past the shared prefix: it cannot be rewound.
    std::fprintf(stderr, "prompt cache: %zu tokens of %s match, but the sliding-window layers cannot go back to them; "
                 "evaluating the whole prompt\n", n, path.c_str());
    session.reset();
    return 0;
  }
  std::fprintf(stderr, "prompt cache: reused %zu of %zu prompt tokens from %s (%zu cached); %zu to evaluate\n", n,
               prompt.size(), path.c_str(), cached.size(), prompt.size() - n);
  return n;
}

void PromptCacheArgs::save(smallthinker::Session& session, std::span<const int32_t> tokens) const {
  if (path.empty() || read_only) return;
  session.save_state(path, tokens);
  std::fprintf(stderr, "prompt cache: saved %zu tokens to %s\n", tokens.size(), path.c_str());
}

}  // namespace st::cli
