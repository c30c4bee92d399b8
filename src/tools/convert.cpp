// `smallthinker convert`: a Hugging Face SmallThinker checkpoint (config.json, safetensors
// shards, tokenizer.json) -> GGUF in llama.cpp's schema (shared/smallthinker-spec.md section 3).
//
// Streaming: the shards are memory-mapped and each GGUF tensor is produced row by row from
// them when the writer reaches it; pages of the mapping are dropped batch by batch after use,
// so the resident set stays near one output tensor (the writer's buffer) whatever the model
// size. Per-expert HF tensors (experts.E.{gate,up,down}) are stacked into the 3-D
// ffn_*_exps tensors, expert e being one contiguous slice, as the engine reads them.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "formats/gguf_names.h"
#include "formats/output_file.h"
#include "kernels/float_convert.h"
#include "kernels/thread_pool.h"
#include "model/config.h"
#include "smallthinker/tools.h"
#include "text/tokenizer.h"
#include "tools/hf_checkpoint.h"
#include "tools/quant_rules.h"
#include "tools/tensor_encode.h"

namespace smallthinker {
namespace names = st::gguf_names;
namespace fs = std::filesystem;
namespace {

void to_f32(st::SafetensorsDtype dtype, const uint8_t* p, float* out, int64_t n) {
  // memcpy per element: the data section promises no alignment.
  switch (dtype) {
    case st::SafetensorsDtype::F32:
      std::memcpy(out, p, static_cast<size_t>(n) * 4);
      return;
    case st::SafetensorsDtype::F16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = st::fp16_to_fp32(h);
      }
      return;
    case st::SafetensorsDtype::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = st::bf16_to_fp32(h);
      }
      return;
  }
}

std::string lower(std::string_view s) {
  std::string r(s);
  for (auto& ch : r) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return r;
}

// One GGUF tensor and the HF tensors it is made of: `parts` stacked along the slowest
// dimension (one part for ordinary tensors, one per expert for ffn_*_exps).
struct Planned {
  std::string name;
  std::vector<int64_t> ne;  // ggml order
  st::TensorType type = st::TensorType::F32;
  std::vector<const st::SafetensorsTensor*> parts;
  std::vector<const st::SafetensorsFile*> files;
  int64_t rows_per_part = 0;
};

class Converter {
 public:
  Converter(const ConvertOptions& o, std::vector<std::string>* warnings)
      : o_(o), warnings_(warnings), cfg_(read_hf_config((fs::path(o.hf_dir) / "config.json").string())), ckpt_(o.hf_dir) {
    const auto scheme = quant_scheme_from_name(o.type);
    if (!scheme) throw std::invalid_argument("--type '" + o.type + "' is not a known type (" + joined_types() + ")");
    scheme_ = *scheme;
  }

  void run(const std::string& out_path, const TensorReportFn& on_tensor) {
    st::GgufWriter w;
    write_metadata(w);
    write_tokenizer(w);
    plan_tensors();
    st::ThreadPool pool(o_.n_threads);
    reports_.resize(planned_.size());
    for (size_t i = 0; i < planned_.size(); ++i) {
      const Planned& p = planned_[i];
      w.add_tensor(p.name, p.type, p.ne, [this, i, &pool](std::span<uint8_t> dst) { fill(i, dst, pool); });
    }
    w.write(out_path, [&](size_t done, size_t total) {
      if (on_tensor) on_tensor(reports_[done - 1], done, total);
    });
  }

 private:
  static std::string joined_types() {
    std::string s;
    for (const auto& n : quant_scheme_names()) s += (s.empty() ? "" : ", ") + n;
    return s;
  }

  void warn(const std::string& w) {
    if (warnings_) warnings_->push_back(w);
  }

  void write_metadata(st::GgufWriter& w) {
    const HfConfig& c = cfg_;
    const std::string arch(names::kArchSmallThinker);
    auto key = [&](std::string_view suffix) { return names::arch_key(arch, suffix); };
    auto u32 = [](int64_t v) { return st::GgufValue::u32(static_cast<uint32_t>(v)); };
    std::string name = o_.name;
    if (name.empty()) name = c.model_name;
    if (name.empty()) name = fs::path(o_.hf_dir).lexically_normal().filename().string();
    if (name.empty() || name == ".") name = fs::absolute(o_.hf_dir).lexically_normal().parent_path().filename().string();
    w.set(std::string(names::kArchitecture), st::GgufValue::string(arch));
    w.set(std::string(names::kName), st::GgufValue::string(name));
    w.set(std::string(names::kFileType), u32(scheme_.llama_file_type));
    if (st::tensor_type_info(scheme_.base).block_size > 1)  // as llama.cpp marks quantized files
      w.set("general.quantization_version", u32(2));
    w.set(key(names::kBlockCount), u32(c.n_layer));
    w.set(key(names::kContextLength), u32(c.n_ctx));
    w.set(key(names::kEmbeddingLength), u32(c.hidden));
    w.set(key(names::kFeedForwardLength), u32(c.n_ff));
    w.set(key(names::kExpertFeedForwardLength), u32(c.n_ff));
    w.set(key(names::kHeadCount), u32(c.n_head));
    w.set(key(names::kHeadCountKv), u32(c.n_head_kv));
    // head_dim is independent of hidden / heads (the 21B model): always explicit.
    w.set(key(names::kKeyLength), u32(c.head_dim));
    w.set(key(names::kValueLength), u32(c.head_dim));
    w.set(key(names::kRopeFreqBase), st::GgufValue::f32(static_cast<float>(c.rope_theta)));
    w.set(key(names::kRmsEps), st::GgufValue::f32(static_cast<float>(c.rms_eps)));
    w.set(key(names::kExpertCount), u32(c.n_expert));
    w.set(key(names::kExpertUsedCount), u32(c.n_expert_used));
    w.set(key(names::kExpertGatingFunc), u32(c.softmax_gating ? 1 : 2));
    if (c.window > 0) w.set(key(names::kSlidingWindow), u32(c.window));
    // llama.cpp derives the layout from a rule (NoPE global at il % 4 == 0, windowed RoPE
    // elsewhere, or all global RoPE without a window). When config.json's arrays say
    // something else, record them explicitly (our extension keys; config.cpp reads them).
    const auto rule = st::layout_from_rule(c.n_layer, c.window, 4, c.rope_theta, c.rope_theta);
    bool matches = true;
    for (int il = 0; il < c.n_layer; ++il) {
      const auto& l = rule[static_cast<size_t>(il)];
      matches = matches && l.use_rope == (c.rope_layout[static_cast<size_t>(il)] != 0) &&
                (l.window > 0) == (c.window_layout[static_cast<size_t>(il)] != 0);
    }
    if (!matches) {
      const auto arr = [](const std::vector<int>& v) {
        return st::GgufValue::int_array(st::GgufValueType::INT32, std::vector<int64_t>(v.begin(), v.end()));
      };
      w.set(key(names::kRopeLayout), arr(c.rope_layout));
      if (c.window > 0) w.set(key(names::kSlidingWindowLayout), arr(c.window_layout));
      warn("layer layout (rope_layout / sliding_window_layout) does not follow llama.cpp's rule: written as explicit "
           "per-layer arrays, which this engine reads and llama.cpp ignores");
    }
  }

  void write_tokenizer(st::GgufWriter& w) {
    const fs::path dir(o_.hf_dir);
    const fs::path tj = dir / "tokenizer.json";
    if (!fs::exists(tj)) {
      warn(tj.string() + " not found: the GGUF has no tokenizer (token ids only: logits, bench; no text)");
      return;
    }
    const fs::path tc = dir / "tokenizer_config.json";
    const st::Tokenizer tok = st::Tokenizer::from_hf_json(tj.string(), fs::exists(tc) ? tc.string() : "");
    if (tok.n_vocab() > cfg_.vocab)
      throw std::runtime_error(tj.string() + " has " + std::to_string(tok.n_vocab()) + " tokens, more than vocab_size " +
                               std::to_string(cfg_.vocab) + " in config.json");
    if (!fs::exists(tc)) warn(tc.string() + " not found: no chat template, bos/eos from defaults");
    else if (tok.chat_template().empty()) warn(tc.string() + " has no chat_template");
    tok.to_gguf(w, static_cast<int32_t>(cfg_.vocab));
  }

  void add(const std::string& gguf_name, const std::vector<std::string>& hf_names, const std::vector<int64_t>& hf_shape,
           std::vector<int64_t> ne) {
    Planned p;
    p.name = gguf_name;
    p.ne = std::move(ne);
    for (const auto& n : hf_names) {
      p.parts.push_back(&ckpt_.tensor(n, hf_shape));
      p.files.push_back(&ckpt_.file_of(n));
    }
    int64_t rows = 1;
    for (size_t d = 1; d < p.ne.size(); ++d) rows *= p.ne[d];
    p.rows_per_part = rows / static_cast<int64_t>(hf_names.size());
    const bool tied = cfg_.tied || !ckpt_.has("lm_head.weight");
    p.type = choose_tensor_type(scheme_, false,
                                {p.name, static_cast<int>(p.ne.size()), p.ne[0], cfg_.n_layer, tied});
    planned_.push_back(std::move(p));
  }

  void plan_tensors() {
    const HfConfig& c = cfg_;
    const int64_t H = c.hidden, F = c.n_ff, V = c.vocab, E = c.n_expert;
    const int64_t QW = c.head_dim * c.n_head, KVW = c.head_dim * c.n_head_kv;
    add(std::string(names::kTokenEmbd), {"model.embed_tokens.weight"}, {V, H}, {H, V});
    for (int il = 0; il < c.n_layer; ++il) {
      const std::string hf = "model.layers." + std::to_string(il) + ".";
      auto g = [&](std::string_view suffix) { return names::blk(il, suffix); };
      add(g(names::kAttnNorm), {hf + "input_layernorm.weight"}, {H}, {H});
      add(g(names::kAttnQ), {hf + "self_attn.q_proj.weight"}, {QW, H}, {H, QW});
      add(g(names::kAttnK), {hf + "self_attn.k_proj.weight"}, {KVW, H}, {H, KVW});
      add(g(names::kAttnV), {hf + "self_attn.v_proj.weight"}, {KVW, H}, {H, KVW});
      add(g(names::kAttnOut), {hf + "self_attn.o_proj.weight"}, {H, QW}, {QW, H});
      add(g(names::kFfnNorm), {hf + "post_attention_layernorm.weight"}, {H}, {H});
      add(g(names::kFfnRouter), {hf + "block_sparse_moe.primary_router.weight"}, {E, H}, {H, E});
      const auto experts = [&](const char* which) {
        std::vector<std::string> v;
        for (int e = 0; e < c.n_expert; ++e)
          v.push_back(hf + "block_sparse_moe.experts." + std::to_string(e) + "." + which + ".weight");
        return v;
      };
      add(g(names::kFfnGateExps), experts("gate"), {F, H}, {H, F, E});
      add(g(names::kFfnUpExps), experts("up"), {F, H}, {H, F, E});
      add(g(names::kFfnDownExps), experts("down"), {H, F}, {F, H, E});
    }
    add(std::string(names::kOutputNorm), {"model.norm.weight"}, {H}, {H});
    if (ckpt_.has("lm_head.weight")) {
      if (c.tied) warn("tie_word_embeddings is true but lm_head.weight exists: writing it as output.weight");
      add(std::string(names::kOutput), {"lm_head.weight"}, {V, H}, {H, V});
    } else if (!c.tied) {
      throw std::runtime_error(o_.hf_dir + ": lm_head.weight is missing and tie_word_embeddings is false");
    }
  }

  void fill(size_t index, std::span<uint8_t> dst, st::ThreadPool& pool) {
    const Planned& p = planned_[index];
    RowSource src;
    src.n_cols = p.ne[0];
    src.n_rows = p.rows_per_part * static_cast<int64_t>(p.parts.size());
    src.source_bytes_per_row = static_cast<uint64_t>(p.ne[0]) * st::safetensors_dtype_size(p.parts[0]->dtype);
    src.read = [&p](int64_t row, float* out) {
      const st::SafetensorsTensor& t = *p.parts[static_cast<size_t>(row / p.rows_per_part)];
      const int64_t r = row % p.rows_per_part;
      const uint64_t esz = st::safetensors_dtype_size(t.dtype);
      to_f32(t.dtype, t.data + static_cast<uint64_t>(r * p.ne[0]) * esz, out, p.ne[0]);
    };
    src.release = [&p](int64_t first, int64_t last) {
      for (int64_t part = first / p.rows_per_part; part * p.rows_per_part < last; ++part) {
        const st::SafetensorsTensor& t = *p.parts[static_cast<size_t>(part)];
        const uint64_t row_bytes = static_cast<uint64_t>(p.ne[0]) * st::safetensors_dtype_size(t.dtype);
        const int64_t a = std::max(first, part * p.rows_per_part) - part * p.rows_per_part;
        const int64_t b = std::min(last, (part + 1) * p.rows_per_part) - part * p.rows_per_part;
        p.files[static_cast<size_t>(part)]->release(t, static_cast<uint64_t>(a) * row_bytes, static_cast<uint64_t>(b) * row_bytes);
      }
    };
    const EncodeError err = encode_rows(src, p.type, dst, pool);
    TensorReport& r = reports_[index];
    r.name = p.name;
    r.type_in = lower(st::safetensors_dtype_name(p.parts[0]->dtype));
    r.type_out = std::string(st::tensor_type_name(p.type));
    r.ne = p.ne;
    r.bytes_out = dst.size();
    r.rel_rms_error = err.relative_rms();
  }

  const ConvertOptions& o_;
  std::vector<std::string>* warnings_;
  HfConfig cfg_;
  HfCheckpoint ckpt_;
  QuantScheme scheme_;
  std::vector<Planned> planned_;
  std::vector<TensorReport> reports_;
};

}  // namespace

std::vector<std::string> quantization_types() { return quant_scheme_names(); }

void convert_hf_model(const ConvertOptions& options, const std::string& out_path, const TensorReportFn& on_tensor,
                      std::vector<std::string>* warnings) {
  // Every file of the checkpoint folder is an input: the output may not be one of them.
  std::vector<std::string> inputs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(options.hf_dir, ec)) inputs.push_back(e.path().string());
  st::check_output_path(out_path, inputs);
  Converter(options, warnings).run(out_path, on_tensor);
}

}  // namespace smallthinker
