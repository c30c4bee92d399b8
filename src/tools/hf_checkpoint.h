// A Hugging Face SmallThinker checkpoint folder: config.json, the safetensors shards (with
// model.safetensors.index.json, or a single model.safetensors), tokenizer files.
// Names and config keys: shared/smallthinker-spec.md section 3.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "formats/safetensors.h"

namespace smallthinker {

struct HfConfig {
  std::string model_name;
  int n_layer = 0;
  int64_t hidden = 0;
  int n_head = 0, n_head_kv = 0;
  int64_t head_dim = 0;
  int n_expert = 0, n_expert_used = 0;
  int64_t n_ff = 0;                   // moe_ffn_hidden_size
  int64_t vocab = 0;
  int64_t n_ctx = 0;                  // max_position_embeddings
  double rms_eps = 1e-6;
  double rope_theta = 1.5e6;
  bool softmax_gating = false;        // moe_primary_router_apply_softmax (absent = sigmoid)
  bool tied = false;                  // tie_word_embeddings
  std::vector<int> rope_layout;       // per layer, 1 = RoPE (absent: all RoPE)
  std::vector<int> window_layout;     // per layer, 1 = sliding window (absent: none)
  int64_t window = 0;                 // sliding_window_size (meaningful when some layer is windowed)
};

// Parses and validates config.json; throws std::runtime_error naming the file and key.
HfConfig read_hf_config(const std::string& path);

class HfCheckpoint {
 public:
  // Opens every shard named by the index (or the single model.safetensors) of `dir`.
  explicit HfCheckpoint(const std::string& dir);

  bool has(const std::string& name) const;
  // The tensor `name` with exactly `shape`; throws naming the file on absence or mismatch.
  const st::SafetensorsTensor& tensor(const std::string& name, const std::vector<int64_t>& shape) const;
  const st::SafetensorsFile& file_of(const std::string& name) const;
  size_t n_tensors() const { return where_.size(); }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::vector<std::unique_ptr<st::SafetensorsFile>> files_;
  std::map<std::string, size_t> where_;  // tensor name -> index into files_
};

}  // namespace smallthinker
