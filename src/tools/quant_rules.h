// Which tensor type each tensor of a SmallThinker GGUF gets under a quantization scheme
// ("q4_k_m", "q8_0", ...). One rule set, used by both `convert` and `quantize`, and
// documented with its reasoning in docs/QUANTIZE.md.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "formats/tensor_type.h"

namespace smallthinker {

// How a scheme departs from its base type for particular tensors (docs/QUANTIZE.md).
enum class Mixture {
  plain,   // base everywhere (lm_head at least Q6_K)
  k_m,     // q4_k_m / q5_k_m: Q6_K attn_v and ffn_down_exps in the "more bits" layers
  q4_k_s,  // Q5_K attn_v and ffn_down_exps in the first eighth of the layers
  q3_k_s,  // Q3_K everywhere but lm_head
  q3_k_m,  // Q5_K attn_v, Q4_K attn_output, Q4_K ffn_down_exps in the "more bits" layers
  q3_k_l,  // Q5_K attn_v, attn_output and every ffn_down_exps
  q2_k,    // Q2_K gate/up experts; Q3_K ffn_down_exps and attention, Q4_K attn_v
};

struct QuantScheme {
  std::string name;                      // as the user spelled it, lower case: "q4_k_m"
  st::TensorType base = st::TensorType::F32;  // the type of most matrices
  bool k_mixture = false;                // the _M schemes: more bits for attn_v / ffn_down of some layers
  uint32_t llama_file_type = 0;          // general.file_type (llama.cpp's llama_ftype)
  Mixture mixture = Mixture::plain;
};

// nullopt for an unknown name; quant_scheme_names() lists the accepted ones.
std::optional<QuantScheme> quant_scheme_from_name(std::string_view name);
const std::vector<std::string>& quant_scheme_names();

// What a GGUF tensor is, from its name.
enum class TensorRole { token_embd, output, output_norm, attn_norm, ffn_norm, attn_q, attn_k, attn_v, attn_out,
                        router, ffn_gate_exps, ffn_up_exps, ffn_down_exps, other };
struct TensorKind {
  TensorRole role = TensorRole::other;
  int layer = -1;                        // blk.N.*; -1 for global tensors
};
TensorKind tensor_kind(std::string_view gguf_name);

struct TensorFacts {
  std::string_view name;
  int n_dims = 1;
  int64_t ne0 = 0;                       // row length
  int n_layer = 0;
  bool tied_output = false;              // token_embd doubles as lm_head (no output.weight)
};

// The type a tensor gets. Norms (1-D) and routers stay F32 whatever the scheme; with `pure`
// every other tensor gets scheme.base; otherwise the scheme's rules apply (docs/QUANTIZE.md).
// Where the row length is not a whole number of blocks, a type with smaller blocks of about
// the same precision is used (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K / Q3_K /
// IQ4_XS -> IQ4_NL, then F16).
st::TensorType choose_tensor_type(const QuantScheme& scheme, bool pure, const TensorFacts& t);

// llama.cpp's "use more bits" layer pattern for the _M schemes: the first and last eighth of
// the layers and every third layer in between.
bool uses_more_bits(int layer, int n_layer);

}  // namespace smallthinker
