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
#include <stdexcept>
#include <utility>
#include <vector>

namespace smallthinker {

// Element types of the KV cache, K and V chosen separately, named as llama.cpp names them
// (-ctk/-ctv): f16 (default), bf16, q8_0, q4_0 or f32. Q8_0/Q4_0 need a head size that is a
// multiple of 32. A bad name is a std::invalid_argument listing the valid ones.
struct KvCacheTypes {
  std::string k = "f16";
  std::string v = "f16";
};

// Knobs for comparisons and for the CLI's memory plan. Every default is the engine's best
// setting; a library user can leave them alone (ModelOptions inherits them, so
// `options.repack` still reads as before).
struct AdvancedModelOptions {
  // Under a budget: read a missed expert's up rows only for the neurons the gate product
  // turned on (whole 4 KiB pages holding them). Saves bytes at high ReGLU sparsity, at the
  // cost of a second, later read per expert.
  bool sparse_reads = false;
  // Re-lay Q4_0/Q8_0/Q4_K/Q6_K matrices at load into 16-row groups for the decode kernels, where
  // the CPU has kernels for that layout (AVX-512 VNNI, AVX2, NEON). Same bytes; off: the file's
  // row layout.
  bool repack = true;
  // What the memory plan reserves for sessions: context, batch and KV type.
  int64_t plan_ctx = 4096;
  int64_t plan_batch = 512;
  bool plan_kv_f32 = false;
  KvCacheTypes plan_kv_types;             // the KV types the plan sizes the cache in
};

struct ModelOptions : AdvancedModelOptions {
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
  // Sparse ReGLU: skip the up rows and down columns of neurons that are exactly zero (a sparse
  // layer's up and down become neuron bundles where their type allows). Off: dense experts.
  bool sparse_reglu = true;
  // Called while the weights are prepared (re-laid, or copied out of the file under a budget)
  // with the bytes done so far and the total; from the loading thread.
  std::function<void(uint64_t done, uint64_t total)> progress;
  // The chat template: empty = the file's tokenizer.chat_template (ChatML if it has none),
  // "chatml" = the built-in ChatML, anything else = a file holding a Jinja template (or a
  // tokenizer_config.json with a "chat_template" field).
  std::string chat_template;
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
  uint64_t sparse_read_bytes_saved = 0;       // up bytes neuron-sparse reads did not read
  uint64_t sparse_read_waits = 0;             // up reads the step had to wait for (not predicted)
};

// Byte counts of the expert layouts, for `bench`'s roofline figures.
struct AdvancedModelInfo {
  uint64_t expert_down_scale_bytes = 0;  // of one expert's down, summed over layers: block scales (read whole by neuron bundles)
  uint64_t row_group_bytes = 0;  // weights re-laid into 16-row groups at load (AdvancedModelOptions::repack)
};

struct ModelInfo : AdvancedModelInfo {
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
  // Weight bytes one decoded token reads without sparsity: attention, routers, the K chosen
  // experts of every layer, lm_head and one embedding row (the decode roofline's numerator).
  uint64_t decode_weight_bytes = 0;
  uint64_t expert_up_bytes = 0, expert_down_bytes = 0;  // of one expert, summed over layers
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
  // The chat template's rendering of messages (+ the assistant prompt), as token ids.
  std::vector<int32_t> chat_tokens(std::span<const ChatMessage> messages, bool add_generation_prompt = true) const;
  // Tokens for new turns appended to a conversation whose KV cache already holds the earlier
  // ones; `reply_closed` tells whether the last assistant reply already ended with <|im_end|>.
  std::vector<int32_t> chat_continuation_tokens(std::span<const ChatMessage> new_messages, bool reply_closed) const;
  // The chat template applied to OpenAI-shaped messages as a server receives them: a JSON array
  // of {role, content, tool_calls, tool_call_id, reasoning_content, ...}; `tools_json` a JSON
  // array (empty: none); `kwargs_json` a JSON object of extra template variables
  // (chat_template_kwargs, e.g. {"enable_thinking": false}). The prompt text and its tokens
  // (message contents encoded as plain text). Throws std::invalid_argument naming bad JSON and
  // std::runtime_error when the template fails (e.g. its raise_exception).
  struct ChatPrompt {
    std::string text;
    std::vector<int32_t> tokens;
  };
  ChatPrompt render_chat(const std::string& messages_json, const std::string& tools_json = "",
                         bool add_generation_prompt = true, const std::string& kwargs_json = "") const;
  // The bytes each token id decodes to ([n_vocab]; empty for control tokens), built once.
  std::shared_ptr<const std::vector<std::string>> token_bytes() const;
  // One token as text for display (logprobs): its bytes, or a control token's name
  // ("<|im_end|>"); empty for an id outside the tokenizer's vocabulary.
  std::string token_piece(int32_t id) const;
  // The file's tokenizer.chat_template (Jinja source; empty when it has none).
  std::string chat_template() const;

  // The memory plan printed at start-up (empty without a budget).
  std::string memory_plan() const;
  RuntimeStats runtime_stats() const;
  void reset_runtime_stats();

  struct Impl;

 private:
  friend struct ModelAccess;  // the library's own code (api/model_impl.h)
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
  bool kv_f32 = false;        // F16 KV cache by default; true: f32 for K and V (overrides kv_types)
  KvCacheTypes kv_types;      // K and V element types (-ctk/-ctv)
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
  // What sparse ReGLU skipped so far in this session.
  struct ReluStats {
    uint64_t neurons = 0;          // ReGLU outputs computed (token x expert x neuron)
    uint64_t zero = 0;             // ... of which exactly zero (skipped where layers are in neuron bundles)
    uint64_t up_rows = 0;          // up rows of the selected experts
    uint64_t up_rows_skipped = 0;  // ... needed by no token of the batch, so not computed
    int bundle_layers = 0;         // layers switched to neuron bundles (sparse enough, and a type that allows it)
  };
  ReluStats relu_stats() const;
  // Wall time of the forward pass's phases (embed, route, attn_proj, attn_core, moe_prep,
  // expert_gate_up, expert_down, moe_combine, lm_head) since the session began or the last
  // reset_phase_seconds(), in that order: where evaluation time goes.
  std::vector<std::pair<std::string, double>> phase_seconds() const;
  void reset_phase_seconds();

  // Evaluates `prompt`, then samples up to n_predict tokens (-1: no limit but the context);
  // on_token returns false to stop. Stops early at an end-of-generation token when
  // `stop_tokens` contains it. Options are checked by check_sampling_options
  // (smallthinker/options_check.h); std::invalid_argument names the one out of range.
  std::vector<int32_t> generate(std::span<const int32_t> prompt, int n_predict, const SamplingOptions& sampling,
                                const std::vector<int32_t>& stop_tokens,
                                const std::function<bool(int32_t)>& on_token, Timings* timings = nullptr);
  // The same, when the first n_cached tokens of `prompt` are already the last n_cached positions
  // of the context (restored from a prompt cache): they join the sampler's history (repeat
  // penalties) but are not evaluated; n_cached < prompt.size(). on_prompt runs once the prompt
  // is evaluated, before the first token is sampled (to save the prompt cache).
  std::vector<int32_t> generate(std::span<const int32_t> prompt, size_t n_cached, int n_predict,
                                const SamplingOptions& sampling, const std::vector<int32_t>& stop_tokens,
                                const std::function<bool(int32_t)>& on_token, Timings* timings,
                                const std::function<void()>& on_prompt);

  // Forgets positions >= n (keeps a shared prefix). False when a sliding-window layer has
  // already overwritten what position n needs: then nothing changed and the caller must reset.
  bool truncate(int64_t n);
  // The context on disk (prompt cache, server slot file): `tokens` are the ids of the n_past()
  // positions. Written through a temporary file and a rename. Format: runtime/kv_state.h.
  void save_state(const std::string& path, std::span<const int32_t> tokens);
  // Replaces the context with a file's and returns its token ids. Throws std::runtime_error
  // naming the file and why when it is not a cache file, another version, truncated or
  // corrupt, from another model or quantization, of another K/V type, or too long for n_ctx;
  // the context is then empty.
  std::vector<int32_t> load_state(const std::string& path);

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

// The machine's memory read bandwidth in bytes/s: n_threads threads summing a buffer of
// `bytes` (far larger than the caches), best of a few passes. The roofline next to which
// `bench` reports decode speed. n_threads <= 0: one per physical core (a Model's default).
double measure_read_bandwidth(int n_threads, size_t bytes = size_t{512} << 20);
// Current resident set size of this process (bytes; 0 where /proc is absent).
uint64_t resident_bytes();

// ---- Serving several sequences at once (the server's slots, `bench --parallel`) ----

// Picks tokens from logits (llama.cpp's chain: penalties -> top_k -> top_p -> min_p ->
// temperature -> seeded draw), optionally restricted to text that forms one JSON value.
class Sampler {
 public:
  // json_object: only tokens that keep the output a valid prefix of a JSON object can be
  // drawn, and end-of-generation tokens only once it is complete. json_schema (a JSON Schema
  // document; a subset: objects of string/number/integer/boolean/enum/const properties)
  // constrains the output further to objects that validate. Throws std::runtime_error if the
  // model has no tokenizer or this build has no JSON constraint, std::invalid_argument for an
  // unsupported schema (naming the keyword).
  Sampler(const Model& model, const SamplingOptions& options, bool json_object = false,
          const std::string& json_schema = {});
  // Tool calls in the Qwen/Hermes convention (<tool_call>{"name": ..., "arguments": ...}</tool_call>):
  // once a call starts its JSON is constrained to {"name": one of `tools`, "arguments": valid for
  // that tool's parameters schema (the json_schema subset)}. Throws ToolSchemaError for a schema
  // it cannot constrain.
  struct Tool {
    std::string name;
    std::string parameters;  // JSON Schema text of the arguments object; empty: no arguments
  };
  enum class ToolChoice {
    automatic,  // free text, or calls (constrained from their open tag on)
    required,   // the reply starts with a call (a named function: required with that one tool)
    none,       // no call: the open tag cannot be written
  };
  struct ToolSchemaError : std::invalid_argument {
    size_t tool;  // index into `tools`
    ToolSchemaError(size_t tool_, const std::string& message) : std::invalid_argument(message), tool(tool_) {}
  };
  Sampler(const Model& model, const SamplingOptions& options, const std::vector<Tool>& tools, ToolChoice choice,
          bool parallel_calls);
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  int32_t sample(std::span<const float> logits);  // logits: n_vocab floats

  struct TokenLogprob {
    int32_t token = -1;
    double logprob = 0;  // natural log; -inf for a token that cannot be drawn
  };
  struct Sampled {
    TokenLogprob chosen;
    std::vector<TokenLogprob> top;  // the n_top most likely tokens, most likely first (ties: lower id)
  };
  // sample(), also reporting log-probabilities from the distribution the token was drawn from,
  // taken after the penalties and the JSON constraint (a token it forbids has -inf) and before
  // temperature, top_k, top_p and min_p: log_softmax of the adjusted logits. Without penalties
  // or a constraint that is the model's own distribution, whatever the sampling settings.
  Sampled sample_with_logprobs(std::span<const float> logits, int n_top);
  void accept(int32_t token);                      // a generated token: penalties + constraint
  void accept_prompt(std::span<const int32_t> tokens);  // prompt tokens: penalties only
  bool json_complete() const;                      // the constrained output is a whole value
  uint64_t seed() const;                           // the seed in use (drawn if random)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// N sequences ("slots"), each with its own KV cache, advanced together: every step() is one
// forward pass over a chunk of each participating slot (a prompt piece or one decode token),
// so the weights are read once for all of them. Not thread-safe: one thread drives it.
class BatchDecoder {
 public:
  // options.n_ctx is each slot's context; options.n_batch bounds the tokens of one step.
  BatchDecoder(std::shared_ptr<Model> model, int n_slots, SessionOptions options = {});
  ~BatchDecoder();
  BatchDecoder(const BatchDecoder&) = delete;
  BatchDecoder& operator=(const BatchDecoder&) = delete;

  int n_slots() const;
  int64_t n_ctx() const;
  int64_t n_batch() const;
  // The tokens whose keys and values the slot holds, in order.
  const std::vector<int32_t>& cached(int slot) const;
  // Keeps the first n cached tokens and forgets the rest; returns how many were kept: n, or 0
  // when a sliding-window ring has already overwritten entries the shorter prefix needs.
  int64_t keep(int slot, int64_t n);

  struct Chunk {
    int slot = 0;
    std::span<const int32_t> tokens;  // appended after the slot's cached tokens
  };
  // One forward pass over all chunks (distinct slots, non-empty). Returns the logits of each
  // chunk's last token (n_vocab floats each), valid until the next step. On an error (bad id,
  // context full) nothing changes and std::exception is thrown.
  std::vector<std::span<const float>> step(std::span<const Chunk> chunks);

 private:
  struct Impl;
  std::shared_ptr<Model> model_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace smallthinker
