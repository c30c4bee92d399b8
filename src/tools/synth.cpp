// `smallthinker synth`: random-weight SmallThinker models of any shape in the llama.cpp GGUF
// schema, for tests and benchmarks. Weights are scaled so activations stay O(1) through the
// layers and router logits stay far from sigmoid saturation (spec section 2: ties at 1.0f
// make implementations disagree). Generation is deterministic for a seed, whatever the
// thread count: every row has its own random stream.
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "formats/gguf_names.h"
#include "formats/output_file.h"
#include "kernels/kernel_table.h"
#include "kernels/thread_pool.h"
#include "smallthinker/tools.h"
#include "tools/synth_vocab.h"

namespace smallthinker {
namespace names = st::gguf_names;
namespace {

struct Shape {
  int n_layer;
  int64_t n_embd;
  int n_head, n_head_kv;
  int64_t head_dim;
  int n_expert, n_expert_used;
  int64_t n_ff_exp, n_vocab, n_ctx;
  int64_t window;
  std::string gating;
};

Shape preset(const std::string& name) {
  if (name == "tiny") return {4, 256, 4, 2, 64, 8, 2, 256, 512, 2048, 0, "sigmoid"};
  // head_dim * n_head != n_embd here on purpose: the 21B model has that property too.
  if (name == "tiny-swa") return {5, 256, 8, 2, 64, 8, 3, 256, 512, 2048, 16, "softmax"};
  if (name == "4b") return {32, 1536, 12, 2, 128, 32, 4, 768, 151936, 32768, 0, "sigmoid"};
  if (name == "21b") return {52, 2560, 28, 4, 128, 64, 6, 768, 151936, 16384, 4096, "softmax"};
  throw std::invalid_argument("unknown preset '" + name + "' (choose tiny, tiny-swa, 4b or 21b)");
}

// splitmix64: tiny, fast, and good enough for random weights.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }  // [0, 1)
};

// How a tensor's values are drawn: uniform with the given standard deviation around `mean`.
struct Init {
  float mean;
  float stddev;
  // Optionally adds `dir_scale` * direction to the rows for which dir_rows(row) is true:
  // how realistic routing and ReGLU sparsity are planted (see synth_model).
  const std::vector<float>* direction = nullptr;
  float dir_scale = 0;
  bool (*dir_rows)(int64_t row) = nullptr;
};

class Synthesizer {
 public:
  Synthesizer(const SynthOptions& o, st::ThreadPool& pool) : o_(o), pool_(pool) {}

  void add(st::GgufWriter& w, const std::string& name, st::TensorType type, std::vector<int64_t> ne, Init init) {
    const uint64_t tensor_seed = o_.seed * 0x100000001B3ull + (n_tensors_++) * 0x9E3779B97F4A7C15ull;
    const int64_t cols = ne[0];
    int64_t rows = 1;
    for (size_t i = 1; i < ne.size(); ++i) rows *= ne[i];
    if (!st::row_fits(type, cols))
      throw std::invalid_argument("tensor " + name + ": " + std::to_string(cols) + " columns are not a multiple of the " +
                                  std::string(st::tensor_type_name(type)) + " block size; choose dimensions that are");
    w.add_tensor(name, type, ne, [this, type, cols, rows, init, tensor_seed](std::span<uint8_t> dst) {
      const size_t rb = st::row_bytes(type, cols);
      const st::KernelTable& kt = st::kernel_table(type);
      const float half_width = init.stddev * std::sqrt(3.0f);  // uniform [-a, a] has std a / sqrt(3)
      std::vector<std::vector<float>> bufs(static_cast<size_t>(pool_.size()), std::vector<float>(static_cast<size_t>(cols)));
      pool_.parallel_for(rows, 16, [&](int64_t b, int64_t e, int t) {
        float* buf = bufs[static_cast<size_t>(t)].data();
        for (int64_t r = b; r < e; ++r) {
          Rng rng{tensor_seed ^ (static_cast<uint64_t>(r) * 0xD1B54A32D192ED03ull)};
          for (int64_t c = 0; c < cols; ++c) buf[c] = init.mean + (2.0f * rng.uniform() - 1.0f) * half_width;
          if (init.direction && (!init.dir_rows || init.dir_rows(r)))
            for (int64_t c = 0; c < cols; ++c) buf[c] += init.dir_scale * (*init.direction)[static_cast<size_t>(c)];
          kt.quantize_row(buf, dst.data() + static_cast<size_t>(r) * rb, cols);
        }
      });
    });
  }

 private:
  const SynthOptions& o_;
  st::ThreadPool& pool_;
  uint64_t n_tensors_ = 0;
};

// Inverse of the standard normal CDF (bisection on erfc: precise enough for planting).
double normal_quantile(double p) {
  double lo = -8, hi = 8;
  for (int i = 0; i < 100; ++i) {
    const double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace

void synth_model(const SynthOptions& o, const std::string& path, const std::function<void(size_t, size_t)>& progress) {
  st::check_output_path(path, {o.tokenizer_json});  // a bad output path fails before the work
  Shape s = preset(o.preset);
  if (o.n_layer) s.n_layer = o.n_layer;
  if (o.n_embd) s.n_embd = o.n_embd;
  if (o.n_head) s.n_head = o.n_head;
  if (o.n_head_kv) s.n_head_kv = o.n_head_kv;
  if (o.head_dim) s.head_dim = o.head_dim;
  if (o.n_expert) s.n_expert = o.n_expert;
  if (o.n_expert_used) s.n_expert_used = o.n_expert_used;
  if (o.n_ff_exp) s.n_ff_exp = o.n_ff_exp;
  if (o.n_vocab) s.n_vocab = o.n_vocab;
  if (o.n_ctx) s.n_ctx = o.n_ctx;
  if (o.window) s.window = *o.window;
  if (!o.gating.empty()) s.gating = o.gating;
  if (s.gating != "softmax" && s.gating != "sigmoid") throw std::invalid_argument("--gating must be softmax or sigmoid");
  if (s.n_head % s.n_head_kv != 0) throw std::invalid_argument("heads must be a multiple of kv heads");
  if (s.n_expert_used > s.n_expert) throw std::invalid_argument("experts-used exceeds experts");
  const auto type = st::tensor_type_from_name(o.type);
  if (!type || !st::weight_type_supported(*type))
    throw std::invalid_argument("unknown or unsupported weight type '" + o.type + "' (supported: " +
                                st::supported_weight_types() + ")");

  st::ThreadPool pool(o.n_threads);
  st::GgufWriter w;
  const std::string arch(names::kArchSmallThinker);
  auto key = [&](std::string_view suffix) { return names::arch_key(arch, suffix); };
  w.set(std::string(names::kArchitecture), st::GgufValue::string(arch));
  w.set(std::string(names::kName), st::GgufValue::string("synthetic-" + o.preset + "-" + o.type));
  w.set(key(names::kBlockCount), st::GgufValue::u32(static_cast<uint32_t>(s.n_layer)));
  w.set(key(names::kContextLength), st::GgufValue::u32(static_cast<uint32_t>(s.n_ctx)));
  w.set(key(names::kEmbeddingLength), st::GgufValue::u32(static_cast<uint32_t>(s.n_embd)));
  w.set(key(names::kFeedForwardLength), st::GgufValue::u32(static_cast<uint32_t>(s.n_ff_exp)));
  w.set(key(names::kExpertFeedForwardLength), st::GgufValue::u32(static_cast<uint32_t>(s.n_ff_exp)));
  w.set(key(names::kHeadCount), st::GgufValue::u32(static_cast<uint32_t>(s.n_head)));
  w.set(key(names::kHeadCountKv), st::GgufValue::u32(static_cast<uint32_t>(s.n_head_kv)));
  w.set(key(names::kKeyLength), st::GgufValue::u32(static_cast<uint32_t>(s.head_dim)));
  w.set(key(names::kValueLength), st::GgufValue::u32(static_cast<uint32_t>(s.head_dim)));
  w.set(key(names::kRopeFreqBase), st::GgufValue::f32(1.5e6f));
  w.set(key(names::kRmsEps), st::GgufValue::f32(1e-6f));
  w.set(key(names::kExpertCount), st::GgufValue::u32(static_cast<uint32_t>(s.n_expert)));
  w.set(key(names::kExpertUsedCount), st::GgufValue::u32(static_cast<uint32_t>(s.n_expert_used)));
  w.set(key(names::kExpertGatingFunc), st::GgufValue::u32(s.gating == "softmax" ? 1 : 2));
  if (s.window > 0) w.set(key(names::kSlidingWindow), st::GgufValue::u32(static_cast<uint32_t>(s.window)));
  add_synth_vocab(w, s.n_vocab, o.tokenizer_json);

  const int64_t H = s.n_embd, F = s.n_ff_exp, QW = s.head_dim * s.n_head, KVW = s.head_dim * s.n_head_kv;
  const auto f32 = st::TensorType::F32;
  const auto inv_sqrt = [](int64_t n) { return 1.0f / std::sqrt(static_cast<float>(n)); };
  if (o.routing_skew < 0 || o.reglu_zero_fraction < 0 || o.reglu_zero_fraction >= 1)
    throw std::invalid_argument("--routing-skew must be >= 0 and --reglu-zero in [0, 1)");
  // Realistic routing and sparsity. Random weights route uniformly and half the ReGLU neurons
  // fire; real SmallThinker checkpoints have a stable hot set (20-30% of experts at 0.4-0.6
  // frequency) and mostly-zero neurons. Both are planted through one shared direction u:
  // every embedding row gets a component along u, so the residual stream carries u through
  // all layers; router rows of hot experts (every 4th expert) lean towards u, raising their
  // logits by about `routing_skew`; gate rows lean away from u, shifting gate
  // pre-activations down so that about `reglu_zero_fraction` of them are negative.
  std::vector<float> u(static_cast<size_t>(H));
  const bool planted = o.routing_skew > 0 || o.reglu_zero_fraction > 0;
  if (planted) {
    Rng rng{o.seed ^ 0xC0FFEEull};
    double norm = 0;
    for (auto& v : u) {
      v = 2.0f * rng.uniform() - 1.0f;
      norm += static_cast<double>(v) * v;
    }
    for (auto& v : u) v = static_cast<float>(v / std::sqrt(norm));
  }
  const float sqrt_h = std::sqrt(static_cast<float>(H));
  // Embedding elements have std 1 (|row| ~ sqrt(H)); the planted component has the same norm.
  Init embd{0.0f, 1.0f, planted ? &u : nullptr, sqrt_h, nullptr};
  // x.u ~ sqrt(H) and rmsnorm divides by ~sqrt(2): logit shift = scale * sqrt(H) (router), and
  // gate shift = -scale * sqrt(H / 2) measured in units of the gate's std (~1).
  Init router{0.0f, 0.5f * inv_sqrt(H), o.routing_skew > 0 ? &u : nullptr,
              static_cast<float>(o.routing_skew) / sqrt_h, [](int64_t row) { return row % 4 == 0; }};
  const double z = o.reglu_zero_fraction > 0 ? normal_quantile(o.reglu_zero_fraction) : 0.0;
  Init gate{0.0f, inv_sqrt(H), o.reglu_zero_fraction > 0 ? &u : nullptr,
            static_cast<float>(-z * std::sqrt(2.0) / sqrt_h), nullptr};
  Synthesizer syn(o, pool);
  syn.add(w, std::string(names::kTokenEmbd), *type, {H, s.n_vocab}, embd);
  for (int il = 0; il < s.n_layer; ++il) {
    auto n = [&](std::string_view suffix) { return names::blk(il, suffix); };
    syn.add(w, n(names::kAttnNorm), f32, {H}, {1.0f, 0.1f});
    syn.add(w, n(names::kAttnQ), *type, {H, QW}, {0.0f, inv_sqrt(H)});
    syn.add(w, n(names::kAttnK), *type, {H, KVW}, {0.0f, inv_sqrt(H)});
    syn.add(w, n(names::kAttnV), *type, {H, KVW}, {0.0f, inv_sqrt(H)});
    syn.add(w, n(names::kAttnOut), *type, {QW, H}, {0.0f, inv_sqrt(QW)});
    syn.add(w, n(names::kFfnNorm), f32, {H}, {1.0f, 0.1f});
    // Router on the raw residual (norm grows with depth): small scale keeps logits O(1).
    syn.add(w, n(names::kFfnRouter), f32, {H, s.n_expert}, router);
    syn.add(w, n(names::kFfnGateExps), *type, {H, F, s.n_expert}, gate);
    syn.add(w, n(names::kFfnUpExps), *type, {H, F, s.n_expert}, {0.0f, inv_sqrt(H)});
    syn.add(w, n(names::kFfnDownExps), *type, {F, H, s.n_expert}, {0.0f, inv_sqrt(F)});
  }
  syn.add(w, std::string(names::kOutputNorm), f32, {H}, {1.0f, 0.1f});
  if (!o.tied_output) syn.add(w, std::string(names::kOutput), *type, {H, s.n_vocab}, {0.0f, inv_sqrt(H)});
  w.write(path, progress);
}

std::vector<float> dequantize_tensor(const std::string& gguf_path, const std::string& tensor_name) {
  const auto file = st::GgufFile::open(gguf_path);
  const st::GgufTensorInfo* t = file->find_tensor(tensor_name);
  if (!t) throw std::invalid_argument(gguf_path + ": no tensor named '" + tensor_name + "'");
  if (!st::kernels_supported(t->type))
    throw std::runtime_error(gguf_path + ": tensor '" + tensor_name + "' has type " + st::type_label(t->type) +
                             ", which this engine cannot dequantize (supported: " + st::supported_weight_types() + ")");
  std::vector<float> out(static_cast<size_t>(t->n_elements()));
  const st::KernelTable& kt = st::kernel_table(t->type);
  const size_t rb = st::row_bytes(t->type, t->ne[0]);
  for (int64_t r = 0; r < t->n_rows(); ++r)
    kt.dequantize_row(t->data + static_cast<size_t>(r) * rb, out.data() + static_cast<size_t>(r * t->ne[0]), t->ne[0]);
  return out;
}

}  // namespace smallthinker
