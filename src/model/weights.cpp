#include "model/weights.h"

#include <stdexcept>
#include <string>

#include "formats/gguf.h"
#include "formats/gguf_names.h"
#include "kernels/kernel_table.h"

namespace st {
namespace names = gguf_names;
namespace {

std::string shape_str(const int64_t* ne, int n) {
  std::string s = "{";
  for (int i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "}";
}

class Loader {
 public:
  Loader(const GgufFile& f, const ModelConfig& c) : f_(f), c_(c) {}

  const GgufTensorInfo& info(const std::string& name, std::vector<int64_t> want) const {
    const GgufTensorInfo* t = f_.find_tensor(name);
    if (!t) throw std::runtime_error(f_.path() + ": tensor '" + name + "' is missing");
    bool ok = t->n_dims <= static_cast<int>(want.size());
    for (size_t i = 0; ok && i < 4; ++i) ok = t->ne[i] == (i < want.size() ? want[i] : 1);
    if (!ok)
      throw std::runtime_error(f_.path() + ": tensor '" + name + "' has shape " + shape_str(t->ne, t->n_dims) +
                               ", expected " + shape_str(want.data(), static_cast<int>(want.size())) +
                               " for this model's metadata");
    return *t;
  }

  // A matrix used in matmuls: its type needs a dot-product kernel.
  TensorView matrix(const std::string& name, int64_t n_cols, int64_t n_rows, int64_t n_stack = 0) const {
    std::vector<int64_t> want = {n_cols, n_rows};
    if (n_stack) want.push_back(n_stack);
    const auto& t = info(name, want);
    if (!weight_type_supported(t.type)) unsupported(name, t);
    TensorView v;
    v.type = t.type;
    v.n_cols = n_cols;
    v.n_rows = n_rows * (n_stack ? n_stack : 1);
    v.row_bytes = row_bytes(t.type, n_cols);
    v.data = t.data;
    return v;
  }

  // A type the file may legally hold but this engine cannot compute with (an i-quant without
  // kernels yet, TQ1_0, MXFP4, an unknown id): name it, the tensor, and what works instead.
  [[noreturn]] void unsupported(const std::string& name, const GgufTensorInfo& t) const {
    throw std::runtime_error(f_.path() + ": tensor '" + name + "' has type " + type_label(t.type) +
                             ", which this engine cannot compute with (supported weight types: " +
                             supported_weight_types() + "); re-quantize the model to one of them");
  }

  ExpertTensor experts(const std::string& name, int64_t n_cols, int64_t rows_per_expert) const {
    ExpertTensor e;
    e.all = matrix(name, n_cols, rows_per_expert, c_.n_expert);
    e.rows_per_expert = rows_per_expert;
    e.file_offset = f_.find_tensor(name)->file_offset;
    return e;
  }

  std::vector<float> vector_f32(const std::string& name, int64_t n) const {
    const auto& t = info(name, {n});
    if (!kernels_supported(t.type)) unsupported(name, t);
    std::vector<float> out(static_cast<size_t>(n));
    kernel_table(t.type).dequantize_row(t.data, out.data(), n);
    return out;
  }

 private:
  const GgufFile& f_;
  const ModelConfig& c_;
};

}  // namespace

ModelWeights weights_from_gguf(const GgufFile& file, const ModelConfig& c) {
  Loader ld(file, c);
  ModelWeights w;
  w.token_embd = ld.matrix(std::string(names::kTokenEmbd), c.n_embd, c.n_vocab);
  w.output_norm = ld.vector_f32(std::string(names::kOutputNorm), c.n_embd);
  if (file.find_tensor(names::kOutput)) {
    w.output = ld.matrix(std::string(names::kOutput), c.n_embd, c.n_vocab);
  } else {
    w.output = w.token_embd;
    w.tied_output = true;
  }
  w.layers.resize(static_cast<size_t>(c.n_layer));
  for (int il = 0; il < c.n_layer; ++il) {
    auto& L = w.layers[static_cast<size_t>(il)];
    auto name = [&](std::string_view suffix) { return names::blk(il, suffix); };
    L.attn_norm = ld.vector_f32(name(names::kAttnNorm), c.n_embd);
    L.ffn_norm = ld.vector_f32(name(names::kFfnNorm), c.n_embd);
    L.wq = ld.matrix(name(names::kAttnQ), c.n_embd, c.q_width());
    L.wk = ld.matrix(name(names::kAttnK), c.n_embd, c.kv_width());
    L.wv = ld.matrix(name(names::kAttnV), c.n_embd, c.kv_width());
    L.wo = ld.matrix(name(names::kAttnOut), c.q_width(), c.n_embd);
    L.router = ld.matrix(name(names::kFfnRouter), c.n_embd, c.n_expert);
    L.gate_exps = ld.experts(name(names::kFfnGateExps), c.n_embd, c.n_ff_exp);
    L.up_exps = ld.experts(name(names::kFfnUpExps), c.n_embd, c.n_ff_exp);
    // PowerInfer files may store down transposed; the shape tells (only when F != H).
    const GgufTensorInfo* down = file.find_tensor(name(names::kFfnDownExps));
    const bool transposed = down && c.n_ff_exp != c.n_embd && down->ne[0] == c.n_embd && down->ne[1] == c.n_ff_exp;
    if (transposed) {
      L.down_exps = ld.experts(name(names::kFfnDownExps), c.n_embd, c.n_ff_exp);
      L.down_exps.all.layout = WeightLayout::transposed;
    } else {
      L.down_exps = ld.experts(name(names::kFfnDownExps), c.n_ff_exp, c.n_embd);
    }
  }
  return w;
}

}  // namespace st
