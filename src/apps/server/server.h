// `smallthinker serve`: the OpenAI-compatible HTTP server (cpp-httplib) over the scheduler.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "apps/server/protocol.h"
#include "smallthinker/engine.h"

namespace st::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                 // 0: any free port (printed when listening)
  std::string api_key;             // empty: no key required
  std::string model_id;            // the name /v1/models lists and requests may use
  int n_parallel = 4;              // slots
  size_t max_queue = 16;           // requests waiting for a slot before 429
  int http_threads = 0;            // 0: one per slot and per queued request, + 4 (more connections wait)
  Limits limits;
};

// Serves until SIGINT/SIGTERM; `on_listening(port)` runs once the socket is bound.
// Returns the process exit code.
int serve(std::shared_ptr<smallthinker::Model> model, smallthinker::SessionOptions session, const ServerOptions& options,
          const std::function<void(int port)>& on_listening = {});

}  // namespace st::server
