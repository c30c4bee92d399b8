// The Ollama (/api/...) and Anthropic (/v1/messages) routes: their requests are translated
// (ollama_protocol.h, anthropic_protocol.h) into the OpenAI routes' CompletionRequest and run
// as the same Jobs on the same scheduler; only the reply's shape differs. Errors take each
// API's own shape, so its official client reports them as it would the real service's.
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "apps/server/completion.h"
#include "apps/server/ollama_protocol.h"
#include "apps/server/scheduler.h"
#include "apps/server/server.h"

namespace st::server {

// What the routes share with the rest of the server (owned by Api).
struct CompatContext {
  std::shared_ptr<smallthinker::Model> model;
  Scheduler& scheduler;
  Completions& completions;
  const ServerOptions& options;
};

// Which wire format a path speaks, so errors found before a route runs (Host, Origin, key,
// Content-Type) are shaped for its client.
enum class ApiFamily { openai, ollama, anthropic };
ApiFamily api_family(std::string_view path);
Response family_error(ApiFamily family, const ApiError& e, const ExtraHeaders& extra = {});

namespace ollama {
// POST /api/chat and /api/generate, on a worker thread.
Outcome start(const CompatContext& c, const std::string& body, Route route, const ExtraHeaders& extra);
// GET /api/tags, /api/ps, /api/version; POST /api/show (`body` only for show).
Response info(const CompatContext& c, std::string_view path, const std::string& body, const ExtraHeaders& extra);
}  // namespace ollama

namespace anthropic {
// POST /v1/messages, on a worker thread.
Outcome start(const CompatContext& c, const std::string& body, const ExtraHeaders& extra);
}  // namespace anthropic

}  // namespace st::server
