// libsmallthinker: the public API. Load a SmallThinker GGUF model, open sessions (each with
// its own KV cache), evaluate tokens and generate text. Errors are thrown as std::exception
// subclasses whose message names the file or argument at fault and, where possible, the fix.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace smallthinker {

struct ModelOptions {
  std::string path;
  int n_threads = 0;                      // 0: one per physical core
  std::optional<std::string> gating;      // "softmax" | "sigmoid": override the file's metadata
  std::optional<int64_t> window;          // override the sliding-window size (tests)
  // Memory budget ("1GiB", "512MiB", bytes; empty = none: the file is mapped and every
  // weight may stay in RAM). With a budget, experts stream from the file through a cache.
  std::string memory;
  std::string cache_policy = "lfu";       // lru | lfu (frequency with ageing) | lfu_cyclic
  std::string io_backend = "auto";        // auto | io_uring | pread
  bool lookahead = true;                  // under a budget: guess the next layer's experts early
  // What the memory plan reserves for sessions: context, batch and KV type.
  int64_t plan_ctx = 4096;
  int64_t plan_batch = 512;
  bool plan_kv_f32 = false;
};

// Counters of the expert store (zero without a memory budget).
struct RuntimeStats {
  bool budgeted = false;
  std::string io_backend;
  std::string cache_policy;
  uint64_t hits = 0, misses = 0;
  double expert_hit_rate = 0;
  uint64_t experts_read = 0, bytes_read = 0;
  uint64_t prefetched = 0, demand_reads = 0;  // reads started before attention vs. at use
  uint64_t speculated = 0;                    // reads started by look-ahead guesses
  double lookahead_accuracy = 0;              // share of guessed experts the real router chose
  double io_wait_seconds = 0;
  int cache_slots = 0, cache_resident = 0;
};

struct ModelInfo {
  std::string name;
  int n_layer = 0;
  int64_t n_embd = 0;
  int n_head = 0, n_head_kv = 0;
  int64_t head_dim = 0;
  int n_expert = 0, n_expert_used = 0;
  int64_t n_ff_exp = 0;
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;
  std::string gating;                     // "softmax" | "sigmoid"
  std::vector<std::string> layer_kinds;   // per layer: "global-rope", "global-nope", "swa-rope(W)", ...
  uint64_t file_bytes = 0;
  std::vector<std::string> warnings;      // non-fatal notes from loading
};

struct ChatMessage {
  std::string role;     // "system" | "user" | "assistant"
  std::string content;
};

class Model {
 public:
  static std::shared_ptr<Model> load(const ModelOptions& options);
  ~Model();
  const ModelInfo& info() const;
  int n_threads() const;

  // Text, through the tokenizer stored in the GGUF (throws if the file has none).
  bool has_tokenizer() const;
  // parse_special = false treats "<|im_start|>" etc. in the text as plain text (untrusted input).
  std::vector<int32_t> tokenize(const std::string& text, bool parse_special = true) const;
  std::string detokenize(std::span<const int32_t> tokens) const;
  // Tokens that end a generation (<|im_end|>, <|endoftext|>, eos).
  std::vector<int32_t> stop_tokens() const;
  // ChatML rendering of messages (+ the assistant prompt), as token ids.
  std::vector<int32_t> chat_tokens(std::span<const ChatMessage> messages, bool add_generation_prompt = true) const;
  // Tokens for new turns appended to a conversation whose KV cache already holds the earlier
  // ones; `reply_closed` tells whether the last assistant reply already ended with <|im_end|>.
  std::vector<int32_t> chat_continuation_tokens(std::span<const ChatMessage> new_messages, bool reply_closed) const;

  // The memory plan printed at start-up (empty without a budget).
  std::string memory_plan() const;
  RuntimeStats runtime_stats() const;
  void reset_runtime_stats();

  struct Impl;
  Impl& impl() { return *impl_; }
  const Impl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Watches what the model does while a session runs (statistics tools): called on the thread
// that runs the forward pass, once per layer per forward call.
class ActivityObserver {
 public:
  virtual ~ActivityObserver() = default;
  // The router's top-K experts of each of the batch's n_tok tokens for `layer`: [n_tok * k].
  virtual void on_routing(int layer, int64_t n_tok, int k, const int32_t* experts, const float* weights) = 0;
  // ReGLU activity of `layer` in this batch: n_rows (token, expert) pairs of n_ff neurons each,
  // of which n_zero were exactly zero.
  virtual void on_reglu(int /*layer*/, int64_t /*n_rows*/, int64_t /*n_ff*/, int64_t /*n_zero*/) {}
};

struct SessionOptions {
  int64_t n_ctx = 4096;       // context size (tokens) of the KV cache
  bool kv_f32 = false;        // F16 KV cache by default
  int64_t n_batch = 512;      // prompt tokens per forward pass
  std::string routing_trace;  // if set: record every token's experts per layer, saved here at the end
  ActivityObserver* observer = nullptr;  // not owned; must outlive the session
};

struct SamplingOptions {
  float temperature = 0.8f;   // <= 0: greedy
  int top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
  int repeat_last_n = 64;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  uint64_t seed = UINT64_MAX; // UINT64_MAX: random
};

struct Timings {
  int64_t prompt_tokens = 0;
  double prompt_seconds = 0;
  int64_t generated_tokens = 0;
  double generate_seconds = 0;
};

class Session {
 public:
  Session(std::shared_ptr<Model> model, SessionOptions options = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Appends tokens to the context in batches of n_batch (n_batch = 1: token by token) and
  // returns the logits of the last token, or of every token with all_logits ([n, n_vocab]).
  std::span<const float> eval(std::span<const int32_t> tokens, bool all_logits = false);
  int64_t n_past() const;
  int64_t n_ctx() const;
  void reset();
  const SessionOptions& options() const { return options_; }

  // Evaluates `prompt`, then samples up to n_predict tokens; on_token returns false to stop.
  // Stops early at an end-of-generation token when `stop_tokens` contains it.
  std::vector<int32_t> generate(std::span<const int32_t> prompt, int n_predict, const SamplingOptions& sampling,
                                const std::vector<int32_t>& stop_tokens,
                                const std::function<bool(int32_t)>& on_token, Timings* timings = nullptr);

  struct Impl;

 private:
  std::shared_ptr<Model> model_;
  SessionOptions options_;
  std::unique_ptr<Impl> impl_;
};

// Turns generated token ids into text, emitting only complete UTF-8 characters (a character
// split across tokens is held back until its last byte arrives).
class TextStreamer {
 public:
  explicit TextStreamer(const Model& model, bool show_control = false);
  ~TextStreamer();
  std::string push(int32_t token);
  std::string flush();  // an unfinished character at the end becomes U+FFFD

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Replays a routing trace (recorded with SessionOptions::routing_trace) through the expert
// cache alone: hit rate per policy at each cache size (a share of all experts).
struct ReplayResult {
  std::string policy;
  double cache_share = 0;
  int slots = 0;
  double hit_rate = 0;
};
std::vector<ReplayResult> replay_routing_trace(const std::string& path, const std::vector<double>& cache_shares);

// Peak resident set size of this process so far (bytes).
uint64_t peak_rss_bytes();

}  // namespace smallthinker
