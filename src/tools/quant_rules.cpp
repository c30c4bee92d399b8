#include "tools/quant_rules.h"

#include <algorithm>
#include <cctype>

namespace smallthinker {
namespace {

using st::TensorType;

struct SchemeRow {
  const char* name;
  TensorType base;
  Mixture mixture;
  uint32_t file_type;  // llama_ftype: ALL_F32 0, MOSTLY_F16 1, Q4_0 2, Q4_1 3, Q8_0 7, Q5_0 8,
                       // Q5_1 9, Q2_K 10, Q3_K_S 11, Q3_K_M 12, Q3_K_L 13, Q4_K_S 14, Q4_K_M 15,
                       // Q5_K_S 16, Q5_K_M 17, Q6_K 18, IQ4_NL 25, IQ4_XS 30, BF16 32
};

constexpr SchemeRow kSchemes[] = {
    {"f32", TensorType::F32, Mixture::plain, 0},         {"f16", TensorType::F16, Mixture::plain, 1},
    {"bf16", TensorType::BF16, Mixture::plain, 32},      {"q8_0", TensorType::Q8_0, Mixture::plain, 7},
    {"q4_0", TensorType::Q4_0, Mixture::plain, 2},       {"q4_1", TensorType::Q4_1, Mixture::plain, 3},
    {"q5_0", TensorType::Q5_0, Mixture::plain, 8},       {"q5_1", TensorType::Q5_1, Mixture::plain, 9},
    {"q4_k", TensorType::Q4_K, Mixture::plain, 14},      {"q5_k", TensorType::Q5_K, Mixture::plain, 16},
    {"q6_k", TensorType::Q6_K, Mixture::plain, 18},      {"q4_k_m", TensorType::Q4_K, Mixture::k_m, 15},
    {"q5_k_m", TensorType::Q5_K, Mixture::k_m, 17},      {"q2_k", TensorType::Q2_K, Mixture::q2_k, 10},
    {"q3_k_s", TensorType::Q3_K, Mixture::q3_k_s, 11},   {"q3_k_m", TensorType::Q3_K, Mixture::q3_k_m, 12},
    {"q3_k_l", TensorType::Q3_K, Mixture::q3_k_l, 13},   {"q4_k_s", TensorType::Q4_K, Mixture::q4_k_s, 14},
    {"iq4_nl", TensorType::IQ4_NL, Mixture::plain, 25},  {"iq4_xs", TensorType::IQ4_XS, Mixture::plain, 30},
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
      // No 2- or 3-bit type has 32-element blocks: the non-linear 4-bit one is the closest.
      case TensorType::Q2_K:
      case TensorType::Q3_K:
      case TensorType::IQ4_XS: t = TensorType::IQ4_NL; break;
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
    if (lower == r.name) return QuantScheme{r.name, r.base, r.mixture == Mixture::k_m, r.file_type, r.mixture};
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

namespace {

// The low-bit schemes' departures from the base type (docs/QUANTIZE.md). Attention is a few
// percent of the model and stays resident under --memory, so bits spent there are cheap;
// ffn_down feeds the residual stream directly; the gate/up experts are most of the bytes.
TensorType mixture_type(Mixture mix, TensorType want, const TensorKind& k, int n_layer) {
  using R = TensorRole;
  const bool more = k.layer >= 0 && uses_more_bits(k.layer, n_layer);
  const bool first_eighth = k.layer >= 0 && k.layer < std::max(1, n_layer / 8);
  const bool down = k.role == R::ffn_down_exps, v = k.role == R::attn_v, out = k.role == R::attn_out;
  switch (mix) {
    case Mixture::plain:
    case Mixture::q3_k_s: return want;
    case Mixture::k_m: return (v || down) && more ? TensorType::Q6_K : want;
    case Mixture::q4_k_s: return (v || down) && first_eighth ? TensorType::Q5_K : want;
    case Mixture::q3_k_m:
      if (v) return TensorType::Q5_K;
      if (out || (down && more)) return TensorType::Q4_K;
      return want;
    case Mixture::q3_k_l: return v || out || down ? TensorType::Q5_K : want;
    case Mixture::q2_k:
      if (v) return TensorType::Q4_K;
      if (down || out || k.role == R::attn_q || k.role == R::attn_k) return TensorType::Q3_K;
      return want;
  }
  return want;
}

}  // namespace

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
  if (is_output) return fit_row(bits(want) < bits(TensorType::Q6_K) ? TensorType::Q6_K : want, t.ne0);
  return fit_row(mixture_type(s.mixture, want, k, t.n_layer), t.ne0);
}

}  // namespace smallthinker
