// ModelConfig: the shape of a SmallThinker model, filled from GGUF metadata in one function
// and validated there. Per-layer facts (RoPE or NoPE, global or sliding window) live in a
// vector so any layout (HF configs carry per-layer arrays) can be expressed, not just the
// rule llama.cpp applies to GGUF files.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace st {

class GgufFile;

enum class GatingFunc { softmax = 1, sigmoid = 2 };

struct LayerConfig {
  bool use_rope = true;        // false: NoPE (keys cached unrotated, positions still absolute)
  int64_t window = 0;          // 0: global causal attention; > 0: sees keys p-window+1 .. p
  double rope_theta = 1.5e6;
};

struct ModelConfig {
  std::string name;
  int n_layer = 0;
  int64_t n_embd = 0;          // hidden size H
  int n_head = 0;
  int n_head_kv = 0;
  int64_t head_dim = 0;        // from attention.key_length; NOT n_embd / n_head (21B: 2560/28 != 128)
  int n_expert = 0;
  int n_expert_used = 0;       // top-K
  int64_t n_ff_exp = 0;        // expert FFN width F
  int64_t n_vocab = 0;         // rows of token_embd
  int64_t n_ctx_train = 0;
  double rms_eps = 1e-6;
  GatingFunc gating = GatingFunc::softmax;
  std::vector<LayerConfig> layers;

  int64_t q_width() const { return head_dim * n_head; }
  int64_t kv_width() const { return head_dim * n_head_kv; }
  bool any_sliding_window() const;
  int64_t max_window() const;  // largest window among windowed layers, 0 if none
};

// Overrides a user may need for files with incomplete metadata (e.g. PowerInfer GGUFs that
// omit expert_gating_func for sigmoid models) or to shrink windows in tests.
struct ConfigOverrides {
  std::optional<GatingFunc> gating;
  std::optional<int64_t> window;
};

// Reads smallthinker.* metadata; throws std::runtime_error naming the file and the key
// on missing or inconsistent values. `warnings` collects non-fatal notes for the caller.
ModelConfig config_from_gguf(const GgufFile& file, const ConfigOverrides& overrides = {},
                             std::vector<std::string>* warnings = nullptr);

// The layout rule llama.cpp applies to GGUF metadata: with a sliding window, layers with
// il % period == 0 are global NoPE and the rest windowed RoPE; without, all global RoPE.
std::vector<LayerConfig> layout_from_rule(int n_layer, int64_t window, int period, double rope_theta,
                                          double rope_theta_swa);

}  // namespace st
