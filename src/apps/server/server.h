// `smallthinker serve`: the OpenAI-compatible HTTP server over the scheduler. The parts:
// http_server (listening, I/O threads, connection cap) -> http_connection (framing, limits,
// timeouts, pipelining, streaming) -> api (access policy, routes) -> completion (Jobs) ->
// scheduler (the engine thread); protocol is the OpenAI wire format.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "apps/server/protocol.h"
#include "smallthinker/engine.h"

namespace st::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                 // 0: any free port (printed when listening)
  std::string api_key;             // empty: no key required
  std::string model_id;            // the name /v1/models lists and replies report
  std::string model_path;          // the file (GET /props)
  int n_parallel = 4;              // slots
  size_t max_queue = 16;           // requests waiting for a slot before 429
  size_t max_connections = 256;    // open connections before 503 (idle and waiting ones count)
  double read_timeout_s = 10;      // a request's whole header; the longest pause in its body
  std::vector<std::string> allowed_hosts;  // Host names besides localhost and --host
  std::vector<std::string> cors_origins;   // browser origins besides local pages ("*": any)
  Limits limits;
  // How chat replies report <think>...</think> when a request names no reasoning_format.
  ReasoningFormat reasoning_format = ReasoningFormat::automatic;
};

// Serves until SIGINT/SIGTERM; `on_listening(port)` runs once the socket is bound.
// Returns the process exit code.
int serve(std::shared_ptr<smallthinker::Model> model, smallthinker::SessionOptions session, const ServerOptions& options,
          const std::function<void(int port)>& on_listening = {});

}  // namespace st::server
