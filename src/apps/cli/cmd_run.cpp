// `smallthinker run`: generate from a prompt (token ids with --tokens until text is wired).
#include <cstdio>

#include "apps/cli/command.h"
#include "apps/cli/common.h"

namespace st::cli {
namespace {

struct RunArgs {
  ModelArgs model;
  SamplingArgs sampling;
  std::string tokens;
  int n_predict = 128;
};

int run_run(const RunArgs& a) {
  auto model = a.model.load();
  smallthinker::Session session(model, a.model.session_options());
  const auto prompt = parse_token_list(a.tokens);
  smallthinker::Timings t;
  session.generate(prompt, a.n_predict, a.sampling.options(), {}, [](int32_t tok) {
    std::printf("%d ", tok);
    std::fflush(stdout);
    return true;
  }, &t);
  std::printf("\n");
  std::fprintf(stderr, "prompt: %lld tokens, %.2f tok/s; generation: %lld tokens, %.2f tok/s\n",
               static_cast<long long>(t.prompt_tokens), t.prompt_tokens / std::max(t.prompt_seconds, 1e-9),
               static_cast<long long>(t.generated_tokens), t.generated_tokens / std::max(t.generate_seconds, 1e-9));
  return 0;
}

const bool registered = register_command({"run", "generate text from a prompt", [](CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  a->model.add_to(app);
  a->sampling.add_to(app);
  app.add_option("--tokens", a->tokens, "prompt as comma-separated token ids")->required();
  app.add_option("-n,--n-predict", a->n_predict, "tokens to generate")->capture_default_str();
  return [a] { return run_run(*a); };
}});

}  // namespace
}  // namespace st::cli
