// What every API's reply over a Job shares (OpenAI completions, Ollama, Anthropic): waking the
// connection when the engine writes, cancelling, and splitting the text into reasoning
// (<think>...</think>), content and tool calls, so thinking and calls are recognised the same
// way whichever API asked for them.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "apps/server/http_exchange.h"
#include "apps/server/reasoning.h"
#include "apps/server/scheduler.h"
#include "apps/server/tool_call_parser.h"

namespace st::server {

class JobReply : public ReplySource {
 public:
  void start(std::function<void()> wake) override;
  bool streaming() const override { return stream_; }
  void cancel() override { job_->cancelled = true; }  // a no-op once the job is done

 protected:
  JobReply(std::shared_ptr<Job> job, bool stream, bool tools, ReasoningFormat reasoning = ReasoningFormat::none);

  // The new text's parts: the reasoning, then the content (which the tool-call parser reads:
  // calls are made after the thinking).
  struct Parts : ToolCallParser::Output {
    std::string reasoning;
  };
  // The engine's new text as reasoning, content and tool-call events (all content without tools
  // and with reasoning_format none); once the job is done, whatever the parsers still hold too.
  Parts split(const std::string& text, bool done);

  std::shared_ptr<Job> job_;
  bool stream_;
  std::unique_ptr<ToolCallParser> parser_;  // null: no tools
  std::unique_ptr<ReasoningSplitter> thinker_;  // null: reasoning_format none
  bool legacy_ = false;  // deepseek-legacy: the content keeps the whole text as generated
};

}  // namespace st::server
