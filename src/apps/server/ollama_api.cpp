// Ollama's routes over the scheduler (see compat_api.h). keep_alive is accepted and checked
// but changes nothing: the one model stays loaded for as long as the server runs.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "apps/server/anthropic_protocol.h"
#include "apps/server/compat_api.h"
#include "apps/server/job_reply.h"

namespace st::server {

namespace http = boost::beast::http;

ApiFamily api_family(std::string_view path) {
  if (path.rfind("/api/", 0) == 0) return ApiFamily::ollama;
  if (path == "/v1/messages") return ApiFamily::anthropic;
  return ApiFamily::openai;
}

Response family_error(ApiFamily family, const ApiError& e, const ExtraHeaders& extra) {
  switch (family) {
    case ApiFamily::ollama: return json_response(e.status, ollama::error_body(e), extra);
    case ApiFamily::anthropic: return json_response(e.status, anthropic::error_body(e), extra);
    case ApiFamily::openai: break;
  }
  return error_response(e, extra);
}

namespace ollama {
namespace {

using clock_type = std::chrono::steady_clock;

int64_t nanoseconds(double ms) { return static_cast<int64_t>(ms * 1e6); }

// A Job's output as Ollama's reply: one JSON object, or NDJSON lines as the text arrives.
class OllamaReply : public JobReply {
 public:
  OllamaReply(std::shared_ptr<Job> job, Route route, std::string model, bool stream, ExtraHeaders extra, bool tools,
              ReasoningFormat reasoning)
      : JobReply(std::move(job), stream, tools, reasoning), route_(route), model_(std::move(model)), extra_(std::move(extra)),
        start_(clock_type::now()) {}

  Piece next() override {
    std::string text, thinking;
    const bool done = job_->take(text);
    text = content_and_calls(text, done, thinking);
    Piece p;
    if (!stream_) {
      text_ += text;
      thinking_ += thinking;
      if (!done) return p;
      p.done = true;
      p.head = finished_error() ? family_error(ApiFamily::ollama, *job_->error, extra_)
                                : json_response(200, last_line(text_, calls_json(), thinking_), extra_);
      return p;
    }
    if (first_) {
      Response head{http::status::ok, 11};
      head.set(http::field::content_type, "application/x-ndjson");
      head.set(http::field::cache_control, "no-cache");
      for (const auto& [name, value] : extra_) head.set(name, value);
      p.head = std::move(head);
      first_ = false;
    }
    if (!text.empty() || !thinking.empty())
      p.data += ndjson(reply_line(route_, model_, timestamp(std::chrono::system_clock::now()), text, {}, {}, nullptr, thinking));
    if (done) {
      // Calls go out whole, on a line of their own before the last, as Ollama sends them.
      const bool error = finished_error();
      if (!error && !calls_.empty())
        p.data += ndjson(reply_line(route_, model_, timestamp(std::chrono::system_clock::now()), "", {}, {}, calls_json()));
      // An error after the head: Ollama's clients read {"error": ...} lines and throw.
      p.data += ndjson(error ? ollama::error_body(*job_->error) : last_line(""));
      p.done = true;
    }
    return p;
  }

 private:
  bool finished_error() {
    std::lock_guard<std::mutex> lock(job_->mutex);
    return job_->error.has_value();
  }

  // The content; the thinking into `thinking`, the calls' events into calls_.
  std::string content_and_calls(const std::string& text, bool done, std::string& thinking) {
    const Parts out = split(text, done);
    thinking = out.reasoning;
    for (const auto& e : out.calls) {
      if (e.opens) calls_.push_back({e.name, ""});
      calls_.at(static_cast<size_t>(e.index)).second += e.arguments;
    }
    return out.content;
  }

  json calls_json() const {
    json out = json::array();
    for (size_t i = 0; i < calls_.size(); ++i) out.push_back(tool_call_json(static_cast<int>(i), calls_[i].first, calls_[i].second));
    return out;
  }

  json last_line(const std::string& text, const json& tool_calls = nullptr, const std::string& thinking = {}) {
    std::lock_guard<std::mutex> lock(job_->mutex);
    Stats s;
    s.prompt_eval_count = job_->usage.prompt_tokens;
    s.eval_count = job_->usage.completion_tokens;
    s.prompt_eval_duration = nanoseconds(job_->timings.prompt_ms);
    s.eval_duration = nanoseconds(job_->timings.predicted_ms);
    s.total_duration = std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - start_).count();
    return reply_line(route_, model_, timestamp(std::chrono::system_clock::now()), text, job_->finish_reason, s, tool_calls, thinking);
  }

  Route route_;
  std::string model_;
  ExtraHeaders extra_;
  clock_type::time_point start_;
  bool first_ = true;
  std::string text_;  // non-streaming: the reply so far
  std::string thinking_;  // ... and its thinking
  std::vector<std::pair<std::string, std::string>> calls_;  // name, arguments' JSON text
};

// The request's job; options.num_ctx narrows the context the request may fill.
std::shared_ptr<Job> make_job(const CompatContext& c, const Request& r) {
  const int64_t slot_ctx = c.scheduler.slot_ctx();
  if (r.num_ctx > slot_ctx)
    throw ApiError(400, "'options.num_ctx' " + std::to_string(r.num_ctx) + " is larger than this server's context per slot (" +
                            std::to_string(slot_ctx) + " tokens); restart the server with a larger -c",
                   "invalid_request_error", "options.num_ctx");
  std::shared_ptr<Job> job;
  try {
    job = c.completions.make_job(r.completion);
  } catch (const ApiError& e) {
    if (e.param != "response_format") throw;
    throw ApiError(e.status, e.what(), e.type, "format", e.code);
  }
  if (r.num_ctx > 0) {
    const int64_t room = r.num_ctx - static_cast<int64_t>(job->prompt.size());
    if (room <= 0)
      throw ApiError(400, "the prompt has " + std::to_string(job->prompt.size()) + " tokens; 'options.num_ctx' is " +
                              std::to_string(r.num_ctx), "invalid_request_error", "options.num_ctx");
    job->max_tokens = static_cast<int>(std::min<int64_t>(job->max_tokens, room));
  }
  return job;
}

}  // namespace

Outcome start(const CompatContext& c, const std::string& body, Route route, const ExtraHeaders& extra) {
  Outcome out;
  try {
    const Request r = parse_request(body, route, c.options.limits);
    const std::string model = r.model.empty() ? c.options.model_id : r.model;
    if (r.load_only) {  // the model is loaded already
      out.response = json_response(200, reply_line(route, model, timestamp(std::chrono::system_clock::now()), "", "load"), extra);
      return out;
    }
    std::shared_ptr<Job> job = make_job(c, r);
    ExtraHeaders headers = extra;
    if (r.completion.max_tokens_requested > r.completion.max_tokens)
      headers.emplace_back("X-Max-Tokens-Clamped", std::to_string(r.completion.max_tokens));
    auto reply = std::make_shared<OllamaReply>(job, route, model, r.completion.stream, std::move(headers),
                                               r.completion.wants_tool_calls(), r.completion.reasoning_format);
    switch (c.scheduler.submit(job)) {
      case Scheduler::Submitted::queued: out.source = std::move(reply); break;
      case Scheduler::Submitted::queue_full: throw error_for_status(429);
      case Scheduler::Submitted::shutting_down: throw ApiError(503, "the server is shutting down", "server_error");
    }
  } catch (const ApiError& e) {
    out.response = family_error(ApiFamily::ollama, e, extra);
  }
  return out;
}

namespace {

// 64 hex digits naming the file by path, size and modification time. Not its sha256 as
// Ollama's digests are: hashing gigabytes at every /api/tags would take seconds.
std::string file_digest(const std::string& path, uint64_t size, int64_t mtime) {
  const std::string key = path + '\0' + std::to_string(size) + '\0' + std::to_string(mtime);
  std::string out;
  for (uint64_t lane = 0; lane < 4; ++lane) {
    uint64_t h = 1469598103934665603ull ^ (lane * 0x9E3779B97F4A7C15ull);  // FNV-1a, one seed per lane
    for (unsigned char ch : key) h = (h ^ ch) * 1099511628211ull;
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    out += buf;
  }
  return out;
}

ModelCard model_card(const CompatContext& c) {
  const smallthinker::ModelInfo& info = c.model->info();
  ModelCard m;
  m.name = c.options.model_id.find(':') == std::string::npos ? c.options.model_id + ":latest" : c.options.model_id;
  m.path = c.options.model_path;
  m.size_bytes = info.file_bytes;
  std::error_code ec;
  const auto mtime = std::filesystem::last_write_time(m.path, ec);
  // (file_clock's epoch is unspecified: shift by the two clocks' "now".)
  const auto when = ec ? std::chrono::system_clock::now()
                       : std::chrono::time_point_cast<std::chrono::system_clock::duration>(
                             mtime - std::filesystem::file_time_type::clock::now() + std::chrono::system_clock::now());
  m.modified_at = timestamp(when);
  m.digest = file_digest(m.path, m.size_bytes, std::chrono::duration_cast<std::chrono::seconds>(when.time_since_epoch()).count());
  m.context_length = info.n_ctx_train;
  m.embedding_length = info.n_embd;
  m.block_count = info.n_layer;
  m.expert_count = info.n_expert;
  m.expert_used_count = info.n_expert_used;
  m.vocab_size = info.n_vocab;
  m.chat_template = c.model->chat_template();
  m.slot_ctx = c.scheduler.slot_ctx();
  return m;
}

}  // namespace

Response info(const CompatContext& c, std::string_view path, const std::string& body, const ExtraHeaders& extra) {
  try {
    if (path == "/api/version") return json_response(200, {{"version", kApiVersion}}, extra);
    if (path == "/api/tags") return json_response(200, tags_json(model_card(c)), extra);
    if (path == "/api/ps") return json_response(200, ps_json(model_card(c)), extra);
    (void)parse_show_request(body, c.options.limits);  // any name: the one model is shown, as chat accepts any name
    return json_response(200, show_json(model_card(c)), extra);
  } catch (const ApiError& e) {
    return family_error(ApiFamily::ollama, e, extra);
  }
}

}  // namespace ollama
}  // namespace st::server
