// The OpenAI wire format of `smallthinker serve`: request parsing and validation, reply and
// stream-chunk bodies, error objects. Pure functions over strings and JSON (no HTTP, no
// model), so the libFuzzer target tests/fuzz/request_fuzz.cpp can drive them directly.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "apps/server/reasoning.h"
#include "smallthinker/engine.h"

namespace st::server {

using json = nlohmann::json;

// A reply with an OpenAI error object: {"error": {"message", "type", "param", "code"}}.
struct ApiError : std::runtime_error {
  int status;
  std::string type, param, code;
  ApiError(int status_, std::string message, std::string type_ = "invalid_request_error", std::string param_ = "",
           std::string code_ = "")
      : std::runtime_error(std::move(message)), status(status_), type(std::move(type_)), param(std::move(param_)),
        code(std::move(code_)) {}
};
json error_body(const ApiError& e);
// The error object for a bare HTTP status (unknown route, body too large, ...).
ApiError error_for_status(int status);

struct Limits {
  size_t max_body_bytes = 1 << 20;   // request body
  int max_tokens_cap = 4096;         // largest max_tokens a client may ask for
  int default_max_tokens = 512;      // when the request names none
  size_t max_messages = 1024;
  size_t max_stop_strings = 8;
  size_t max_stop_bytes = 256;       // per stop string
  int max_json_depth = 64;           // nesting of arrays and objects in the body (deeper: 400)
};

enum class Endpoint { chat, completion };

// A function the client offers (`tools[i]`, OpenAI's {"type": "function", "function": {...}}).
struct ToolSpec {
  std::string name;
  std::string parameters;  // its JSON Schema as JSON text; empty when the client gave none
};
enum class ToolChoice { automatic, none, required, named };

struct CompletionRequest {
  Endpoint endpoint = Endpoint::chat;
  std::string model;                 // empty when the client named none
  std::vector<smallthinker::ChatMessage> messages;  // chat
  std::string prompt;                // completion
  int max_tokens = 0;
  std::vector<std::string> stop;
  smallthinker::SamplingOptions sampling;
  bool stream = false;
  bool include_usage = false;        // stream_options.include_usage
  bool json_object = false;          // response_format {"type": "json_object"}
  std::string json_schema;           // response_format {"type": "json_schema", "json_schema": {"schema": ...}}
  // Log-probabilities: -1 none; else how many alternatives per token (chat logprobs +
  // top_logprobs, completions logprobs: N, llama.cpp's n_probs).
  int logprobs = -1;
  int64_t max_tokens_requested = 0; // > max_tokens when the request asked for more than the cap (clamped)
  // Tool calling (chat). messages_json: the messages as the chat template gets them (content
  // flattened to a string, tool_calls' arguments parsed to objects). A request with tools or a
  // conversation with tool calls or results (tool_history) renders them through the model's
  // template; the others keep the plain role + content path (`messages`).
  std::vector<ToolSpec> tools;
  std::string tools_json;            // the `tools` array as the template gets it (empty: none)
  std::string messages_json;
  bool tool_history = false;
  ToolChoice tool_choice = ToolChoice::automatic;
  size_t tool_choice_index = 0;      // named: which of `tools`
  bool parallel_tool_calls = true;
  // Thinking: how <think>...</think> in the reply is reported (chat; llama-server's
  // reasoning_format, default auto; the raw-prompt routes keep none), and extra variables for
  // the chat template (chat_template_kwargs, e.g. {"enable_thinking": false}; empty: none).
  ReasoningFormat reasoning_format = ReasoningFormat::automatic;
  bool reasoning_format_given = false;  // else the server's --reasoning-format applies
  std::string template_kwargs_json;
  bool reasoning_history = false;    // an assistant message has reasoning_content (for the template)
  // Whether the reply is parsed for <tool_call> blocks (tools offered and tool_choice not none).
  bool wants_tool_calls() const { return !tools.empty() && tool_choice != ToolChoice::none; }
};

// Request fields accepted but without effect (documented in the README's server section).
inline constexpr const char* kHarmlessFields[] = {"user", "metadata", "store", "service_tier", "cache_prompt"};
inline constexpr int kMaxTopLogprobs = 20;

// Typed fields of a request body (shared by the Ollama and Anthropic formats): absent or null ->
// nullopt; the wrong type or out of [lo, hi] -> ApiError 400 naming `key`. Booleans are not
// numbers; an integer may be written as a float with an integral value.
std::optional<double> number_field(const json& body, const char* key, double lo, double hi);
std::optional<int64_t> integer_field(const json& body, const char* key, int64_t lo, int64_t hi);
std::optional<bool> bool_field(const json& body, const char* key);

// A request body as a JSON object (size and nesting bounded); throws ApiError (400/413).
json parse_body(std::string_view body, const Limits& limits);
// Parses and validates a request body; throws ApiError (400) naming the offending field.
CompletionRequest parse_request(std::string_view body, Endpoint endpoint, const Limits& limits);

struct Usage {
  int64_t prompt_tokens = 0, completion_tokens = 0;
};

// What llama.cpp's server reports as "timings".
struct Timings {
  int64_t cache_n = 0;       // prompt tokens reused from the slot's cache
  int64_t prompt_n = 0;      // prompt tokens evaluated
  double prompt_ms = 0;
  int64_t predicted_n = 0;
  double predicted_ms = 0;
};
json usage_json(const Usage& u);
json timings_json(const Timings& t);

// Everything a reply or chunk shares.
struct ReplyHead {
  Endpoint endpoint = Endpoint::chat;
  std::string id;            // "chatcmpl-..." / "cmpl-..."
  int64_t created = 0;       // unix seconds
  std::string model;
};

// One generated token's log-probability and the most likely alternatives at its position.
struct TokenProb {
  int32_t id = -1;
  std::string piece;  // its bytes (possibly part of a UTF-8 character), or a control token's name
  double logprob = 0;
};
struct TokenLogprobs {
  TokenProb chosen;
  std::vector<TokenProb> top;
};
// OpenAI's shapes: chat {"content": [{token, logprob, bytes, top_logprobs: [...]}, ...]} (each
// entry also has llama-server's "id"); completions {tokens, token_logprobs, top_logprobs,
// text_offset}, offsets in characters from the start of the generated text, continuing from
// `text_offset` (updated).
json chat_logprobs_json(std::span<const TokenLogprobs> tokens);
json completion_logprobs_json(std::span<const TokenLogprobs> tokens, int64_t& text_offset);

// `logprobs` (null when not requested) and `warnings` (omitted when empty) go into the choice
// and the body as given.
// `tool_calls` (an array, or null for none) makes a chat message's "tool_calls", and then an
// empty `text` becomes "content": null. A non-empty `reasoning` is the message's
// "reasoning_content" (llama-server's and DeepSeek's name for the thinking).
json full_reply(const ReplyHead& h, const std::string& text, const std::string& finish_reason, const Usage& u,
                const Timings& t, const json& logprobs = nullptr, const std::vector<std::string>& warnings = {},
                const json& tool_calls = nullptr, const std::string& reasoning = "");
// A streamed piece of the thinking: delta.reasoning_content (+ the role on the first chunk).
json reasoning_chunk(const ReplyHead& h, const std::string& reasoning, bool first, const json& logprobs = nullptr);
// A streamed chat chunk whose delta holds `tool_calls` (an array of OpenAI's delta entries:
// {index, id, type, function: {name, arguments}} to open a call, {index, function: {arguments}}
// for more of its arguments).
json tool_calls_chunk(const ReplyHead& h, const json& tool_calls, bool first, const json& logprobs = nullptr);
// A streamed piece of text; `first` chat chunks also carry the assistant role.
json text_chunk(const ReplyHead& h, const std::string& text, bool first, const json& logprobs = nullptr);
// The last chunk with choices: empty delta/text and the finish reason (+ timings).
json final_chunk(const ReplyHead& h, const std::string& finish_reason, const Timings& t,
                 const std::vector<std::string>& warnings = {});
// stream_options.include_usage: the chunk after the final one, with no choices.
json usage_chunk(const ReplyHead& h, const Usage& u);
// "data: <json>\n\n"
std::string sse_event(const json& j);

// Holds back generated text that might be the start of a stop string, and cuts the output at
// the first stop string found (which is not emitted).
class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  // Adds generated text; returns the part that is now safe to send.
  std::string push(std::string_view text);
  // Generation ended: returns what was held back (nothing after a stop string).
  std::string finish();
  bool stopped() const { return stopped_; }
  const std::string& matched() const { return matched_; }  // the stop string found (once stopped)

 private:
  std::vector<std::string> stops_;
  std::string pending_;  // not yet sent
  std::string matched_;
  bool stopped_ = false;
};

}  // namespace st::server
