// Ollama's wire format (https://github.com/ollama/ollama/blob/main/docs/api.md) over the
// server's own request shape: /api/chat and /api/generate bodies become a CompletionRequest
// (so the scheduler, sampler, chat template and JSON-schema constraint are the OpenAI routes'
// own), and the engine's output becomes Ollama's NDJSON lines. Pure functions over JSON (no
// HTTP, no model), unit-tested in tests/server/ollama_protocol_test.cpp.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "apps/server/protocol.h"

namespace st::server::ollama {

// The Ollama release whose API these routes follow: GET /api/version reports it, because
// clients compare it to decide which fields they may send.
inline constexpr const char* kApiVersion = "0.12.0";

enum class Route { chat, generate };

struct Request {
  CompletionRequest completion;  // what the engine runs (chat messages, or a raw prompt)
  std::string model;             // as the client named it: replies echo it
  // No messages / no prompt: Ollama's "load the model" call, answered at once (done_reason "load").
  bool load_only = false;
  // options.num_ctx: the context window (prompt + reply) this request may use, at most the
  // slot's; 0 when not given (the slot's whole context).
  int64_t num_ctx = 0;
};

// Parses and checks an /api/chat or /api/generate body; throws ApiError (400) whose param names
// the field ("options.top_k", "messages[2].images", ...). Fields Ollama defines that have no
// meaning here are refused unless they ask for nothing (e.g. "images": []). Chat takes `tools`
// (OpenAI's shape; no tool_choice: automatic), assistant tool_calls and "tool" messages.
Request parse_request(std::string_view body, Route route, const Limits& limits);

// /api/show's body: {"model": ...} ("name" is the older spelling); returns the model name.
std::string parse_show_request(std::string_view body, const Limits& limits);

// Ollama's error body: {"error": "message"}.
json error_body(const ApiError& e);

// "2026-12-07T19:04:28.123456789Z": Ollama's created_at (RFC 3339, UTC, nanoseconds).
std::string timestamp(std::chrono::system_clock::time_point t);

// The counters of a finished reply, durations in nanoseconds as Ollama reports them.
struct Stats {
  int64_t prompt_eval_count = 0, eval_count = 0;
  int64_t total_duration = 0, load_duration = 0, prompt_eval_duration = 0, eval_duration = 0;
};

// One line of a reply: text generated so far (streamed: the new text; whole: all of it).
// `done_reason` empty: a line of a stream that is not the last. `tool_calls` (chat): the
// message's calls, an array of tool_call_json(). A non-empty `thinking` (think: true) is
// message.thinking (chat) or thinking (generate).
json reply_line(Route route, const std::string& model, const std::string& created_at, const std::string& text,
                const std::string& done_reason = {}, const Stats& stats = {}, const json& tool_calls = nullptr,
                const std::string& thinking = {});
// {"function": {"index", "name", "arguments": {...}}}: a call the reply made, its arguments'
// JSON text parsed (an object; {} when it was cut off).
json tool_call_json(int index, const std::string& name, const std::string& arguments);
// A JSON value and a newline: one line of an application/x-ndjson stream.
std::string ndjson(const json& line);

// What /api/tags, /api/show and /api/ps say about the served model.
struct ModelCard {
  std::string name;           // as listed ("smallthinker-nano:latest")
  std::string path;           // the GGUF file
  uint64_t size_bytes = 0;
  std::string modified_at;    // timestamp() of the file's modification time
  std::string digest;         // 64 hex digits identifying the file (not its sha256: see ollama_api.cpp)
  std::string architecture = "smallthinker";
  int64_t context_length = 0; // trained context
  int64_t embedding_length = 0;
  int block_count = 0, expert_count = 0, expert_used_count = 0;
  int64_t vocab_size = 0;
  std::string chat_template;  // the GGUF's (empty: none, ChatML is used)
  int64_t slot_ctx = 0;       // context of one server slot
};
json tags_json(const ModelCard& m);
json show_json(const ModelCard& m);
json ps_json(const ModelCard& m);

}  // namespace st::server::ollama
