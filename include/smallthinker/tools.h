// Model tools of libsmallthinker: synthesize random-weight models, dump tensors, convert
// Hugging Face checkpoints, quantize and inspect GGUF files.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace smallthinker {

// ---- Output files (README "Output files"; every tool here writes this way) -----------------

// Writes `bytes` to `path` through a temporary file beside it, renamed over it only when
// complete (symbolic links followed; character devices, FIFOs and /dev/stdout written in
// place); refuses directories, block devices and an output that is one of `inputs` (same
// device and inode). Throws std::runtime_error naming the path; the previous file is then intact.
void write_output_file(const std::string& path, std::string_view bytes, const std::vector<std::string>& inputs = {});
// The checks write_output_file makes, without writing: call before long work.
void check_output_path(const std::string& path, const std::vector<std::string>& inputs = {});

// Shape and contents of a synthetic (random-weight) SmallThinker model.
struct SynthOptions {
  std::string preset = "tiny";        // tiny | tiny-swa | 4b | 21b
  std::string type = "f32";           // tensor type of the matrices (norms and routers stay f32)
  uint64_t seed = 1;
  std::string tokenizer_json;         // a HF tokenizer.json (Qwen2) to embed; empty: built-in byte vocabulary
  // Explicit dimensions override the preset's (0 / empty = keep).
  int n_layer = 0;
  int64_t n_embd = 0;
  int n_head = 0, n_head_kv = 0;
  int64_t head_dim = 0;
  int n_expert = 0, n_expert_used = 0;
  int64_t n_ff_exp = 0;
  int64_t n_vocab = 0;
  int64_t n_ctx = 0;
  std::optional<int64_t> window;      // sliding window (0 = none: all global RoPE)
  std::string gating;                 // softmax | sigmoid
  bool tied_output = false;           // omit output.weight (lm_head = token_embd)
  // Realistic activity (0 = off: uniform routing, ~50% zero neurons): the hot quarter of the
  // experts gets a router-logit advantage of about routing_skew (2-3 gives the paper's
  // 0.4-0.6 hot frequencies), and about reglu_zero_fraction of gate pre-activations are < 0.
  double routing_skew = 0;
  double reglu_zero_fraction = 0;
  int n_threads = 0;
};

// Writes the model to `path`; progress(done, total) after each tensor.
void synth_model(const SynthOptions& options, const std::string& path,
                 const std::function<void(size_t, size_t)>& progress = {});

// Dequantizes one tensor of a GGUF file to float32 values in ggml element order.
std::vector<float> dequantize_tensor(const std::string& gguf_path, const std::string& tensor_name);

// ---- Activation statistics (`smallthinker stats`) ------------------------------------------

class Model;
struct SessionOptions;

// What the router and the ReGLU experts did while a model ran some prompts.
struct ActivityLog {
  std::string model_name;
  int n_layer = 0, n_expert = 0, k = 0;
  int64_t n_ff = 0;
  uint64_t expert_slot_bytes = 0;      // one expert (gate + up + down) as a cache slot holds it
  uint64_t fixed_bytes = 0;            // what --memory spends besides the expert cache (dense, KV, buffers)
  std::vector<std::vector<int32_t>> prompt_tokens;  // per prompt: every token the model evaluated
  std::vector<int32_t> routing;        // [n_tokens][n_layer][k], token-major, prompts one after another
  std::vector<uint64_t> reglu_zero;    // [n_layer] exactly-zero ReGLU neurons
  std::vector<uint64_t> reglu_total;   // [n_layer] neurons computed ((token, expert) pairs x n_ff)
  size_t n_tokens() const { return n_layer && k ? routing.size() / static_cast<size_t>(n_layer * k) : 0; }
};

// Runs each prompt from an empty KV cache (greedily generating n_predict tokens after it) and
// records the activity. Prompts longer than the session's context are cut (with a warning
// through `warn`). progress(done, total) after each prompt.
ActivityLog record_activity(const std::shared_ptr<Model>& model, const std::vector<std::string>& prompts,
                            const SessionOptions& session, int n_predict = 0,
                            const std::function<void(size_t, size_t)>& progress = {},
                            const std::function<void(const std::string&)>& warn = {});

// Splits a prompts file: one prompt per line, or, when the text contains a blank line,
// blank-line-separated paragraphs (their lines joined with "\n"). Empty prompts are dropped.
std::vector<std::string> split_prompts(const std::string& text);

struct ReuseBin {
  int64_t lo = 0, hi = 0;  // tokens since the previous use of the same (layer, expert), inclusive
  uint64_t count = 0;
};
struct CachePoint {
  double share = 0;      // of all n_layer * n_expert experts
  int slots = 0;
  uint64_t cache_bytes = 0;
  double hit_rate = 0;
};
struct CacheCurve {
  std::string policy;    // lru | lfu | lfu_cyclic (the names --cache-policy takes)
  std::vector<CachePoint> points;
};

// The numbers behind the pictures.
struct ActivityStats {
  std::vector<std::vector<uint64_t>> expert_counts;  // [n_layer][n_expert] tokens that chose the expert
  std::vector<std::vector<double>> expert_frequency; // counts / n_tokens: each layer's row sums to k
  std::vector<double> zero_fraction;                 // [n_layer] reglu_zero / reglu_total
  std::vector<ReuseBin> reuse;                       // log2 bins: 1, 2, 3-4, 5-8, ...
  uint64_t first_uses = 0;                           // uses with no earlier use to measure from
  double mean_reuse_distance = 0;
  std::vector<CacheCurve> cache_curves;              // hit rate vs cache size, per policy
};

// cache_shares: cache sizes as shares of all experts (empty: 5%, 10%, ... 100%).
ActivityStats analyse_activity(const ActivityLog& log, const std::vector<double>& cache_shares = {});

// Writes stats.json, expert_frequency.csv, zero_fraction.csv, reuse_distance.csv,
// cache_hit_rate.csv, routing.trace (for `replay`) and the pictures expert_frequency.svg, zero_fraction.svg,
// reuse_distance.svg, cache_hit_rate.svg into `dir` (created if missing), each file as
// write_output_file does. Refuses, before writing any, a report file that is one of `inputs`
// (the model, the prompts). Returns the paths.
std::vector<std::string> write_activity_report(const ActivityLog& log, const ActivityStats& stats, const std::string& dir,
                                               const std::vector<std::string>& inputs = {});

// ---- Perplexity (`smallthinker perplexity`, llama.cpp's conventions) -----------------------

// The text's tokens are cut into non-overlapping chunks of n_ctx tokens (the session's
// context); each chunk runs from an empty KV cache, and only its second half is scored: the
// predictions of tokens n_ctx/2 + 1 .. n_ctx - 1 of the chunk (the first half is context).
struct PerplexityResult {
  size_t n_text_tokens = 0;
  int n_chunks = 0;
  uint64_t n_scored = 0;
  double nll_mean = 0;          // mean negative log-likelihood (nats per token)
  double nll_stderr = 0;        // standard error of nll_mean: sqrt(population variance / (n_scored - 1))
  double ppl = 0;               // exp(nll_mean)
  double ppl_stderr = 0;        // ppl * standard error of nll_mean (as llama.cpp prints it)
  std::vector<double> chunk_ppl;  // running perplexity after each chunk
};
// max_chunks 0: all. on_chunk(i, running ppl) after each chunk. Throws if the text has fewer
// than n_ctx tokens.
PerplexityResult compute_perplexity(const std::shared_ptr<Model>& model, const std::vector<int32_t>& tokens,
                                    const SessionOptions& session, int max_chunks = 0,
                                    const std::function<void(int, double)>& on_chunk = {});

// ---- Multiple-choice evaluation (`smallthinker eval`, docs/EVAL.md) ------------------------

struct ChoiceItem {
  std::string question;
  std::vector<std::string> choices;
  int answer = 0;  // index into choices
};
// JSON lines {"question": ..., "choices": [...], "answer": 0 | "A"}; errors name file and line.
std::vector<ChoiceItem> load_choice_task(const std::string& path);

struct ChoiceScore {
  double logprob = 0;      // sum of the choice's token log-probabilities given the question
  int n_tokens = 0;
  double mean_logprob() const { return n_tokens ? logprob / n_tokens : 0; }
};
struct ChoiceItemResult {
  std::vector<ChoiceScore> scores;
  int predicted = -1;       // argmax of the summed log-probability
  int predicted_norm = -1;  // argmax of the per-token mean
};
struct ChoiceEvalResult {
  std::vector<ChoiceItemResult> items;
  double acc = 0, acc_stderr = 0;
  double acc_norm = 0, acc_norm_stderr = 0;
};
// Each choice is scored as a continuation of its question (see multiple_choice.cpp for how
// the two texts are joined). on_item(i, result) after each item.
ChoiceEvalResult evaluate_choices(const std::shared_ptr<Model>& model, const std::vector<ChoiceItem>& items,
                                  const SessionOptions& session,
                                  const std::function<void(size_t, const ChoiceItemResult&)>& on_item = {});

// ---- convert, quantize, inspect ---------------------------------------------------------

// One tensor written by convert or quantize: what it became and how much it lost.
struct TensorReport {
  std::string name;
  std::string type_in, type_out;       // "bf16" -> "q4_k"
  std::vector<int64_t> ne;             // ggml order
  uint64_t bytes_out = 0;
  // sqrt(sum (q - x)^2 / sum x^2): the dequantized output q against the input x (0 when the
  // bytes were copied unchanged; 0 for an all-zero input).
  double rel_rms_error = 0;
};
// Called after each tensor is written: its report, and done/total tensor counts.
using TensorReportFn = std::function<void(const TensorReport&, size_t done, size_t total)>;

// Names accepted by convert and quantize: f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q5_k
// q6_k q4_k_m q5_k_m (docs/QUANTIZE.md says which tensor gets which type).
std::vector<std::string> quantization_types();

struct ConvertOptions {
  std::string hf_dir;                  // config.json, *.safetensors (+ index), tokenizer.json
  std::string type = "bf16";
  int n_threads = 0;                   // 0: one per physical core
  std::string name;                    // general.name; empty: config's model_name or the folder name
};
// Converts a Hugging Face SmallThinker checkpoint to GGUF (llama.cpp schema), streaming one
// tensor at a time. `warnings` (may be null) collects non-fatal notes (e.g. no tokenizer.json).
void convert_hf_model(const ConvertOptions& options, const std::string& out_path, const TensorReportFn& on_tensor = {},
                      std::vector<std::string>* warnings = nullptr);

struct QuantizeOptions {
  std::string type;                    // see quantization_types()
  bool pure = false;                   // one type for every matrix (norms and routers stay f32)
  int n_threads = 0;
};
void quantize_model(const std::string& in_path, const std::string& out_path, const QuantizeOptions& options,
                    const TensorReportFn& on_tensor = {});

struct InspectOptions {
  std::string memory;                  // a budget ("1GiB"): include the memory plan for it
  int64_t n_ctx = 4096;                // context the plan reserves a KV cache for
  int64_t n_batch = 512;
  bool kv_f32 = false;                 // f32 K and V (overrides the two names below)
  std::string cache_type_k = "f16";    // K and V element types the plan sizes the cache in
  std::string cache_type_v = "f16";    // (f16, bf16, q8_0, q4_0, f32)
  size_t max_array_items = 8;          // longer metadata arrays are abbreviated
};
struct InspectTensor {
  std::string name;
  std::string type;
  std::vector<int64_t> ne;
  uint64_t bytes = 0;                  // 0 with size_known false: a type id without a known layout
  uint64_t offset = 0;                 // absolute file offset of the data
  bool size_known = true;
};
struct ModelInspection {
  std::string path;
  uint64_t file_bytes = 0;
  uint32_t gguf_version = 0;
  std::vector<std::pair<std::string, std::string>> metadata;  // key, printable value
  std::vector<InspectTensor> tensors;
  std::vector<std::string> layer_kinds;  // "global-rope", "swa(4096)-rope", ...
  // Parameter counts (elements). Active per token = dense + K/E of the experts + lm_head +
  // one embedding row.
  uint64_t params_total = 0;
  uint64_t params_experts = 0;         // ffn_{gate,up,down}_exps
  uint64_t params_embedding = 0;       // token_embd (one row per token is read)
  uint64_t params_output = 0;          // output.weight (0 when tied to token_embd)
  uint64_t params_dense = 0;           // everything else: attention, routers, norms
  uint64_t params_active = 0;
  int n_expert = 0, n_expert_used = 0;
  std::string memory_plan;             // empty without InspectOptions::memory
  std::vector<std::string> warnings;
  // Whether the engine can load the file: metadata, tensor shapes and the tokenizer check out.
  // When not, `problem` says why (the error Model::load would throw).
  bool runnable = true;
  std::string problem;
};
// Reads metadata and tensor infos only (no weights are loaded).
ModelInspection inspect_model(const std::string& path, const InspectOptions& options = {});

}  // namespace smallthinker
