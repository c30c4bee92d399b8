#include "apps/server/job_reply.h"

#include <mutex>
#include <utility>

namespace st::server {

JobReply::JobReply(std::shared_ptr<Job> job, bool stream, bool tools, ReasoningFormat reasoning)
    : job_(std::move(job)), stream_(stream), legacy_(reasoning == ReasoningFormat::deepseek_legacy) {
  if (tools) parser_ = std::make_unique<ToolCallParser>();
  if (splits_reasoning(reasoning)) thinker_ = std::make_unique<ReasoningSplitter>(job_->thinking_open);
}

void JobReply::start(std::function<void()> wake) {
  std::lock_guard<std::mutex> lock(job_->mutex);
  job_->listener = std::move(wake);
}

JobReply::Parts JobReply::split(const std::string& text, bool done) {
  Parts out;
  std::string content = text;
  if (thinker_) {
    ReasoningSplitter::Output r = thinker_->push(text);
    if (done) {
      ReasoningSplitter::Output rest = thinker_->finish();
      r.reasoning += rest.reasoning;
      r.content += rest.content;
    }
    out.reasoning = std::move(r.reasoning);
    if (!legacy_) content = std::move(r.content);
  }
  if (!parser_) {
    out.content = std::move(content);
    return out;
  }
  static_cast<ToolCallParser::Output&>(out) = parser_->push(content);
  if (done) {
    ToolCallParser::Output rest = parser_->finish();
    out.content += rest.content;
    out.calls.insert(out.calls.end(), rest.calls.begin(), rest.calls.end());
  }
  return out;
}

}  // namespace st::server
