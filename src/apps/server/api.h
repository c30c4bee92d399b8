// The routes of `smallthinker serve` and the checks in front of them, in order: Host (DNS
// rebinding), Origin (other web pages; CORS preflight), route and method, API key,
// Content-Type. Besides the OpenAI routes: llama.cpp's, Ollama's (/api/...) and Anthropic's
// (/v1/messages), each answering errors in its own shape. Runs on the connection's I/O thread: cheap routes answer at once, the
// completions hand their body to a worker (completion.h).
#pragma once
#include <memory>
#include <string>

#include "apps/server/compat_api.h"
#include "apps/server/completion.h"
#include "apps/server/http_exchange.h"
#include "apps/server/http_policy.h"
#include "apps/server/llama_endpoints.h"
#include "apps/server/scheduler.h"
#include "apps/server/server.h"

namespace st::server {

class Api {
 public:
  Api(std::shared_ptr<smallthinker::Model> model, smallthinker::SessionOptions session, const ServerOptions& options);
  Outcome handle(Request&& request);
  // Running and queued requests end with a 503; new ones are refused.
  void shutdown() { scheduler_.shutdown(); }

 private:
  Outcome route(Request&& request, const ExtraHeaders& cors);
  // A POST route's work, once the request passed every check.
  Outcome post_route(const std::string& path, std::string body, const ExtraHeaders& cors);
  Response models(const ExtraHeaders& cors) const;
  Outcome tokenizer_route(const std::string& path, std::string body, const ExtraHeaders& cors);
  PropsInfo props_info() const;
  std::string metrics() const;

  std::shared_ptr<smallthinker::Model> model_;
  ServerOptions options_;
  AccessPolicy policy_;
  Scheduler scheduler_;
  Completions completions_;
  CompatContext compat_;  // the Ollama and Anthropic routes
};

}  // namespace st::server
