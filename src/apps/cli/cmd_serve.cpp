// `smallthinker serve`: an OpenAI-compatible HTTP server (src/apps/server/) over N slots.
#include <cstdio>
#include <filesystem>

#include "apps/cli/command.h"
#include "apps/cli/common.h"
#include "apps/server/server.h"
#include "runtime/memory_plan.h"

namespace st::cli {
namespace {

struct ServeArgs {
  ModelArgs model;
  server::ServerOptions server;
  std::string max_body = "1MiB";
  std::string alias;
  std::string reasoning_format = "auto";
};

int run_serve(ServeArgs a) {
  const uint64_t body = st::parse_byte_size(a.max_body);
  if (body == 0) throw std::invalid_argument("--max-body must be positive (e.g. 1MiB)");
  a.server.limits.max_body_bytes = body;
  if (a.server.n_parallel <= 0) throw std::invalid_argument("--parallel must be at least 1");
  if (a.server.limits.max_tokens_cap <= 0) throw std::invalid_argument("--max-tokens must be at least 1");
  a.server.limits.default_max_tokens = std::min(a.server.limits.default_max_tokens, a.server.limits.max_tokens_cap);
  a.server.reasoning_format = *server::parse_reasoning_format(a.reasoning_format);  // (checked by the option)
  a.server.model_path = a.model.model.path;
  a.server.model_id = a.alias.empty() ? std::filesystem::path(a.model.model.path).stem().string() : a.alias;

  // The memory plan reserves KV memory for every slot's context.
  ModelArgs m = a.model;
  if (m.session.n_ctx <= 0) m.session.n_ctx = 4096;
  m.session.n_ctx *= a.server.n_parallel;
  auto model = m.load();
  auto so = a.model.session_options();
  if (so.n_ctx <= 0) so.n_ctx = 4096;
  return server::serve(model, so, a.server, [&](int port) {
    std::fprintf(stderr, "serve: model '%s', %d slots of %lld tokens; listening on http://%s:%d%s\n",
                 a.server.model_id.c_str(), a.server.n_parallel, static_cast<long long>(so.n_ctx), a.server.host.c_str(),
                 port, a.server.api_key.empty() ? "" : " (API key required)");
    std::fflush(stderr);
  });
}

const bool registered = register_command({"serve", "OpenAI-compatible HTTP server (chat/completions, streaming, metrics)",
                                          [](CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  a->model.add_to(app);
  app.add_option("--chat-template", a->model.model.chat_template,
                 "chat template: chatml, or a Jinja file or tokenizer_config.json (default: the model file's)");
  app.add_option("--host", a->server.host, "address to listen on (loopback by default; 0.0.0.0 exposes the server)")
      ->capture_default_str();
  app.add_option("--port", a->server.port, "port (0: any free port, printed on start)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535).description("a TCP port (0-65535)"));
  app.add_option("--api-key", a->server.api_key, "require 'Authorization: Bearer KEY' on /v1/* and /metrics");
  app.add_option("--allowed-host", a->server.allowed_hosts,
                 "a name the server is reached by, besides localhost, 127.0.0.1, [::1] and --host (repeatable; "
                 "other Host headers get 403, against DNS rebinding)");
  app.add_option("--cors-origin", a->server.cors_origins,
                 "a web origin (e.g. https://app.example) whose pages may call the API, besides pages on localhost "
                 "(repeatable; '*': any page)");
  app.add_option("--max-connections", a->server.max_connections, "open connections before 503 (idle ones count)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--read-timeout", a->server.read_timeout_s,
                 "seconds for a request's whole header, and the longest pause within its body")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--parallel", a->server.n_parallel, "slots: requests generated together")->capture_default_str();
  app.add_option("--queue", a->server.max_queue, "requests that may wait for a slot before 429")->capture_default_str();
  app.add_option("--max-tokens", a->server.limits.max_tokens_cap, "largest max_tokens a request may ask for")->capture_default_str();
  app.add_option("--max-body", a->max_body, "largest request body")->capture_default_str();
  app.add_option("--reasoning-format", a->reasoning_format,
                 "how chat replies report <think>...</think> when a request does not say (llama-server's): auto or "
                 "deepseek (message.reasoning_content), deepseek-legacy (also kept in the content), none (the text as generated)")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "deepseek", "deepseek-legacy", "auto"}));
  app.add_option("--alias", a->alias, "model name in /v1/models (default: the file name without .gguf)");
  return [a] { return run_serve(*a); };
}});

}  // namespace
}  // namespace st::cli
