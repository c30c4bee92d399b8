#include "model/config.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "formats/gguf.h"
#include "formats/gguf_names.h"

namespace st {
namespace names = gguf_names;

bool ModelConfig::any_sliding_window() const {
  return std::any_of(layers.begin(), layers.end(), [](const LayerConfig& l) { return l.window > 0; });
}

int64_t ModelConfig::max_window() const {
  int64_t w = 0;
  for (const auto& l : layers) w = std::max(w, l.window);
  return w;
}

std::vector<LayerConfig> layout_from_rule(int n_layer, int64_t window, int period, double rope_theta,
                                          double rope_theta_swa) {
  std::vector<LayerConfig> layers(static_cast<size_t>(n_layer));
  for (int il = 0; il < n_layer; ++il) {
    auto& l = layers[static_cast<size_t>(il)];
    const bool global_nope = window > 0 && il % period == 0;
    l.use_rope = window <= 0 || !global_nope;
    l.window = (window > 0 && !global_nope) ? window : 0;
    l.rope_theta = l.window > 0 ? rope_theta_swa : rope_theta;
  }
  return layers;
}

namespace {

[[noreturn]] void fail(const GgufFile& f, const std::string& what) {
  throw std::runtime_error(f.path() + ": " + what);
}

// A RoPE frequency base: every angle is position * base^(-2i/d), so a base that is not finite
// and > 1 turns every rotated query and key (and then every logit) into NaN or a constant.
double rope_base(const GgufFile& f, const std::string& key, double fallback) {
  const double v = f.get_float_or(key, fallback);
  if (!std::isfinite(v) || v <= 1.0 || v > 1e12)
    fail(f, key + " = " + std::to_string(v) + " is out of range (expected a finite base > 1, e.g. 10000 or 1.5e6)");
  return v;
}

// Gating: 1 softmax (21B), 2 sigmoid (4B). PowerInfer files omit the key for sigmoid models.
GatingFunc gating_of(const GgufFile& f, const std::string& key, const ConfigOverrides& overrides,
                     std::vector<std::string>* warnings) {
  if (overrides.gating) return *overrides.gating;
  if (f.has(key)) {
    const int64_t g = f.get_int(key);
    if (g != 1 && g != 2) fail(f, key + " = " + std::to_string(g) + " (expected 1 = softmax or 2 = sigmoid)");
    return g == 1 ? GatingFunc::softmax : GatingFunc::sigmoid;
  }
  if (warnings) warnings->push_back(key + " missing: assuming softmax gating; pass --gating sigmoid for 4B-style models");
  return GatingFunc::softmax;
}

// Per-layer attention: the sliding-window rule (window, period, RoPE bases), then the explicit
// per-layer arrays where the file has them.
std::vector<LayerConfig> layers_of(const GgufFile& f, const std::string& arch, int n_layer,
                                   const ConfigOverrides& overrides) {
  auto key = [&](std::string_view suffix) { return names::arch_key(arch, suffix); };
  const double theta = rope_base(f, key(names::kRopeFreqBase), 1.5e6);
  const double theta_swa = rope_base(f, key(names::kRopeFreqBaseSwa), theta);
  int64_t window = f.get_int_or(key(names::kSlidingWindow), 0);
  if (window < 0) fail(f, key(names::kSlidingWindow) + " is negative");
  // Only a pattern the file gives is checked: the default must not fail on a 1- or 2-layer model.
  int64_t period = 4;
  if (f.has(key(names::kSlidingWindowPattern))) {
    period = f.get_int(key(names::kSlidingWindowPattern));
    if (period <= 0 || period > n_layer + 1)
      fail(f, key(names::kSlidingWindowPattern) + " = " + std::to_string(period) + " is out of range (1.." +
                  std::to_string(n_layer + 1) + ")");
  }
  if (overrides.window && window > 0) window = *overrides.window;
  std::vector<LayerConfig> layers = layout_from_rule(n_layer, window, static_cast<int>(period), theta, theta_swa);

  // Explicit per-layer arrays (our extension, written for HF layouts) override the rule.
  const auto layer_array = [&](std::string_view suffix) -> const std::vector<int64_t>* {
    if (!f.has(key(suffix))) return nullptr;
    const auto& a = f.get_int_array(key(suffix));
    if (a.size() != static_cast<size_t>(n_layer))
      fail(f, key(suffix) + " has " + std::to_string(a.size()) + " entries for " + std::to_string(n_layer) + " layers");
    return &a;
  };
  if (const auto* rope = layer_array(names::kRopeLayout))
    for (int il = 0; il < n_layer; ++il) layers[static_cast<size_t>(il)].use_rope = (*rope)[static_cast<size_t>(il)] != 0;
  if (const auto* swa = layer_array(names::kSlidingWindowLayout)) {
    if (window <= 0) fail(f, key(names::kSlidingWindowLayout) + " present but " + key(names::kSlidingWindow) + " is missing or 0");
    for (int il = 0; il < n_layer; ++il) {
      auto& l = layers[static_cast<size_t>(il)];
      l.window = (*swa)[static_cast<size_t>(il)] != 0 ? window : 0;
      l.rope_theta = l.window > 0 ? theta_swa : theta;
    }
  }
  return layers;
}

}  // namespace

ModelConfig config_from_gguf(const GgufFile& f, const ConfigOverrides& overrides,
                             std::vector<std::string>* warnings) {
  const std::string arch = f.get_string_or(std::string(names::kArchitecture), "");
  if (arch != names::kArchSmallThinker)
    fail(f, "general.architecture is '" + arch + "', expected 'smallthinker' (this engine runs SmallThinker models only)");
  auto key = [&](std::string_view suffix) { return names::arch_key(arch, suffix); };
  auto positive = [&](std::string_view suffix) {
    const int64_t v = f.get_int(key(suffix));
    if (v <= 0 || v > (int64_t{1} << 31)) fail(f, "metadata " + key(suffix) + " = " + std::to_string(v) + " is out of range");
    return v;
  };

  ModelConfig c;
  c.name = f.get_string_or(std::string(names::kName), "");
  c.n_layer = static_cast<int>(positive(names::kBlockCount));
  c.n_embd = positive(names::kEmbeddingLength);
  c.n_head = static_cast<int>(positive(names::kHeadCount));
  c.n_head_kv = static_cast<int>(positive(names::kHeadCountKv));
  c.n_expert = static_cast<int>(positive(names::kExpertCount));
  c.n_expert_used = static_cast<int>(positive(names::kExpertUsedCount));
  c.n_ctx_train = f.get_int_or(key(names::kContextLength), 4096);
  c.rms_eps = f.get_float_or(key(names::kRmsEps), 1e-6);
  if (!(c.rms_eps > 0 && c.rms_eps < 1)) fail(f, key(names::kRmsEps) + " = " + std::to_string(c.rms_eps) + " must be in (0, 1)");
  if (c.n_ctx_train <= 0 || c.n_ctx_train > (int64_t{1} << 31))
    fail(f, "metadata " + key(names::kContextLength) + " = " + std::to_string(c.n_ctx_train) + " is out of range");

  // head_dim must come from key_length: n_embd / n_head is wrong for the 21B model.
  if (f.has(key(names::kKeyLength))) {
    c.head_dim = positive(names::kKeyLength);
    const int64_t vlen = f.get_int_or(key(names::kValueLength), c.head_dim);
    if (vlen != c.head_dim) fail(f, "attention.value_length (" + std::to_string(vlen) + ") != key_length (" + std::to_string(c.head_dim) + "): not supported");
  } else {
    c.head_dim = c.n_embd / c.n_head;
    if (warnings) warnings->push_back("attention.key_length missing: assuming head_dim = n_embd / n_head = " + std::to_string(c.head_dim));
  }
  if (c.head_dim % 2 != 0) fail(f, "head_dim " + std::to_string(c.head_dim) + " must be even for RoPE");
  if (c.n_head % c.n_head_kv != 0)
    fail(f, "attention.head_count (" + std::to_string(c.n_head) + ") is not a multiple of head_count_kv (" + std::to_string(c.n_head_kv) + ")");
  if (c.n_expert_used > c.n_expert)
    fail(f, "expert_used_count (" + std::to_string(c.n_expert_used) + ") exceeds expert_count (" + std::to_string(c.n_expert) + ")");

  if (f.has(key(names::kExpertFeedForwardLength))) c.n_ff_exp = positive(names::kExpertFeedForwardLength);
  else c.n_ff_exp = positive(names::kFeedForwardLength);

  c.gating = gating_of(f, key(names::kExpertGatingFunc), overrides, warnings);
  c.layers = layers_of(f, arch, c.n_layer, overrides);

  const auto* embd = f.find_tensor(names::kTokenEmbd);
  if (!embd) fail(f, "tensor token_embd.weight is missing");
  c.n_vocab = embd->ne[1];
  return c;
}

}  // namespace st
