// Anthropic's POST /v1/messages over the scheduler (see compat_api.h).
#include <cstdio>
#include <random>

#include "apps/server/anthropic_protocol.h"
#include "apps/server/compat_api.h"

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

// A Job's output as a message object, or as Anthropic's event stream: message_start,
// content_block_start, content_block_delta..., content_block_stop, message_delta, message_stop.
class MessagesReply : public ReplySource {
 public:
  MessagesReply(std::shared_ptr<Job> job, Head head, int64_t input_tokens, bool stream, ExtraHeaders extra)
      : job_(std::move(job)), head_(std::move(head)), input_tokens_(input_tokens), stream_(stream), extra_(std::move(extra)) {}

  void start(std::function<void()> wake) override {
    std::lock_guard<std::mutex> lock(job_->mutex);
    job_->listener = std::move(wake);
  }
  bool streaming() const override { return stream_; }
  void cancel() override { job_->cancelled = true; }

  Piece next() override {
    std::string text;
    const bool done = job_->take(text);
    return stream_ ? next_events(text, done) : whole_reply(text, done);
  }

 private:
  Piece whole_reply(const std::string& text, bool done) {
    text_ += text;
    Piece p;
    if (!done) return p;
    p.done = true;
    std::lock_guard<std::mutex> lock(job_->mutex);
    if (job_->error) {
      p.head = family_error(ApiFamily::anthropic, *job_->error, extra_);
    } else {
      p.head = json_response(200, message_json(head_, text_, stop_reason(job_->finish_reason, job_->stop_sequence),
                                               job_->stop_sequence, job_->usage), extra_);
    }
    return p;
  }

  Piece next_events(const std::string& text, bool done) {
    Piece p;
    if (first_) {
      Response head{http::status::ok, 11};
      head.set(http::field::content_type, "text/event-stream");
      head.set(http::field::cache_control, "no-cache");
      for (const auto& [name, value] : extra_) head.set(name, value);
      p.head = std::move(head);
      p.data += event(message_start(head_, input_tokens_));
      p.data += event(text_block_start());
      first_ = false;
    }
    if (!text.empty()) p.data += event(text_delta(text));
    if (done) {
      std::lock_guard<std::mutex> lock(job_->mutex);
      if (job_->error) {
        p.data += event(anthropic::error_body(*job_->error));  // "event: error", as the API does mid-stream
      } else {
        p.data += event(block_stop());
        p.data += event(message_delta(stop_reason(job_->finish_reason, job_->stop_sequence), job_->stop_sequence, job_->usage));
        p.data += event(message_stop());
      }
      p.done = true;
    }
    return p;
  }

  std::shared_ptr<Job> job_;
  Head head_;
  int64_t input_tokens_;
  bool stream_;
  ExtraHeaders extra_;
  bool first_ = true;
  std::string text_;
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

}  // namespace

Outcome start(const CompatContext& c, const std::string& body, const ExtraHeaders& extra) {
  Outcome out;
  try {
    const Request r = parse_request(body, c.options.limits);
    std::shared_ptr<Job> job = c.completions.make_job(r.completion);
    append_prefill(c, *job, r.prefill);
    Head head{message_id(), r.completion.model.empty() ? c.options.model_id : r.completion.model};
    ExtraHeaders headers = extra;
    if (r.completion.max_tokens_requested > r.completion.max_tokens)
      headers.emplace_back("X-Max-Tokens-Clamped", std::to_string(r.completion.max_tokens));
    const auto input_tokens = static_cast<int64_t>(job->prompt.size());
    auto reply = std::make_shared<MessagesReply>(job, std::move(head), input_tokens, r.completion.stream, std::move(headers));
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
