// What every API's reply over a Job shares (OpenAI completions, Ollama, Anthropic): waking the
// connection when the engine writes, cancelling, and splitting the text into content and tool
// calls, so a call is recognised the same way whichever API asked for it.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "apps/server/http_exchange.h"
#include "apps/server/scheduler.h"
#include "apps/server/tool_call_parser.h"

namespace st::server {

class JobReply : public ReplySource {
 public:
  void start(std::function<void()> wake) override;
  bool streaming() const override { return stream_; }
  void cancel() override { job_->cancelled = true; }  // a no-op once the job is done

 protected:
  JobReply(std::shared_ptr<Job> job, bool stream, bool tools);

  // The engine's new text as content and tool-call events (all content without tools); once
  // the job is done, whatever the parser still holds as well.
  ToolCallParser::Output split(const std::string& text, bool done);

  std::shared_ptr<Job> job_;
  bool stream_;
  std::unique_ptr<ToolCallParser> parser_;  // null: no tools
};

}  // namespace st::server
