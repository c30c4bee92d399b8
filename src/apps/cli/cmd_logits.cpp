// `smallthinker logits`: logits of EVERY position as raw little-endian float32
// [n_tokens x n_vocab] -- the interface external checks compare against.
#include <cstdio>

#include "apps/cli/command.h"
#include "apps/cli/common.h"
#include "smallthinker/tools.h"

namespace st::cli {
namespace {

struct LogitsArgs {
  ModelArgs model;
  std::string tokens;
  std::string out;
};

int run_logits(const LogitsArgs& a) {
  const auto ids = parse_token_list(a.tokens);
  smallthinker::check_output_path(a.out, {a.model.model.path});  // not a folder, not the model: before the work
  auto model = a.model.load();
  auto so = a.model.session_options();
  if (so.n_ctx <= 0 || so.n_ctx < static_cast<int64_t>(ids.size())) so.n_ctx = static_cast<int64_t>(ids.size());
  smallthinker::Session session(model, so);
  const auto logits = session.eval(ids, /*all_logits=*/true);
  smallthinker::write_output_file(
      a.out, {reinterpret_cast<const char*>(logits.data()), logits.size() * sizeof(float)}, {a.model.model.path});
  std::fprintf(stderr, "wrote %zu x %lld logits to %s\n", ids.size(), static_cast<long long>(model->info().n_vocab),
               a.out.c_str());
  const auto relu = session.relu_stats();
  std::fprintf(stderr, "ReGLU: %llu of %llu neurons zero, %llu of %llu up rows skipped, %d layers in neuron bundles\n",
               static_cast<unsigned long long>(relu.zero), static_cast<unsigned long long>(relu.neurons),
               static_cast<unsigned long long>(relu.up_rows_skipped), static_cast<unsigned long long>(relu.up_rows),
               relu.bundle_layers);
  return 0;
}

const bool registered = register_command({"logits", "write the logits of every position as raw float32", [](CLI::App& app) {
  auto a = std::make_shared<LogitsArgs>();
  a->model.session.n_ctx = 0;
  a->model.add_to(app);
  app.add_option("--tokens", a->tokens, "comma-separated token ids")->required();
  app.add_option("-o,--output", a->out, "output file")->required();
  return [a] { return run_logits(*a); };
}});

}  // namespace
}  // namespace st::cli
