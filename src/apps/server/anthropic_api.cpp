// Anthropic's POST /v1/messages over the scheduler (see compat_api.h).
#include <cstdio>
#include <random>
#include <vector>

#include "apps/server/anthropic_protocol.h"
#include "apps/server/compat_api.h"
#include "apps/server/job_reply.h"

namespace st::server::anthropic {
namespace {

namespace http = boost::beast::http;

std::string message_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[40];
  std::snprintf(buf, sizeof buf, "msg_%016llx%08llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng() >> 32));
  return buf;
}

std::string tool_use_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[40];
  std::snprintf(buf, sizeof buf, "toolu_%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

// A call the reply made, as far as it has arrived.
struct Call {
  std::string id, name, arguments;
};

// A Job's output as a message object, or as Anthropic's event stream: message_start, then per
// content block content_block_start, content_block_delta..., content_block_stop, then
// message_delta, message_stop. With tools the text is split by the OpenAI path's
// ToolCallParser: each call becomes a tool_use block, its arguments input_json_delta pieces.
class MessagesReply : public JobReply {
 public:
  MessagesReply(std::shared_ptr<Job> job, Head head, int64_t input_tokens, bool stream, ExtraHeaders extra, bool tools,
                ReasoningFormat reasoning)
      : JobReply(std::move(job), stream, tools, reasoning), head_(std::move(head)), input_tokens_(input_tokens), extra_(std::move(extra)) {}

  Piece next() override {
    std::string text;
    const bool done = job_->take(text);
    return stream_ ? next_events(split(text, done), done) : whole_reply(split(text, done), done);
  }

 private:
  // Records the calls' events; returns the Call each event belongs to.
  Call& record(const ToolCallParser::Event& e) {
    if (e.opens) calls_.push_back({tool_use_id(), e.name, ""});
    Call& c = calls_.at(static_cast<size_t>(e.index));
    c.arguments += e.arguments;
    return c;
  }

  std::string reason() const {
    return stop_reason(job_->finish_reason, job_->stop_sequence, !calls_.empty() && job_->finish_reason == "stop");
  }

  json content_blocks() const {
    json blocks = json::array();
    if (!thinking_.empty()) blocks.push_back(thinking_block(thinking_));
    if (!text_.empty() || calls_.empty()) blocks.push_back({{"type", "text"}, {"text", text_}});
    for (const Call& c : calls_) {
      json input = json::parse(c.arguments.empty() ? "{}" : c.arguments, nullptr, false);
      if (!input.is_object()) input = json::object();  // cut off by max_tokens: what arrived does not parse
      blocks.push_back(tool_use_block(c.id, c.name, input));
    }
    return blocks;
  }

  Piece whole_reply(const Parts& parts, bool done) {
    thinking_ += parts.reasoning;
    text_ += parts.content;
    for (const auto& e : parts.calls) record(e);
    Piece p;
    if (!done) return p;
    p.done = true;
    std::lock_guard<std::mutex> lock(job_->mutex);
    if (job_->error) p.head = family_error(ApiFamily::anthropic, *job_->error, extra_);
    else p.head = json_response(200, message_json_blocks(head_, content_blocks(), reason(), job_->stop_sequence, job_->usage), extra_);
    return p;
  }

  // Closes the open block (if any) and opens the next one.
  void open_block(std::string& data, const json& start_event) {
    if (open_ >= 0) data += event(block_stop(open_));
    open_ = next_index_++;
    json ev = start_event;
    ev["index"] = open_;
    data += event(ev);
  }

  void stream_parts(std::string& data, const Parts& parts) {
    if (!parts.reasoning.empty()) {
      if (open_kind_ != Kind::thinking) open_block(data, thinking_block_start(0));
      open_kind_ = Kind::thinking;
      data += event(thinking_delta(parts.reasoning, open_));
    }
    if (!parts.content.empty()) {
      if (open_kind_ != Kind::text) open_block(data, text_block_start());
      open_kind_ = Kind::text;
      text_opened_ = true;
      data += event(text_delta(parts.content, open_));
    }
    for (const auto& e : parts.calls) {
      const Call& c = record(e);
      if (e.opens) {
        open_block(data, tool_use_block_start(0, c.id, c.name));
        open_kind_ = Kind::tool_use;
      }
      if (!e.arguments.empty()) data += event(input_json_delta(e.arguments, open_));
    }
  }

  Piece next_events(const Parts& parts, bool done) {
    Piece p;
    if (first_) {
      Response head{http::status::ok, 11};
      head.set(http::field::content_type, "text/event-stream");
      head.set(http::field::cache_control, "no-cache");
      for (const auto& [name, value] : extra_) head.set(name, value);
      p.head = std::move(head);
      p.data += event(message_start(head_, input_tokens_));
      if (!parser_ && !thinker_) {  // without tools or thinking the one text block opens at once
        open_block(p.data, text_block_start());
        open_kind_ = Kind::text;
        text_opened_ = true;
      }
      first_ = false;
    }
    stream_parts(p.data, parts);
    if (done) {
      std::lock_guard<std::mutex> lock(job_->mutex);
      if (job_->error) {
        p.data += event(anthropic::error_body(*job_->error));  // "event: error", as the API does mid-stream
      } else {
        // A reply with no text and no calls still has its (empty) text block, as whole replies do.
        if (!text_opened_ && calls_.empty()) open_block(p.data, text_block_start());
        p.data += event(block_stop(open_));
        p.data += event(message_delta(reason(), job_->stop_sequence, job_->usage));
        p.data += event(message_stop());
      }
      p.done = true;
    }
    return p;
  }

  Head head_;
  int64_t input_tokens_;
  ExtraHeaders extra_;
  bool first_ = true;
  std::string text_;        // whole reply: its text
  std::string thinking_;    // ... and its thinking
  std::vector<Call> calls_;
  int open_ = -1;           // streaming: index of the open block (-1: none yet)
  enum class Kind { none, thinking, text, tool_use };
  Kind open_kind_ = Kind::none;  // streaming: what the open block is
  bool text_opened_ = false;
  int next_index_ = 0;
};

// A prefill (a last assistant message) is appended to the rendered prompt as plain text: the
// reply continues it.
void append_prefill(const CompatContext& c, Job& job, const std::string& prefill) {
  if (prefill.empty()) return;
  const std::vector<int32_t> more = c.model->tokenize(prefill, /*parse_special=*/false);
  job.prompt.insert(job.prompt.end(), more.begin(), more.end());
  const int64_t ctx = c.scheduler.slot_ctx();
  if (static_cast<int64_t>(job.prompt.size()) >= ctx)
    throw ApiError(400, "the prompt has " + std::to_string(job.prompt.size()) + " tokens; the context of a slot holds " +
                            std::to_string(ctx) + " (prompt + reply)", "invalid_request_error", "messages");
}

// The OpenAI path's job; a schema error names the tool's field in Anthropic's shape.
std::shared_ptr<Job> make_job(const CompatContext& c, const CompletionRequest& r) {
  try {
    return c.completions.make_job(r);
  } catch (const ApiError& e) {
    const std::string openai_field = ".function.parameters";
    const size_t at = e.param.find(openai_field);
    if (e.param.rfind("tools[", 0) != 0 || at == std::string::npos) throw;
    std::string param = e.param;
    param.replace(at, openai_field.size(), ".input_schema");
    throw ApiError(e.status, e.what(), e.type, param, e.code);
  }
}

}  // namespace

Outcome start(const CompatContext& c, const std::string& body, const ExtraHeaders& extra) {
  Outcome out;
  try {
    const Request r = parse_request(body, c.options.limits);
    std::shared_ptr<Job> job = make_job(c, r.completion);
    append_prefill(c, *job, r.prefill);
    Head head{message_id(), r.completion.model.empty() ? c.options.model_id : r.completion.model};
    ExtraHeaders headers = extra;
    if (r.completion.max_tokens_requested > r.completion.max_tokens)
      headers.emplace_back("X-Max-Tokens-Clamped", std::to_string(r.completion.max_tokens));
    const auto input_tokens = static_cast<int64_t>(job->prompt.size());
    auto reply = std::make_shared<MessagesReply>(job, std::move(head), input_tokens, r.completion.stream, std::move(headers),
                                                 r.completion.wants_tool_calls(), r.completion.reasoning_format);
    switch (c.scheduler.submit(job)) {
      case Scheduler::Submitted::queued: out.source = std::move(reply); break;
      case Scheduler::Submitted::queue_full: throw error_for_status(429);
      case Scheduler::Submitted::shutting_down: throw ApiError(503, "the server is shutting down", "server_error");
    }
  } catch (const ApiError& e) {
    out.response = family_error(ApiFamily::anthropic, e, extra);
  } catch (const std::exception& e) {
    out.response = family_error(ApiFamily::anthropic, ApiError(400, e.what()), extra);
  }
  return out;
}

}  // namespace st::server::anthropic
