#include "apps/server/server.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <mutex>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "apps/server/api.h"
#include "apps/server/http_server.h"

namespace st::server {
namespace {

std::atomic<bool> g_stop_requested{false};

void on_signal(int) { g_stop_requested = true; }  // serve() polls it: nothing else is signal-safe

HttpOptions http_options(const ServerOptions& o) {
  HttpOptions h;
  h.host = o.host;
  h.port = o.port;
  h.limits.body_bytes = o.limits.max_body_bytes;
  h.max_connections = o.max_connections;
  const auto read = std::chrono::milliseconds(static_cast<int64_t>(o.read_timeout_s * 1000));
  h.timeouts.header = read;
  h.timeouts.body_pause = read;
  h.timeouts.body_total = 6 * read;
  h.timeouts.write = 3 * read;
  return h;
}

}  // namespace

int serve(std::shared_ptr<smallthinker::Model> model, smallthinker::SessionOptions session, const ServerOptions& o,
          const std::function<void(int port)>& on_listening) {
#if defined(__GLIBC__)
  // Every thread that allocates would otherwise get its own malloc arena, each keeping freed
  // memory: the resident size would creep up with the number of threads.
  mallopt(M_ARENA_MAX, 2);
#endif
  if (!(o.read_timeout_s > 0)) throw std::invalid_argument("the read timeout must be positive");
  if (o.max_connections < 1) throw std::invalid_argument("the connection limit must be at least 1");
  Api api(std::move(model), session, o);
  HttpServer http(http_options(o), [&api](Request&& request) { return api.handle(std::move(request)); });
  int port = 0;
  try {
    port = http.listen();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  g_stop_requested = false;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  http.run();
  if (on_listening) on_listening(port);
  while (!g_stop_requested) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // Running and queued generations end with a 503 that their connections still write; then the
  // connections close (an idle one at once) and the threads end.
  api.shutdown();
  http.stop(std::chrono::seconds(3));
  return 0;
}

}  // namespace st::server
