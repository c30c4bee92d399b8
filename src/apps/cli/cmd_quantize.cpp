// `smallthinker quantize IN.gguf OUT.gguf TYPE [--pure]`: re-encode a model's tensors. One
// report line per tensor on stdout (type in -> out, relative RMS error; see tensor_report.h).
#include <chrono>
#include <cstdio>

#include "apps/cli/command.h"
#include "apps/cli/tensor_report.h"
#include "smallthinker/engine.h"
#include "smallthinker/tools.h"

namespace st::cli {
namespace {

const bool registered = register_command({"quantize", "re-encode a GGUF model to another type (q4_k_m, q8_0, ...)", [](CLI::App& app) {
  auto o = std::make_shared<smallthinker::QuantizeOptions>();
  auto in = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  app.add_option("input", *in, "input GGUF")->required();
  app.add_option("output", *out, "output GGUF")->required();
  app.add_option("type", o->type, "f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q5_k q6_k q4_k_m q5_k_m "
                 "q4_k_s q3_k_s q3_k_m q3_k_l q2_k iq4_nl iq4_xs (docs/QUANTIZE.md)")
      ->required();
  app.add_flag("--pure", o->pure, "one type for every matrix (norms and routers stay f32)");
  app.add_option("-t,--threads", o->n_threads, "threads (default: physical cores)");
  return [o, in, out] {
    const auto t0 = std::chrono::steady_clock::now();
    TensorReportPrinter printer;
    smallthinker::quantize_model(*in, *out, *o, [&](const smallthinker::TensorReport& r, size_t done, size_t total) {
      printer.print(r, done, total);
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "wrote %s (%s) in %.1f s, peak RSS %.0f MiB\n", out->c_str(), printer.summary().c_str(), s,
                 static_cast<double>(smallthinker::peak_rss_bytes()) / (1 << 20));
    return 0;
  };
}});

}  // namespace
}  // namespace st::cli
