#include "apps/server/completion.h"

#include "apps/server/job_reply.h"

#include <ctime>
#include <iterator>

namespace st::server {

namespace http = boost::beast::http;

Response json_response(int status, const json& body, const ExtraHeaders& extra) {
  Response r{static_cast<http::status>(status), 11};
  r.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : extra) r.set(name, value);
  r.body() = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

Response error_response(const ApiError& e, const ExtraHeaders& extra) { return json_response(e.status, error_body(e), extra); }

namespace {

// A Job's output as a reply: next() takes what the engine has written since the last call.
class CompletionReply : public JobReply {
 public:
  CompletionReply(std::shared_ptr<Job> job, ReplyHead head, bool stream, bool include_usage, ExtraHeaders extra,
                  std::vector<std::string> warnings, bool tool_calls, ReasoningFormat reasoning)
      : JobReply(std::move(job), stream, tool_calls, reasoning), head_(std::move(head)), include_usage_(include_usage),
        extra_(std::move(extra)), warnings_(std::move(warnings)) {}

  Piece next() override {
    std::string text;
    std::vector<TokenLogprobs> probs;
    const bool done = job_->take(text, &probs);
    return stream_ ? next_events(text, probs, done) : whole_reply(text, probs, done);
  }

 private:
  bool wants_logprobs() const { return job_->n_probs >= 0; }

  // The choice's "logprobs" for these tokens (null when the request did not ask).
  json logprobs_json(std::span<const TokenLogprobs> probs) {
    if (!wants_logprobs()) return nullptr;
    return head_.endpoint == Endpoint::chat ? chat_logprobs_json(probs) : completion_logprobs_json(probs, text_offset_);
  }

  // The reply's finish_reason: "tool_calls" when it made calls and ended by itself.
  std::string finish_reason() const {
    return parser_ && parser_->calls() > 0 && job_->finish_reason == "stop" ? "tool_calls" : job_->finish_reason;
  }

  // OpenAI's id of a call: unique with the completion's id.
  std::string call_id(int index) const {
    return "call_" + head_.id.substr(head_.id.find('-') + 1) + "_" + std::to_string(index);
  }

  // Parser events as delta.tool_calls entries (streaming) and into calls_ (whole replies).
  json call_deltas(const std::vector<ToolCallParser::Event>& events) {
    json out = json::array();
    for (const auto& e : events) {
      if (e.opens) {
        calls_.push_back({{"id", call_id(e.index)}, {"type", "function"}, {"function", {{"name", e.name}, {"arguments", ""}}}});
        out.push_back({{"index", e.index}, {"id", call_id(e.index)}, {"type", "function"},
                       {"function", {{"name", e.name}, {"arguments", e.arguments}}}});
      } else {
        calls_[static_cast<size_t>(e.index)]["function"]["arguments"] =
            calls_[static_cast<size_t>(e.index)]["function"]["arguments"].get<std::string>() + e.arguments;
        out.push_back({{"index", e.index}, {"function", {{"arguments", e.arguments}}}});
      }
    }
    return out;
  }

  Piece whole_reply(const std::string& text, std::vector<TokenLogprobs>& probs, bool done) {
    const Parts parts = split(text, done);
    text_ += parts.content;
    reasoning_ += parts.reasoning;
    call_deltas(parts.calls);
    std::move(probs.begin(), probs.end(), std::back_inserter(probs_));
    Piece p;
    if (!done) return p;
    p.done = true;
    std::lock_guard<std::mutex> lock(job_->mutex);
    p.head = job_->error ? error_response(*job_->error, extra_)
                         : json_response(200, full_reply(head_, text_, finish_reason(), job_->usage, job_->timings,
                                                         logprobs_json(probs_), warnings_,
                                                         calls_.empty() ? json(nullptr) : calls_, reasoning_), extra_);
    return p;
  }

  Piece next_events(const std::string& text, const std::vector<TokenLogprobs>& probs, bool done) {
    Piece p;
    if (first_) {
      Response head{http::status::ok, 11};
      head.set(http::field::content_type, "text/event-stream");
      head.set(http::field::cache_control, "no-cache");
      for (const auto& [name, value] : extra_) head.set(name, value);
      p.head = std::move(head);
    }
    // A chat stream's first event carries the role, even before any text.
    // Log-probabilities go with the text that arrives with them (a token held back as part of a
    // UTF-8 character or a possible stop string reports in the chunk where it is taken).
    // With tools, the log-probabilities ride on the first chunk of this round, content or call.
    bool first_chat = first_ && head_.endpoint == Endpoint::chat;
    json lp = probs.empty() ? json(nullptr) : logprobs_json(probs);
    const Parts parts = split(text, done);
    if (!parts.reasoning.empty()) {  // the thinking comes before the content of the same piece
      p.data += sse_event(reasoning_chunk(head_, parts.reasoning, first_chat, lp));
      first_chat = false;
      lp = nullptr;
    }
    if (first_chat || !parts.content.empty() || (!lp.is_null() && parts.calls.empty())) {
      p.data += sse_event(text_chunk(head_, parts.content, first_chat, lp));
      first_chat = false;
      lp = nullptr;
    }
    if (!parts.calls.empty()) p.data += sse_event(tool_calls_chunk(head_, call_deltas(parts.calls), first_chat, lp));
    first_ = false;
    if (done) {
      std::lock_guard<std::mutex> lock(job_->mutex);
      if (job_->error) {
        p.data += sse_event(error_body(*job_->error));
      } else {
        p.data += sse_event(final_chunk(head_, finish_reason(), job_->timings, warnings_));
        if (include_usage_) p.data += sse_event(usage_chunk(head_, job_->usage));
      }
      p.data += "data: [DONE]\n\n";
      p.done = true;
    }
    return p;
  }

  ReplyHead head_;
  bool include_usage_;
  ExtraHeaders extra_;
  std::vector<std::string> warnings_;
  bool first_ = true;
  std::string text_;  // non-streaming: the reply so far
  std::string reasoning_;             // ... its thinking
  std::vector<TokenLogprobs> probs_;  // ... and its log-probabilities
  json calls_ = json::array();        // the calls so far, arguments accumulated
  int64_t text_offset_ = 0;           // completions logprobs: characters generated before the next token
};

}  // namespace

Completions::Completions(std::shared_ptr<smallthinker::Model> model, Scheduler& scheduler, std::string model_id, Limits limits,
                         ReasoningFormat reasoning)
    : model_(std::move(model)), scheduler_(scheduler), model_id_(std::move(model_id)), limits_(limits), reasoning_(reasoning),
      rng_(std::random_device{}()) {}

std::string Completions::next_id(Endpoint e) {
  std::lock_guard<std::mutex> lock(id_mutex_);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng_()));
  return std::string(e == Endpoint::chat ? "chatcmpl-" : "cmpl-") + buf;
}

namespace {

// The messages as the template gets them (the Ollama and Anthropic routes may fill only `messages`).
std::string template_messages(const CompletionRequest& r) {
  if (!r.messages_json.empty()) return r.messages_json;
  json out = json::array();
  for (const auto& m : r.messages) out.push_back({{"role", m.role}, {"content", m.content}});
  return out.dump();
}

// The end of the prompt as text (control tokens by name), enough to see a trailing "<think>\n".
std::string prompt_tail(const smallthinker::Model& model, const std::vector<int32_t>& prompt) {
  std::string tail;
  for (size_t i = prompt.size() > 8 ? prompt.size() - 8 : 0; i < prompt.size(); ++i) tail += model.token_piece(prompt[i]);
  return tail;
}

}  // namespace

// Calls constrained to the offered tools (a named choice: that one, from the first token);
// tool_choice none masks the open tag.
std::unique_ptr<smallthinker::Sampler> Completions::tool_sampler(const CompletionRequest& r) const {
  using Choice = smallthinker::Sampler::ToolChoice;
  std::vector<smallthinker::Sampler::Tool> tools;
  std::vector<size_t> index;  // tools[k] is r.tools[index[k]]
  for (size_t i = 0; i < r.tools.size(); ++i)
    if (r.tool_choice != ToolChoice::named || i == r.tool_choice_index) {
      tools.push_back({r.tools[i].name, r.tools[i].parameters});
      index.push_back(i);
    }
  const Choice choice = r.tool_choice == ToolChoice::none       ? Choice::none
                        : r.tool_choice == ToolChoice::automatic ? Choice::automatic
                                                                 : Choice::required;
  try {
    return std::make_unique<smallthinker::Sampler>(*model_, r.sampling, tools, choice, r.parallel_tool_calls);
  } catch (const smallthinker::Sampler::ToolSchemaError& e) {
    const std::string param = "tools[" + std::to_string(index[e.tool]) + "].function.parameters";
    throw ApiError(400, "'" + param + "': " + e.what(), "invalid_request_error", param);
  } catch (const std::exception& e) {
    throw ApiError(400, e.what(), "invalid_request_error", "tools");
  }
}

// Tokenizes and checks a parsed request; throws ApiError for anything the client got wrong.
std::shared_ptr<Job> Completions::make_job(const CompletionRequest& r) {
  // Any model name is accepted, as llama-server does: the reply's "model" names the one served.
  auto job = std::make_shared<Job>();
  const char* input = r.endpoint == Endpoint::chat ? "messages" : "prompt";
  try {
    // The template sees the tools, tool calls and results, reasoning and chat_template_kwargs.
    if (r.endpoint == Endpoint::chat && (r.tool_history || !r.tools.empty() || r.reasoning_history || !r.template_kwargs_json.empty()))
      job->prompt = model_->render_chat(template_messages(r), r.tools_json, true, r.template_kwargs_json).tokens;
    else
      job->prompt = r.endpoint == Endpoint::chat ? model_->chat_tokens(r.messages) : model_->tokenize(r.prompt, true);
  } catch (const std::exception& e) {
    throw ApiError(400, std::string("could not render or tokenize the request: ") + e.what(), "invalid_request_error", input);
  }
  if (job->prompt.empty()) throw ApiError(400, "the prompt is empty", "invalid_request_error", "prompt");
  const int64_t ctx = scheduler_.slot_ctx();
  if (static_cast<int64_t>(job->prompt.size()) >= ctx)
    throw ApiError(400, "the prompt has " + std::to_string(job->prompt.size()) + " tokens; the context of a slot holds " +
                            std::to_string(ctx) + " (prompt + reply): shorten it or restart the server with a larger -c",
                   "invalid_request_error", input, "context_length_exceeded");
  job->max_tokens = r.max_tokens;
  job->stop = r.stop;
  job->sampling = r.sampling;
  job->n_probs = r.logprobs;
  job->thinking_open = r.endpoint == Endpoint::chat && splits_reasoning(r.reasoning_format) && prompt_opens_thinking(prompt_tail(*model_, job->prompt));
  if (!r.tools.empty() && !r.json_object && r.json_schema.empty()) {  // (with tool_choice none, JSON output wins)
    job->sampler = tool_sampler(r);
    return job;
  }
  try {
    job->sampler = std::make_unique<smallthinker::Sampler>(*model_, r.sampling, r.json_object, r.json_schema);
  } catch (const std::exception& e) {
    throw ApiError(400, e.what(), "invalid_request_error", "response_format");
  }
  return job;
}

Outcome Completions::start(const std::string& body, Endpoint endpoint, const ExtraHeaders& extra) {
  Outcome out;
  try {
    CompletionRequest r = parse_request(body, endpoint, limits_);
    if (endpoint == Endpoint::chat && !r.reasoning_format_given) r.reasoning_format = reasoning_;
    std::shared_ptr<Job> job = make_job(r);
    ReplyHead head{endpoint, next_id(endpoint), static_cast<int64_t>(std::time(nullptr)), model_id_};
    // What the engine writes before the connection subscribes (start()) waits in the job: the
    // connection reads it right after subscribing.
    std::vector<std::string> warnings;
    ExtraHeaders headers = extra;
    if (r.max_tokens_requested > r.max_tokens) {
      warnings.push_back("'max_tokens' " + std::to_string(r.max_tokens_requested) + " is above this server's limit; clamped to " +
                         std::to_string(r.max_tokens) + " (the server's --max-tokens)");
      headers.emplace_back("X-Max-Tokens-Clamped", std::to_string(r.max_tokens));
    }
    auto reply = std::make_shared<CompletionReply>(job, std::move(head), r.stream, r.include_usage, std::move(headers),
                                                   std::move(warnings), r.wants_tool_calls(), r.reasoning_format);
    switch (scheduler_.submit(job)) {
      case Scheduler::Submitted::queued: out.source = std::move(reply); break;
      case Scheduler::Submitted::queue_full: throw error_for_status(429);
      case Scheduler::Submitted::shutting_down: throw ApiError(503, "the server is shutting down", "server_error");
    }
  } catch (const ApiError& e) {
    out.response = error_response(e, extra);
  }
  return out;
}

}  // namespace st::server
