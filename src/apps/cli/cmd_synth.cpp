// `smallthinker synth`: write a random-weight model of any shape (presets or explicit sizes).
#include <cstdio>

#include "apps/cli/command.h"
#include "apps/cli/common.h"
#include "smallthinker/tools.h"

namespace st::cli {
namespace {

const bool registered = register_command({"synth", "write a random-weight SmallThinker model (GGUF)", [](CLI::App& app) {
  auto o = std::make_shared<smallthinker::SynthOptions>();
  auto out = std::make_shared<std::string>();
  auto window = std::make_shared<int64_t>(-1);
  app.add_option("-o,--output", *out, "output GGUF file")->required();
  app.add_option("--preset", o->preset, "tiny | tiny-swa | 4b | 21b")->capture_default_str();
  app.add_option("--type", o->type, "tensor type of the matrices: f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q5_k q6_k")
      ->capture_default_str();
  app.add_option("--seed", o->seed, "random seed")->capture_default_str();
  app.add_option("--tokenizer-json", o->tokenizer_json, "embed this HF tokenizer.json (default: built-in byte vocabulary)");
  // Explicit sizes must be real sizes: 0 would silently keep the preset's, and sizes past
  // these bounds only end in an allocation failure.
  app.add_option("--layers", o->n_layer, "number of layers")->check(CLI::Range(1, 1024));
  app.add_option("--hidden", o->n_embd, "hidden size")->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  app.add_option("--heads", o->n_head, "query heads")->check(CLI::Range(1, 1024));
  app.add_option("--heads-kv", o->n_head_kv, "key/value heads")->check(CLI::Range(1, 1024));
  app.add_option("--head-dim", o->head_dim, "head dimension")->check(CLI::Range(int64_t{2}, int64_t{4096}));
  app.add_option("--experts", o->n_expert, "experts per layer")->check(CLI::Range(1, 4096));
  app.add_option("--experts-used", o->n_expert_used, "experts selected per token")->check(CLI::Range(1, 4096));
  app.add_option("--ff", o->n_ff_exp, "expert FFN size")->check(CLI::Range(int64_t{1}, int64_t{1} << 18));
  app.add_option("--vocab", o->n_vocab, "vocabulary size")->check(CLI::Range(int64_t{1}, int64_t{1} << 22));
  app.add_option("--ctx", o->n_ctx, "training context length (metadata)")->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  app.add_option("--window", *window, "sliding window (0 = all layers global RoPE)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 24));
  app.add_option("--gating", o->gating, "softmax | sigmoid");
  app.add_flag("--tied", o->tied_output, "no output.weight: lm_head shares token_embd");
  app.add_option("--routing-skew", o->routing_skew, "router-logit advantage of a hot quarter of the experts (e.g. 2.5)");
  app.add_option("--reglu-zero", o->reglu_zero_fraction, "target fraction of zero ReGLU neurons (e.g. 0.7)");
  app.add_option("-t,--threads", o->n_threads, "threads")->check(CLI::Range(0, 1 << 16));
  return [o, out, window] {
    if (*window >= 0) o->window = *window;
    ProgressLine progress("synth");
    smallthinker::synth_model(*o, *out, [&progress](size_t done, size_t total) { progress.update(done, total, "tensors"); });
    progress.finish();
    std::fprintf(stderr, "wrote %s\n", out->c_str());
    return 0;
  };
}});

}  // namespace
}  // namespace st::cli
