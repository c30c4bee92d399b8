// `smallthinker inspect`: what a GGUF file holds and what running it costs, from metadata and
// tensor infos alone (no weight is read): metadata, tensor table, parameter counts (total and
// active per token) and, for a budget, the memory plan the engine would print at start-up.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <type_traits>
#include <variant>

#include "formats/gguf.h"
#include "formats/gguf_names.h"
#include "model/config.h"
#include "model/weights.h"
#include "runtime/dense_weights.h"
#include "runtime/kv_cache.h"
#include "runtime/memory_plan.h"
#include "smallthinker/tools.h"
#include "text/tokenizer.h"
#include "tools/quant_rules.h"

namespace smallthinker {
namespace {

std::string quoted(const std::string& s, size_t max_chars) {
  std::string body = s.size() <= max_chars ? s : s.substr(0, max_chars);
  std::string out = "\"";
  for (char c : body) {
    if (c == '\n') out += "\\n";
    else if (c == '"') out += "\\\"";
    else if (static_cast<unsigned char>(c) < 0x20) out += '?';
    else out += c;
  }
  out += "\"";
  if (s.size() > max_chars) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// A printable value; arrays longer than max_items show their first items and their length.
std::string printable(const st::GgufValue& v, size_t max_items) {
  return std::visit(
      [&](const auto& d) -> std::string {
        using T = std::decay_t<decltype(d)>;
        if constexpr (std::is_same_v<T, uint64_t> || std::is_same_v<T, int64_t>) return std::to_string(d);
        else if constexpr (std::is_same_v<T, double>) return number(d);
        else if constexpr (std::is_same_v<T, bool>) return d ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::string>) return quoted(d, 200);
        else {
          std::string s = "[";
          const size_t n = d.size();
          for (size_t i = 0; i < n && i < max_items; ++i) {
            if (i) s += ", ";
            if constexpr (std::is_same_v<T, std::vector<std::string>>) s += quoted(d[i], 40);
            else if constexpr (std::is_same_v<T, std::vector<double>>) s += number(d[i]);
            else s += std::to_string(static_cast<int64_t>(d[i]));
          }
          if (n > max_items) s += ", ...";
          s += "]";
          if (n > max_items) s += " (" + std::to_string(n) + " items)";
          return s;
        }
      },
      v.data);
}

std::string layer_kind(const st::LayerConfig& l) {
  std::string s = l.window > 0 ? "swa(" + std::to_string(l.window) + ")" : "global";
  return s + (l.use_rope ? "-rope" : "-nope");
}

uint64_t current_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

}  // namespace

ModelInspection inspect_model(const std::string& path, const InspectOptions& o) {
  ModelInspection r;
  const auto f = st::GgufFile::open(path);
  r.path = path;
  r.file_bytes = f->file_size();
  r.gguf_version = f->version();
  for (const auto& [key, value] : f->metadata()) r.metadata.emplace_back(key, printable(value, o.max_array_items));

  for (const auto& t : f->tensors()) {
    InspectTensor it;
    it.name = t.name;
    it.type = st::type_label(t.type);
    it.ne.assign(t.ne, t.ne + std::max(1, t.n_dims));
    it.bytes = t.n_bytes;
    it.size_known = st::has_layout(t.type);
    it.offset = t.file_offset;
    r.tensors.push_back(std::move(it));
    const auto n = static_cast<uint64_t>(t.n_elements());
    r.params_total += n;
    switch (tensor_kind(t.name).role) {
      case TensorRole::ffn_gate_exps: case TensorRole::ffn_up_exps: case TensorRole::ffn_down_exps:
        r.params_experts += n;
        break;
      case TensorRole::token_embd: r.params_embedding += n; break;
      case TensorRole::output: r.params_output += n; break;
      default: r.params_dense += n;
    }
  }

  // What Model::load checks before reading any weight: metadata, tensor shapes, tokenizer.
  st::ModelConfig config;
  try {
    config = st::config_from_gguf(*f, {}, &r.warnings);
    (void)st::weights_from_gguf(*f, config);
    if (f->has(st::gguf_names::kTokTokens)) (void)st::Tokenizer::from_gguf(*f);
  } catch (const std::exception& e) {
    r.runnable = false;
    r.problem = std::string("not a runnable SmallThinker model: ") + e.what();
    return r;
  }
  r.n_expert = config.n_expert;
  r.n_expert_used = config.n_expert_used;
  for (const auto& l : config.layers) r.layer_kinds.push_back(layer_kind(l));
  // Per token: every dense weight, K of E experts, lm_head (token_embd itself when tied) and one
  // embedding row.
  const uint64_t lm_head = r.params_output ? r.params_output : r.params_embedding;
  r.params_active = r.params_dense + r.params_experts / static_cast<uint64_t>(config.n_expert) *
                    static_cast<uint64_t>(config.n_expert_used) + lm_head + static_cast<uint64_t>(config.n_embd);

  if (!o.memory.empty()) {
    const st::ModelWeights weights = st::weights_from_gguf(*f, config);
    // What the engine counts as its baseline: the process after parsing metadata and
    // building the tokenizer, with the file's pages dropped.
    std::unique_ptr<st::Tokenizer> tok;
    if (f->has(st::gguf_names::kTokTokens)) tok = std::make_unique<st::Tokenizer>(st::Tokenizer::from_gguf(*f));
    st::drop_file_pages(*f);
    try {
      const auto k_type = o.kv_f32 ? st::TensorType::F32 : st::parse_kv_cache_type(o.cache_type_k, "cache type of K (-ctk)");
      const auto v_type = o.kv_f32 ? st::TensorType::F32 : st::parse_kv_cache_type(o.cache_type_v, "cache type of V (-ctv)");
      st::check_kv_cache_type(config, k_type);
      st::check_kv_cache_type(config, v_type);
      const auto plan = st::plan_memory(config, weights, o.n_ctx, k_type, v_type, o.n_batch,
                                        st::parse_byte_size(o.memory), current_rss_bytes());
      r.memory_plan = plan.describe();
    } catch (const std::runtime_error& e) {
      r.memory_plan = std::string("cannot plan: ") + e.what() + "\n";
    }
  }
  return r;
}

}  // namespace smallthinker
