// Anthropic's Messages API (POST /v1/messages, https://docs.anthropic.com/en/api/messages) over
// the server's own request shape: a body becomes a CompletionRequest (the chat template,
// scheduler and sampler of the OpenAI routes), the engine's output becomes a message object or
// its stream of server-sent events. Pure functions over JSON (no HTTP, no model), unit-tested
// in tests/server/anthropic_protocol_test.cpp.
#pragma once
#include <string>
#include <string_view>

#include "apps/server/protocol.h"

namespace st::server::anthropic {

struct Request {
  CompletionRequest completion;  // chat messages, with the system prompt first
  // A last assistant message ("prefill"): the reply continues this text (which it does not repeat).
  std::string prefill;
};

// Parses and checks a /v1/messages body; throws ApiError (400) whose param names the field
// ("messages[1].content[0].type"). tools / tool_choice become the OpenAI path's ToolSpecs and
// ToolChoice (auto, any -> required, tool -> named, none); tool_use blocks in assistant turns
// become the template's tool_calls, tool_result blocks in user turns its "tool" messages.
// Thinking blocks in assistant turns go to the template as reasoning_content; other block
// types (image, document, redacted_thinking) are refused. `thinking` sets the request's
// reasoning_format and the template's enable_thinking.
Request parse_request(std::string_view body, const Limits& limits);

// {"type": "error", "error": {"type": "invalid_request_error", "message": ...}}, the error type
// chosen by HTTP status as Anthropic's API does.
json error_body(const ApiError& e);

// The engine's finish ("stop" / "length") as a stop_reason: "end_turn", "stop_sequence" (when
// `stop_sequence` is the string that ended it), "tool_use" (the reply made calls and ended by
// itself) or "max_tokens".
std::string stop_reason(const std::string& finish_reason, const std::string& stop_sequence, bool tool_calls = false);

struct Head {
  std::string id;     // "msg_..."
  std::string model;  // as the client named it
};
// The whole reply: {"id", "type": "message", "role": "assistant", "content": [text block], ...}.
json message_json(const Head& h, const std::string& text, const std::string& stop_reason, const std::string& stop_sequence,
                  const Usage& u);
// The same with the content blocks given (text and tool_use blocks).
json message_json_blocks(const Head& h, const json& content, const std::string& stop_reason, const std::string& stop_sequence,
                  const Usage& u);
// {"type": "tool_use", "id", "name", "input"}.
json tool_use_block(const std::string& id, const std::string& name, const json& input);

// The streamed events, each "event: NAME\ndata: JSON\n\n".
std::string event(const json& data);  // NAME is data["type"]
json message_start(const Head& h, int64_t input_tokens);
json text_block_start(int index = 0);
json text_delta(const std::string& text, int index = 0);
json block_stop(int index = 0);
// A tool_use block opens with an empty input; its input JSON follows in input_json_delta pieces.
json tool_use_block_start(int index, const std::string& id, const std::string& name);
json input_json_delta(const std::string& partial_json, int index);
// A thinking block (extended thinking): {"type": "thinking", "thinking", "signature"}. The
// signature is empty: nothing here is encrypted or verified, the block is passed back as text.
json thinking_block(const std::string& thinking);
json thinking_block_start(int index);
json thinking_delta(const std::string& thinking, int index);
json message_delta(const std::string& stop_reason, const std::string& stop_sequence, const Usage& u);
json message_stop();

}  // namespace st::server::anthropic
