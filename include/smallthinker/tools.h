// Model tools of libsmallthinker: synthesize random-weight models, dump tensors.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace smallthinker {

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

}  // namespace smallthinker
