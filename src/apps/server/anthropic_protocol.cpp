#include "apps/server/anthropic_protocol.h"

#include <algorithm>
#include <limits>

#include "smallthinker/options_check.h"

namespace st::server::anthropic {
namespace {

[[noreturn]] void bad(const std::string& param, const std::string& message) {
  throw ApiError(400, message, "invalid_request_error", param, "invalid_value");
}

[[noreturn]] void not_supported(const std::string& param, const std::string& what) {
  throw ApiError(400, "'" + param + "' (" + what + ") is not supported by this server yet; remove it from the request",
                 "invalid_request_error", param, "unsupported_parameter");
}

bool is_empty_value(const json& v) {
  if (v.is_string()) return v.get_ref<const std::string&>().empty();
  return v.is_null() || (v.is_boolean() && !v.get<bool>()) || ((v.is_array() || v.is_object()) && v.empty());
}

// A text block: {"type": "text", "text": ...}; cache_control is accepted (the server reuses a
// slot's cached prefix by itself), citations only empty.
std::string text_block(const json& block, const std::string& p) {
  if (!block.is_object()) bad(p, "'" + p + "' must be a content block object");
  const auto type = block.find("type");
  if (type == block.end() || !type->is_string()) bad(p + ".type", "'" + p + ".type' must be a string");
  const std::string t = type->get<std::string>();
  if (t == "tool_use" || t == "tool_result") not_supported(p + ".type", "tool use");
  if (t != "text") not_supported(p + ".type", "\"" + t + "\" blocks; only \"text\" blocks are read");
  for (const auto& item : block.items()) {
    const std::string& key = item.key();
    if (key == "type" || key == "text" || key == "cache_control" || is_empty_value(item.value())) continue;
    bad(p + "." + key, "unknown field '" + p + "." + key + "' in a text block; remove it from the request");
  }
  const auto text = block.find("text");
  if (text == block.end() || !text->is_string()) bad(p + ".text", "'" + p + ".text' must be a string");
  return text->get<std::string>();
}

// Content: a string, or an array of text blocks (joined).
std::string content_text(const json& content, const std::string& p) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) bad(p, "'" + p + "' must be a string or an array of content blocks");
  std::string out;
  for (size_t i = 0; i < content.size(); ++i) out += text_block(content[i], p + "[" + std::to_string(i) + "]");
  return out;
}

void parse_messages(const json& body, const Limits& limits, Request& out) {
  const auto it = body.find("messages");
  if (it == body.end() || !it->is_array() || it->empty()) bad("messages", "'messages' must be a non-empty array");
  if (it->size() > limits.max_messages)
    bad("messages", "too many messages (" + std::to_string(it->size()) + "; at most " + std::to_string(limits.max_messages) + ")");
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    const std::string p = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) bad(p, "'" + p + "' must be an object");
    for (const auto& item : m.items())
      if (item.key() != "role" && item.key() != "content" && !item.value().is_null())
        bad(p + "." + item.key(), "unknown field '" + p + "." + item.key() + "': a message has 'role' and 'content'");
    const auto role = m.find("role");
    if (role == m.end() || !role->is_string() || (*role != "user" && *role != "assistant"))
      bad(p + ".role", "'" + p + ".role' must be \"user\" or \"assistant\" (the system prompt is the top-level 'system')");
    const auto content = m.find("content");
    if (content == m.end() || content->is_null()) bad(p + ".content", "'" + p + ".content' is required");
    std::string text = content_text(*content, p + ".content");
    const bool last = i + 1 == it->size();
    if (last && *role == "assistant") out.prefill = std::move(text);
    else out.completion.messages.push_back({role->get<std::string>(), std::move(text)});
  }
  if (out.completion.messages.empty()) bad("messages", "'messages' needs a user message before the assistant's");
}

void parse_system(const json& body, CompletionRequest& r) {
  const auto it = body.find("system");
  if (it == body.end() || it->is_null()) return;
  std::string text = content_text(*it, "system");
  if (!text.empty()) r.messages.insert(r.messages.begin(), {"system", std::move(text)});
}

void parse_stop_sequences(const json& body, const Limits& limits, CompletionRequest& r) {
  const auto it = body.find("stop_sequences");
  if (it == body.end() || it->is_null()) return;
  if (!it->is_array()) bad("stop_sequences", "'stop_sequences' must be an array of strings");
  if (it->size() > limits.max_stop_strings)
    bad("stop_sequences", "at most " + std::to_string(limits.max_stop_strings) + " stop sequences are allowed");
  for (const json& s : *it) {
    if (!s.is_string() || s.get_ref<const std::string&>().empty())
      bad("stop_sequences", "'stop_sequences' must be an array of non-empty strings");
    if (s.get_ref<const std::string&>().size() > limits.max_stop_bytes)
      bad("stop_sequences", "a stop sequence is longer than " + std::to_string(limits.max_stop_bytes) + " bytes");
    r.stop.push_back(s.get<std::string>());
  }
}

void parse_sampling(const json& body, CompletionRequest& r) {
  auto& s = r.sampling;
  if (auto v = number_field(body, "temperature", 0, 1)) s.temperature = static_cast<float>(*v);  // Anthropic's range
  if (auto v = number_field(body, "top_p", 0, 1)) s.top_p = static_cast<float>(*v);
  if (auto v = integer_field(body, "top_k", 1, std::numeric_limits<int32_t>::max())) s.top_k = static_cast<int>(*v);
  if (const auto p = smallthinker::check_sampling_options(s)) bad(p->field, "'" + p->field + "' " + p->message);
}

void check_fields(const json& body) {
  static constexpr std::string_view kKnown[] = {"model", "messages", "max_tokens", "system", "stop_sequences", "temperature",
                                                "top_k", "top_p", "stream", "metadata", "service_tier"};
  for (const auto& item : body.items()) {
    const std::string& key = item.key();
    const json& value = item.value();
    if (value.is_null() || std::find(std::begin(kKnown), std::end(kKnown), key) != std::end(kKnown)) continue;
    if (key == "tools" || key == "tool_choice") {
      if (!is_empty_value(value)) not_supported(key, "tool use");
      continue;
    }
    if (key == "thinking") {
      if (!(value.is_object() && value.value("type", "") == "disabled")) not_supported(key, "extended thinking; only {\"type\": \"disabled\"}");
      continue;
    }
    bad(key, "unknown field '" + key + "': this server does not support it; remove it from the request");
  }
  // metadata ({"user_id": ...}) and service_tier are accepted without effect, as OpenAI's `user`.
  if (const auto m = body.find("metadata"); m != body.end() && !m->is_null() && !m->is_object())
    bad("metadata", "'metadata' must be an object");
}

}  // namespace

Request parse_request(std::string_view body_text, const Limits& limits) {
  const json body = parse_body(body_text, limits);
  check_fields(body);
  Request out;
  CompletionRequest& r = out.completion;
  r.endpoint = Endpoint::chat;
  if (const auto it = body.find("model"); it != body.end() && !it->is_null()) {
    if (!it->is_string()) bad("model", "'model' must be a string");
    r.model = it->get<std::string>();
  }
  parse_messages(body, limits, out);
  parse_system(body, r);
  const auto max_tokens = integer_field(body, "max_tokens", 1, std::numeric_limits<int64_t>::max());
  if (!max_tokens) bad("max_tokens", "'max_tokens' is required");
  r.max_tokens_requested = *max_tokens;
  r.max_tokens = static_cast<int>(std::min<int64_t>(*max_tokens, limits.max_tokens_cap));
  parse_stop_sequences(body, limits, r);
  parse_sampling(body, r);
  r.stream = bool_field(body, "stream").value_or(false);
  return out;
}

json error_body(const ApiError& e) {
  const char* type = "api_error";
  switch (e.status) {
    case 400: case 405: case 415: type = "invalid_request_error"; break;
    case 401: type = "authentication_error"; break;
    case 403: type = "permission_error"; break;
    case 404: type = "not_found_error"; break;
    case 413: type = "request_too_large"; break;
    case 429: type = "rate_limit_error"; break;
    case 503: type = "overloaded_error"; break;
    default: break;
  }
  return {{"type", "error"}, {"error", {{"type", type}, {"message", e.what()}}}};
}

std::string stop_reason(const std::string& finish_reason, const std::string& stop_sequence) {
  if (finish_reason == "length") return "max_tokens";
  return stop_sequence.empty() ? "end_turn" : "stop_sequence";
}

namespace {

json stop_sequence_json(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

json usage_json(int64_t input, int64_t output) {
  return {{"input_tokens", input}, {"output_tokens", output}, {"cache_creation_input_tokens", 0}, {"cache_read_input_tokens", 0}};
}

}  // namespace

json message_json(const Head& h, const std::string& text, const std::string& reason, const std::string& stop_sequence,
                  const Usage& u) {
  return {{"id", h.id},
          {"type", "message"},
          {"role", "assistant"},
          {"model", h.model},
          {"content", json::array({{{"type", "text"}, {"text", text}}})},
          {"stop_reason", reason},
          {"stop_sequence", stop_sequence_json(stop_sequence)},
          {"usage", usage_json(u.prompt_tokens, u.completion_tokens)}};
}

std::string event(const json& data) {
  return "event: " + data.value("type", std::string("message")) + "\ndata: " +
         data.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

json message_start(const Head& h, int64_t input_tokens) {
  return {{"type", "message_start"},
          {"message",
           {{"id", h.id},
            {"type", "message"},
            {"role", "assistant"},
            {"model", h.model},
            {"content", json::array()},
            {"stop_reason", nullptr},
            {"stop_sequence", nullptr},
            {"usage", usage_json(input_tokens, 0)}}}};
}

json text_block_start() { return {{"type", "content_block_start"}, {"index", 0}, {"content_block", {{"type", "text"}, {"text", ""}}}}; }

json text_delta(const std::string& text) {
  return {{"type", "content_block_delta"}, {"index", 0}, {"delta", {{"type", "text_delta"}, {"text", text}}}};
}

json block_stop() { return {{"type", "content_block_stop"}, {"index", 0}}; }

json message_delta(const std::string& reason, const std::string& stop_sequence, const Usage& u) {
  return {{"type", "message_delta"},
          {"delta", {{"stop_reason", reason}, {"stop_sequence", stop_sequence_json(stop_sequence)}}},
          {"usage", {{"output_tokens", u.completion_tokens}}}};
}

json message_stop() { return {{"type", "message_stop"}}; }

}  // namespace st::server::anthropic
