#include "tools/quant_rules.h"

#include <cctype>

namespace smallthinker {
namespace {

using st::TensorType;

struct SchemeRow {
  const char* name;
  TensorType base;
  bool k_mixture;
  uint32_t file_type;  // llama_ftype: ALL_F32 0, MOSTLY_F16 1, Q4_0 2, Q4_1 3, Q8_0 7, Q5_0 8,
                       // Q5_1 9, Q4_K_S 14, Q4_K_M 15, Q5_K_S 16, Q5_K_M 17, Q6_K 18, BF16 32
};

constexpr SchemeRow kSchemes[] = {
    {"f32", TensorType::F32, false, 0},     {"f16", TensorType::F16, false, 1},
    {"bf16", TensorType::BF16, false, 32},  {"q8_0", TensorType::Q8_0, false, 7},
    {"q4_0", TensorType::Q4_0, false, 2},   {"q4_1", TensorType::Q4_1, false, 3},
    {"q5_0", TensorType::Q5_0, false, 8},   {"q5_1", TensorType::Q5_1, false, 9},
    {"q4_k", TensorType::Q4_K, false, 14},  {"q5_k", TensorType::Q5_K, false, 16},
    {"q6_k", TensorType::Q6_K, false, 18},  {"q4_k_m", TensorType::Q4_K, true, 15},
    {"q5_k_m", TensorType::Q5_K, true, 17},
};

bool is_float(TensorType t) { return t == TensorType::F32 || t == TensorType::F16 || t == TensorType::BF16; }

// Bits per weight, to compare precisions.
double bits(TensorType t) {
  const auto& i = st::tensor_type_info(t);
  return 8.0 * static_cast<double>(i.block_bytes) / static_cast<double>(i.block_size);
}

TensorType fit_row(TensorType t, int64_t ne0) {
  while (!st::row_fits(t, ne0)) {
    switch (t) {
      case TensorType::Q4_K: t = TensorType::Q5_0; break;
      case TensorType::Q5_K: t = TensorType::Q5_1; break;
      case TensorType::Q6_K: t = TensorType::Q8_0; break;
      default: return TensorType::F16;  // 32-element blocks do not fit either
    }
  }
  return t;
}

bool parse_layer(std::string_view s, int& layer, std::string_view& rest) {
  if (s.substr(0, 4) != "blk.") return false;
  size_t i = 4;
  int v = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) && v < 1000000) v = v * 10 + (s[i++] - '0');
  if (i == 4 || i >= s.size() || s[i] != '.') return false;
  layer = v;
  rest = s.substr(i + 1);
  return true;
}

}  // namespace

std::optional<QuantScheme> quant_scheme_from_name(std::string_view name) {
  std::string lower(name);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& r : kSchemes)
    if (lower == r.name) return QuantScheme{r.name, r.base, r.k_mixture, r.file_type};
  return std::nullopt;
}

const std::vector<std::string>& quant_scheme_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& r : kSchemes) v.emplace_back(r.name);
    return v;
  }();
  return names;
}

TensorKind tensor_kind(std::string_view n) {
  if (n == "token_embd.weight") return {TensorRole::token_embd, -1};
  if (n == "output.weight") return {TensorRole::output, -1};
  if (n == "output_norm.weight") return {TensorRole::output_norm, -1};
  int layer = -1;
  std::string_view rest;
  if (!parse_layer(n, layer, rest)) return {};
  static const std::pair<std::string_view, TensorRole> kBlock[] = {
      {"attn_norm.weight", TensorRole::attn_norm},      {"ffn_norm.weight", TensorRole::ffn_norm},
      {"attn_q.weight", TensorRole::attn_q},            {"attn_k.weight", TensorRole::attn_k},
      {"attn_v.weight", TensorRole::attn_v},            {"attn_output.weight", TensorRole::attn_out},
      {"ffn_gate_inp.weight", TensorRole::router},      {"ffn_gate_exps.weight", TensorRole::ffn_gate_exps},
      {"ffn_up_exps.weight", TensorRole::ffn_up_exps},  {"ffn_down_exps.weight", TensorRole::ffn_down_exps},
  };
  for (const auto& [suffix, role] : kBlock)
    if (rest == suffix) return {role, layer};
  return {TensorRole::other, layer};
}

bool uses_more_bits(int layer, int n_layer) {
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

TensorType choose_tensor_type(const QuantScheme& s, bool pure, const TensorFacts& t) {
  const TensorKind k = tensor_kind(t.name);
  // Norm vectors are tiny and feed every activation; routers are tiny, and their logits pick
  // the experts (a near-tie flipped by rounding changes a token's whole FFN).
  if (t.n_dims < 2 || k.role == TensorRole::router || k.role == TensorRole::output_norm ||
      k.role == TensorRole::attn_norm || k.role == TensorRole::ffn_norm)
    return TensorType::F32;
  if (pure || is_float(s.base)) return fit_row(s.base, t.ne0);
  TensorType want = s.base;
  const bool is_output = k.role == TensorRole::output || (k.role == TensorRole::token_embd && t.tied_output);
  // lm_head: every token's logits go through it, and its error lands directly on them.
  if (is_output && bits(want) < bits(TensorType::Q6_K)) want = TensorType::Q6_K;
  if (s.k_mixture && k.layer >= 0 && (k.role == TensorRole::attn_v || k.role == TensorRole::ffn_down_exps) &&
      uses_more_bits(k.layer, t.n_layer))
    want = TensorType::Q6_K;
  return fit_row(want, t.ne0);
}

}  // namespace smallthinker
