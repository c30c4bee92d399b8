// `smallthinker convert HF_DIR -o OUT.gguf --type T`: a Hugging Face SmallThinker checkpoint
// to GGUF. One report line per tensor on stdout (see tensor_report.h), warnings and the
// summary on stderr.
#include <chrono>
#include <cstdio>

#include "apps/cli/command.h"
#include "apps/cli/tensor_report.h"
#include "smallthinker/engine.h"
#include "smallthinker/tools.h"

namespace st::cli {
namespace {

const bool registered = register_command({"convert", "convert a Hugging Face SmallThinker checkpoint to GGUF", [](CLI::App& app) {
  auto o = std::make_shared<smallthinker::ConvertOptions>();
  auto out = std::make_shared<std::string>();
  app.add_option("hf_dir", o->hf_dir, "checkpoint folder: config.json, *.safetensors, tokenizer.json")->required();
  app.add_option("-o,--output", *out, "output GGUF file")->required();
  app.add_option("--type", o->type, "f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q5_k q6_k q4_k_m q5_k_m "
                 "q4_k_s q3_k_s q3_k_m q3_k_l q2_k iq4_nl iq4_xs")->capture_default_str();
  app.add_option("-t,--threads", o->n_threads, "threads for quantization (default: physical cores)");
  app.add_option("--name", o->name, "general.name (default: config.json model_name or the folder name)");
  return [o, out] {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::string> warnings;
    TensorReportPrinter printer;
    smallthinker::convert_hf_model(*o, *out, [&](const smallthinker::TensorReport& r, size_t done, size_t total) {
      printer.print(r, done, total);
    }, &warnings);
    for (const auto& w : warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "wrote %s (%s) in %.1f s, peak RSS %.0f MiB\n", out->c_str(), printer.summary().c_str(), s,
                 static_cast<double>(smallthinker::peak_rss_bytes()) / (1 << 20));
    return 0;
  };
}});

}  // namespace
}  // namespace st::cli
