#include "apps/server/server.h"

#include <httplib.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <ctime>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <random>
#include <sstream>
#include <thread>

#include "apps/server/client_connection.h"
#include "apps/server/scheduler.h"

#ifdef ST_HAVE_WEB_ASSETS
#include "apps/server/web_assets.h"
#endif

namespace st::server {
namespace {

std::atomic<bool> g_stop_requested{false};

void on_signal(int) { g_stop_requested = true; }  // serve() polls it: nothing else is signal-safe

void reply_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(error_body(e).dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

bool same_key(const std::string& a, const std::string& b) {
  // Compare every byte whatever the first difference, so timing does not reveal the key.
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i % std::max<size_t>(b.size(), 1)]);
  return diff == 0 && !b.empty();
}

class Api {
 public:
  void shutdown() { scheduler_.shutdown(); }

  Api(std::shared_ptr<smallthinker::Model> model, smallthinker::SessionOptions session, const ServerOptions& o)
      : model_(std::move(model)), options_(o),
        scheduler_(model_, o.n_parallel, session, o.max_queue), rng_(std::random_device{}()) {}

  void install(httplib::Server& svr) {
    svr.set_payload_max_length(options_.limits.max_body_bytes);
    svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (options_.api_key.empty() || !needs_key(req.path)) return httplib::Server::HandlerResponse::Unhandled;
      const std::string auth = req.get_header_value("Authorization");
      const std::string prefix = "Bearer ";
      if (auth.size() > prefix.size() && auth.compare(0, prefix.size(), prefix) == 0 &&
          same_key(auth.substr(prefix.size()), options_.api_key))
        return httplib::Server::HandlerResponse::Unhandled;
      reply_error(res, error_for_status(401));
      return httplib::Server::HandlerResponse::Handled;
    });
    // Errors httplib produces itself (unknown path, body too large) get OpenAI error objects.
    svr.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (res.body.empty()) reply_error(res, error_for_status(res.status));
    });
    svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
      reply_error(res, error_for_status(500));
    });
    svr.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      completion(req, res, Endpoint::chat);
    });
    svr.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      completion(req, res, Endpoint::completion);
    });
    svr.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) { models(res); });
    svr.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"status":"ok"})", "application/json");
    });
    svr.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics(), "text/plain; version=0.0.4");
    });
#ifdef ST_HAVE_WEB_ASSETS
    for (const WebAsset& a : web_assets()) {
      std::string path(a.path);
      if (path.empty() || path[0] != '/') path = "/" + path;
      auto handler = [a](const httplib::Request&, httplib::Response& res) {
        res.set_content(std::string(a.body), std::string(a.content_type));
      };
      svr.Get(path, handler);
      if (path == "/index.html") svr.Get("/", handler);
    }
#endif
  }

 private:
  static bool needs_key(const std::string& path) { return path.rfind("/v1/", 0) == 0 || path == "/metrics"; }

  std::string next_id(Endpoint e) {
    std::lock_guard<std::mutex> lock(id_mutex_);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng_()));
    return std::string(e == Endpoint::chat ? "chatcmpl-" : "cmpl-") + buf;
  }

  // Parses, tokenizes and queues a request; throws ApiError for anything the client got wrong.
  std::shared_ptr<Job> make_job(const CompletionRequest& r) {
    if (!r.model.empty() && r.model != options_.model_id)
      throw ApiError(404, "the model '" + r.model + "' does not exist; this server serves '" + options_.model_id + "'",
                     "invalid_request_error", "model", "model_not_found");
    auto job = std::make_shared<Job>();
    try {
      job->prompt = r.endpoint == Endpoint::chat ? model_->chat_tokens(r.messages) : model_->tokenize(r.prompt, true);
    } catch (const std::exception& e) {
      throw ApiError(400, std::string("could not tokenize the request: ") + e.what(), "invalid_request_error",
                     r.endpoint == Endpoint::chat ? "messages" : "prompt");
    }
    if (job->prompt.empty()) throw ApiError(400, "the prompt is empty", "invalid_request_error", "prompt");
    const int64_t ctx = scheduler_.slot_ctx();
    if (static_cast<int64_t>(job->prompt.size()) >= ctx)
      throw ApiError(400, "the prompt has " + std::to_string(job->prompt.size()) + " tokens; the context of a slot holds " +
                              std::to_string(ctx) + " (prompt + reply): shorten it or restart the server with a larger -c",
                     "invalid_request_error", r.endpoint == Endpoint::chat ? "messages" : "prompt", "context_length_exceeded");
    job->max_tokens = r.max_tokens;
    job->stop = r.stop;
    job->sampling = r.sampling;
    try {
      job->sampler = std::make_unique<smallthinker::Sampler>(*model_, r.sampling, r.json_object, r.json_schema);
    } catch (const std::exception& e) {
      throw ApiError(400, e.what(), "invalid_request_error", "response_format");
    }
    if (!scheduler_.submit(job)) throw error_for_status(429);
    return job;
  }

  void completion(const httplib::Request& req, httplib::Response& res, Endpoint endpoint) {
    std::shared_ptr<Job> job;
    CompletionRequest r;
    try {
      r = parse_request(req.body, endpoint, options_.limits);
      job = make_job(r);
    } catch (const ApiError& e) {
      reply_error(res, e);
      return;
    } catch (const std::exception& e) {
      reply_error(res, ApiError(500, e.what(), "server_error"));
      return;
    }
    ReplyHead head{endpoint, next_id(endpoint), static_cast<int64_t>(std::time(nullptr)), options_.model_id};
    // Looked at between tokens and at least every 100 ms: a client that has hung up frees its
    // slot (or its place in the queue) at the engine's next step.
    const ClientConnection client(req.local_addr, req.local_port, req.remote_addr, req.remote_port);
    if (!r.stream) {
      std::string text;
      while (!job->wait_take(text, std::chrono::milliseconds(100))) {
        if (client.closed()) {
          job->cancelled = true;
          // Nobody reads this reply; 499 as nginx logs a request whose client closed it.
          return reply_error(res, ApiError(499, "the client closed the connection", "invalid_request_error", "",
                                           "client_closed_request"));
        }
      }
      std::lock_guard<std::mutex> lock(job->mutex);
      if (job->error) return reply_error(res, *job->error);
      res.set_content(full_reply(head, text, job->finish_reason, job->usage, job->timings)
                          .dump(-1, ' ', false, json::error_handler_t::replace),
                      "application/json");
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    auto first = std::make_shared<bool>(true);
    const bool include_usage = r.include_usage;
    res.set_chunked_content_provider(
        "text/event-stream",
        [job, head, first, include_usage, client](size_t, httplib::DataSink& sink) {
          // The client has gone (a write would fail only once there is text to write, which a
          // long prompt or a held-back stop string delays): the releaser cancels the job.
          if (!sink.is_writable() || client.closed()) return false;
          std::string text;
          const bool done = job->wait_take(text, std::chrono::milliseconds(100));
          std::string out;
          if (*first && head.endpoint == Endpoint::chat) {
            out += sse_event(text_chunk(head, text, true));
            *first = false;
          } else if (!text.empty()) {
            out += sse_event(text_chunk(head, text, false));
          }
          if (done) {
            std::lock_guard<std::mutex> lock(job->mutex);
            if (job->error) {
              out += sse_event(error_body(*job->error));
            } else {
              out += sse_event(final_chunk(head, job->finish_reason, job->timings));
              if (include_usage) out += sse_event(usage_chunk(head, job->usage));
            }
            out += "data: [DONE]\n\n";
          }
          if (!out.empty() && !sink.write(out.data(), out.size())) return false;
          if (done) sink.done();
          return true;
        },
        [job](bool) { job->cancelled = true; });  // ends (or abandons) the stream: a no-op once done
  }

  void models(httplib::Response& res) {
    const json j = {{"object", "list"},
                    {"data", json::array({{{"id", options_.model_id},
                                           {"object", "model"},
                                           {"created", static_cast<int64_t>(std::time(nullptr))},
                                           {"owned_by", "smallthinker"},
                                           {"meta", {{"n_ctx_slot", scheduler_.slot_ctx()},
                                                     {"n_vocab", model_->info().n_vocab},
                                                     {"n_params_file_bytes", model_->info().file_bytes}}}}})}};
    res.set_content(j.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
  }

  std::string metrics() const {
    const SchedulerCounters c = scheduler_.counters();
    std::ostringstream o;
    o.precision(15);  // counters and byte sizes exactly, not in 6-digit scientific notation
    auto metric = [&](const char* name, const char* type, const char* help, double value) {
      o << "# HELP smallthinker_" << name << ' ' << help << "\n# TYPE smallthinker_" << name << ' ' << type
        << "\nsmallthinker_" << name << ' ' << value << '\n';
    };
    metric("requests_total", "counter", "Requests that reached a slot.", static_cast<double>(c.requests));
    metric("requests_cancelled_total", "counter", "Requests stopped because the client went away.", static_cast<double>(c.cancelled));
    metric("requests_processing", "gauge", "Slots generating now.", static_cast<double>(c.busy_slots));
    metric("requests_deferred", "gauge", "Requests waiting for a slot (queue length).", static_cast<double>(c.queue_length));
    metric("slots", "gauge", "Slots (sequences decoded together).", static_cast<double>(c.n_slots));
    metric("prompt_tokens_total", "counter", "Prompt tokens evaluated.", static_cast<double>(c.prompt_tokens));
    metric("prompt_tokens_cached_total", "counter", "Prompt tokens reused from a slot's cache.", static_cast<double>(c.cached_tokens));
    metric("tokens_predicted_total", "counter", "Tokens generated.", static_cast<double>(c.predicted_tokens));
    metric("prompt_tokens_seconds", "gauge", "Average prompt throughput in tokens/s.",
           c.prompt_seconds > 0 ? static_cast<double>(c.prompt_tokens) / c.prompt_seconds : 0.0);
    metric("predicted_tokens_seconds", "gauge", "Average generation throughput over all slots in tokens/s.",
           c.decode_busy_seconds > 0 ? static_cast<double>(c.predicted_tokens) / c.decode_busy_seconds : 0.0);
    metric("batch_steps_total", "counter", "Forward passes.", static_cast<double>(c.steps));
    metric("batch_steps_multi_seq_total", "counter", "Forward passes over more than one sequence.", static_cast<double>(c.multi_seq_steps));
    metric("batch_max_seqs", "gauge", "Most sequences in one forward pass so far.", static_cast<double>(c.max_seqs_in_step));
    metric("expert_cache_budgeted", "gauge", "1 when experts stream through a cache (--memory).", c.runtime.budgeted ? 1.0 : 0.0);
    metric("expert_cache_hits_total", "counter", "Expert cache hits.", static_cast<double>(c.runtime.hits));
    metric("expert_cache_misses_total", "counter", "Expert cache misses.", static_cast<double>(c.runtime.misses));
    metric("expert_cache_hit_rate", "gauge", "Expert cache hit rate (1 when every expert is resident).",
           c.runtime.budgeted ? c.runtime.expert_hit_rate : 1.0);
    metric("memory_rss_bytes", "gauge", "Resident set size of the server.", static_cast<double>(smallthinker::resident_bytes()));
    metric("memory_peak_rss_bytes", "gauge", "Peak resident set size of the server.", static_cast<double>(smallthinker::peak_rss_bytes()));
    return o.str();
  }

  std::shared_ptr<smallthinker::Model> model_;
  ServerOptions options_;
  Scheduler scheduler_;
  std::mutex id_mutex_;
  std::mt19937_64 rng_;
};

}  // namespace

int serve(std::shared_ptr<smallthinker::Model> model, smallthinker::SessionOptions session, const ServerOptions& o,
          const std::function<void(int port)>& on_listening) {
#if defined(__GLIBC__)
  // Every HTTP thread would otherwise get its own malloc arena, each keeping freed memory:
  // the resident size would creep up with the number of threads that ever ran a handler.
  mallopt(M_ARENA_MAX, 2);
#endif
  Api api(std::move(model), session, o);
  httplib::Server svr;
  const int threads = o.http_threads > 0 ? o.http_threads : o.n_parallel + static_cast<int>(o.max_queue) + 4;
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  api.install(svr);
  const int port = o.port == 0 ? svr.bind_to_any_port(o.host) : (svr.bind_to_port(o.host, o.port) ? o.port : -1);
  if (port < 0) {
    std::fprintf(stderr, "error: cannot listen on %s:%d (in use, or not an address of this machine); pick another --host/--port\n",
                 o.host.c_str(), o.port);
    return 1;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  std::atomic<bool> finished{false};
  bool ok = false;
  std::thread listener([&] {
    ok = svr.listen_after_bind();
    finished = true;
  });
  if (on_listening) on_listening(port);
  // Server::stop() is a no-op until the accept loop runs, so a signal that arrives right after
  // start-up is acted on once it does (and stop() is called only once).
  bool stopped = false;
  while (!finished) {
    if (g_stop_requested && !stopped && svr.is_running()) {
      api.shutdown();  // ends waiting handlers (503): httplib's stop waits for them
      svr.stop();
      stopped = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  listener.join();
  return ok ? 0 : 1;
}

}  // namespace st::server
