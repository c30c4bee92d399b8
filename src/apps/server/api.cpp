#include "apps/server/api.h"

#include <algorithm>
#include <ctime>
#include <sstream>

#include "apps/server/anthropic_protocol.h"
#include "apps/server/llama_endpoints.h"

#ifdef ST_HAVE_WEB_ASSETS
#include "apps/server/web_assets.h"
#endif

namespace st::server {

namespace http = boost::beast::http;

namespace {

// Everything but the health check and the chat page's files, as llama-server; Ollama's routes
// too (Ollama itself has no keys: its clients send one as a Bearer header).
bool needs_key(std::string_view path) {
  return path.rfind("/v1/", 0) == 0 || path.rfind("/api/", 0) == 0 || path == "/metrics" || path == "/tokenize" || path == "/detokenize" ||
         path == "/props" || path == "/slots";
}

Response text_response(std::string body, std::string_view content_type, const ExtraHeaders& extra) {
  Response r{http::status::ok, 11};
  r.set(http::field::content_type, content_type);
  for (const auto& [name, value] : extra) r.set(name, value);
  r.body() = std::move(body);
  return r;
}

#ifdef ST_HAVE_WEB_ASSETS
const WebAsset* find_asset(std::string_view path) {
  if (path == "/") path = "/index.html";
  for (const WebAsset& a : web_assets()) {
    std::string_view p = a.path;
    if (!p.empty() && p.front() == '/') p.remove_prefix(1);
    if (path.size() == p.size() + 1 && path.substr(1) == p) return &a;
  }
  return nullptr;
}
#else
const void* find_asset(std::string_view) { return nullptr; }
#endif

Outcome answer(Response r) {
  Outcome o;
  o.response = std::move(r);
  return o;
}

}  // namespace

Api::Api(std::shared_ptr<smallthinker::Model> model, smallthinker::SessionOptions session, const ServerOptions& o)
    : model_(std::move(model)), options_(o), policy_{o.host, o.allowed_hosts, o.cors_origins},
      scheduler_(model_, o.n_parallel, session, o.max_queue), completions_(model_, scheduler_, o.model_id, o.limits, o.reasoning_format),
      compat_{model_, scheduler_, completions_, options_} {}

Outcome Api::handle(Request&& req) {
  const std::string_view target = req.target();
  const ApiFamily family = api_family(target.substr(0, target.find('?')));
  const std::string host(req[http::field::host]);
  if (!host_allowed(host, policy_))
    return answer(family_error(family, ApiError(403, "the Host '" + host + "' is not a name of this server (a page of another "
                                               "site reaching it by DNS rebinding would send its own name); to serve under "
                                               "that name, start the server with --allowed-host NAME",
                                          "invalid_request_error", "", "host_not_allowed")));
  const std::string origin(req[http::field::origin]);
  ExtraHeaders cors;
  switch (check_origin(origin, host, policy_)) {
    case OriginVerdict::refused:
      return answer(family_error(family, ApiError(403, "requests from the web page at '" + origin + "' are refused (by default "
                                                 "only pages on localhost may call this server); to allow it, start the "
                                                 "server with --cors-origin " + origin,
                                            "invalid_request_error", "", "origin_not_allowed")));
    case OriginVerdict::allowed:
      cors = {{"Access-Control-Allow-Origin", origin}, {"Vary", "Origin"}};
      break;
    case OriginVerdict::absent:
      break;
  }
  if (req.method() == http::verb::options) {  // a CORS preflight (or a plain OPTIONS)
    Response r{http::status::no_content, 11};
    for (const auto& [name, value] : cors) r.set(name, value);
    r.set(http::field::allow, "GET, POST, OPTIONS");
    if (!cors.empty()) {
      r.set(http::field::access_control_allow_methods, "GET, POST, OPTIONS");
      // Authorization must be named; "*" admits the rest (Anthropic's SDK sends x-stainless-*
      // headers from a browser). Browsers honour "*" for requests without cookies, as these are.
      r.set(http::field::access_control_allow_headers,
            "Authorization, Content-Type, x-api-key, anthropic-version, anthropic-beta, "
            "anthropic-dangerous-direct-browser-access, *");
      r.set(http::field::access_control_max_age, "600");
    }
    return answer(std::move(r));
  }
  return route(std::move(req), cors);
}

namespace {

bool is_post_route(std::string_view path) {
  return path == "/v1/chat/completions" || path == "/v1/completions" || path == "/tokenize" || path == "/detokenize" ||
         path == "/v1/messages" || path == "/api/chat" || path == "/api/generate" || path == "/api/show";
}

bool is_get_route(std::string_view path) {
  return path == "/v1/models" || path == "/health" || path == "/metrics" || path == "/props" || path == "/slots" ||
         path == "/api/tags" || path == "/api/ps" || path == "/api/version";
}

// The key as Bearer (OpenAI, llama.cpp and Ollama clients) or x-api-key (Anthropic's).
bool key_given(const Request& req, const std::string& key) {
  return bearer_matches(req[http::field::authorization], key) || key_matches(req["x-api-key"], key);
}

}  // namespace

Outcome Api::route(Request&& req, const ExtraHeaders& cors) {
  const std::string_view target = req.target();
  const std::string path(target.substr(0, target.find('?')));
  const ApiFamily family = api_family(path);
  const bool post = is_post_route(path);
  const auto* asset = find_asset(path);
  if (!post && !asset && !is_get_route(path)) return answer(family_error(family, error_for_status(404), cors));
  const http::verb method = post ? http::verb::post : http::verb::get;
  if (req.method() != method) {
    Response r = family_error(family, ApiError(405, std::string("method not allowed: use ") + (post ? "POST" : "GET") + " for " + path), cors);
    r.set(http::field::allow, post ? "POST, OPTIONS" : "GET, OPTIONS");
    return answer(std::move(r));
  }
  if (!options_.api_key.empty() && needs_key(path) && !key_given(req, options_.api_key)) {
    Response r = family_error(family, ApiError(401, "missing or wrong API key (send 'Authorization: Bearer KEY' or 'x-api-key: KEY')",
                                               "invalid_request_error", "", "invalid_api_key"), cors);
    r.set(http::field::www_authenticate, "Bearer");
    return answer(std::move(r));
  }
  if (post) {
    const std::string type(req[http::field::content_type]);
    if (!is_json_content_type(type))
      return answer(family_error(family, ApiError(415, "the request body must be JSON sent with 'Content-Type: application/json' (got " +
                                                           (type.empty() ? std::string("none") : "'" + type + "'") + ")",
                                                  "invalid_request_error", "", "unsupported_media_type"), cors));
    return post_route(path, std::move(req.body()), cors);
  }
  if (family == ApiFamily::ollama) return answer(ollama::info(compat_, path, "", cors));
  if (path == "/health") return answer(text_response(R"({"status":"ok"})", "application/json", cors));
  if (path == "/metrics") return answer(text_response(metrics(), "text/plain; version=0.0.4", cors));
  if (path == "/v1/models") return answer(models(cors));
  if (path == "/props") return answer(json_response(200, props_json(*model_, props_info()), cors));
  if (path == "/slots") return answer(json_response(200, slots_json(scheduler_.slot_status(), scheduler_.slot_ctx()), cors));
#ifdef ST_HAVE_WEB_ASSETS
  return answer(text_response(std::string(asset->body), asset->content_type, cors));
#else
  return answer(error_response(error_for_status(404), cors));
#endif
}

// The body's work runs on a worker thread: parsing, tokenizing and rendering a chat template
// take a while.
Outcome Api::post_route(const std::string& path, std::string body, const ExtraHeaders& cors) {
  Outcome o;
  if (path == "/tokenize" || path == "/detokenize") return tokenizer_route(path, std::move(body), cors);
  if (path == "/api/show") {
    o.work = [this, path, body = std::move(body), cors] { return answer(ollama::info(compat_, path, body, cors)); };
  } else if (path == "/api/chat" || path == "/api/generate") {
    const ollama::Route r = path == "/api/chat" ? ollama::Route::chat : ollama::Route::generate;
    o.work = [this, body = std::move(body), r, cors] { return ollama::start(compat_, body, r, cors); };
  } else if (path == "/v1/messages") {
    o.work = [this, body = std::move(body), cors] { return anthropic::start(compat_, body, cors); };
  } else {
    const Endpoint endpoint = path == "/v1/chat/completions" ? Endpoint::chat : Endpoint::completion;
    o.work = [this, body = std::move(body), endpoint, cors] { return completions_.start(body, endpoint, cors); };
  }
  return o;
}

// /tokenize and /detokenize run on a worker thread: a megabyte of text takes a while to tokenize.
Outcome Api::tokenizer_route(const std::string& path, std::string body, const ExtraHeaders& cors) {
  Outcome o;
  o.work = [this, path, body = std::move(body), cors] {
    try {
      const json reply = path == "/tokenize" ? tokenize_reply(*model_, body, options_.limits)
                                             : detokenize_reply(*model_, body, options_.limits);
      return answer(json_response(200, reply, cors));
    } catch (const ApiError& e) {
      return answer(error_response(e, cors));
    } catch (const std::exception& e) {
      return answer(error_response(ApiError(400, e.what()), cors));
    }
  };
  return o;
}

PropsInfo Api::props_info() const {
  PropsInfo p;
  p.model_path = options_.model_path;
  p.model_alias = options_.model_id;
  p.n_ctx = scheduler_.slot_ctx();
  p.total_slots = options_.n_parallel;
  p.default_max_tokens = std::min(options_.limits.default_max_tokens, options_.limits.max_tokens_cap);
  return p;
}

Response Api::models(const ExtraHeaders& cors) const {
  const json j = {{"object", "list"},
                  {"data", json::array({{{"id", options_.model_id},
                                         {"object", "model"},
                                         {"created", static_cast<int64_t>(std::time(nullptr))},
                                         {"owned_by", "smallthinker"},
                                         {"meta", {{"n_ctx_slot", scheduler_.slot_ctx()},
                                                   {"n_vocab", model_->info().n_vocab},
                                                   {"n_params_file_bytes", model_->info().file_bytes}}}}})}};
  return json_response(200, j, cors);
}

std::string Api::metrics() const {
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

}  // namespace st::server
