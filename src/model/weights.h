// The dense weights of a SmallThinker model as views into the GGUF mapping, validated against
// the config once at load. Expert weights are reached through an ExpertSource instead (they
// may live on storage); the 3-D expert tensors are still described here so sources can find them.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/tensor_view.h"

namespace st {

class GgufFile;
struct GgufTensorInfo;

// Where one layer's stacked expert tensor sits: n_expert slices of `rows_per_expert` rows.
struct ExpertTensor {
  TensorView all;              // n_expert * rows_per_expert rows
  int64_t rows_per_expert = 0;
  uint64_t file_offset = 0;    // absolute offset of the tensor in the GGUF (for direct reads)
  TensorView expert(int e) const { return all.rows(rows_per_expert * e, rows_per_expert); }
  size_t expert_bytes() const { return static_cast<size_t>(rows_per_expert) * all.row_bytes; }
};

struct LayerWeights {
  std::vector<float> attn_norm;   // [n_embd]  (norms are tiny: kept as f32 copies)
  std::vector<float> ffn_norm;    // [n_embd]
  TensorView wq;                  // [q_width rows  x n_embd]
  TensorView wk;                  // [kv_width rows x n_embd]
  TensorView wv;                  // [kv_width rows x n_embd]
  TensorView wo;                  // [n_embd rows   x q_width]
  TensorView router;              // [n_expert rows x n_embd]   ffn_gate_inp
  ExpertTensor gate_exps;         // per expert [n_ff_exp rows x n_embd]
  ExpertTensor up_exps;           // per expert [n_ff_exp rows x n_embd]
  ExpertTensor down_exps;         // per expert [n_embd rows x n_ff_exp]; PowerInfer files may store it as
                                  // ne {H, F, E}: then [n_ff_exp x n_embd] in layout `transposed`
};

struct ModelWeights {
  TensorView token_embd;          // [n_vocab rows x n_embd]
  std::vector<float> output_norm; // [n_embd]
  TensorView output;              // [n_vocab rows x n_embd]; token_embd when output.weight is absent
  bool tied_output = false;
  std::vector<LayerWeights> layers;
};

// Checks every tensor's presence, type and shape against `config`; throws naming the file,
// the tensor, and what was expected.
ModelWeights weights_from_gguf(const GgufFile& file, const ModelConfig& config);

}  // namespace st
