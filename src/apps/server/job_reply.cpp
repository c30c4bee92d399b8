#include "apps/server/job_reply.h"

#include <mutex>
#include <utility>

namespace st::server {

JobReply::JobReply(std::shared_ptr<Job> job, bool stream, bool tools) : job_(std::move(job)), stream_(stream) {
  if (tools) parser_ = std::make_unique<ToolCallParser>();
}

void JobReply::start(std::function<void()> wake) {
  std::lock_guard<std::mutex> lock(job_->mutex);
  job_->listener = std::move(wake);
}

ToolCallParser::Output JobReply::split(const std::string& text, bool done) {
  if (!parser_) return {text, {}};
  ToolCallParser::Output out = parser_->push(text);
  if (done) {
    ToolCallParser::Output rest = parser_->finish();
    out.content += rest.content;
    out.calls.insert(out.calls.end(), rest.calls.begin(), rest.calls.end());
  }
  return out;
}

}  // namespace st::server
