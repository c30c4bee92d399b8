#include "apps/server/anthropic_protocol.h"

#include <algorithm>
#include <initializer_list>
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
  for (const auto& item : block.items()) {
    const std::string& key = item.key();
    if (key == "type" || key == "text" || key == "cache_control" || is_empty_value(item.value())) continue;
    bad(p + "." + key, "unknown field '" + p + "." + key + "' in a text block; remove it from the request");
  }
  const auto text = block.find("text");
  if (text == block.end() || !text->is_string()) bad(p + ".text", "'" + p + ".text' must be a string");
  return text->get<std::string>();
}

std::string block_type(const json& block, const std::string& p) {
  if (!block.is_object()) bad(p, "'" + p + "' must be a content block object");
  const auto type = block.find("type");
  if (type == block.end() || !type->is_string()) bad(p + ".type", "'" + p + ".type' must be a string");
  return type->get<std::string>();
}

void only_fields(const json& block, const std::string& p, std::initializer_list<std::string_view> known) {
  for (const auto& item : block.items())
    if (std::find(known.begin(), known.end(), item.key()) == known.end() && !is_empty_value(item.value()))
      bad(p + "." + item.key(), "unknown field '" + p + "." + item.key() + "' in a " + block.value("type", "") + " block");
}

std::string string_in(const json& block, const char* key, const std::string& p) {
  const auto v = block.find(key);
  if (v == block.end() || !v->is_string() || v->get_ref<const std::string&>().empty())
    bad(p + "." + key, "'" + p + "." + key + "' must be a non-empty string");
  return v->get<std::string>();
}

// An assistant's tool_use block as the chat template's tool_calls entry (arguments an object).
json tool_use_call(const json& block, const std::string& p) {
  only_fields(block, p, {"type", "id", "name", "input", "cache_control"});
  const std::string id = string_in(block, "id", p);
  const std::string name = string_in(block, "name", p);
  const auto input = block.find("input");
  if (input == block.end() || !input->is_object()) bad(p + ".input", "'" + p + ".input' must be an object");
  return {{"type", "function"}, {"id", id}, {"function", {{"name", name}, {"arguments", *input}}}};
}

// A user's tool_result block as a "tool" message of the template; its content is a string or
// text blocks; is_error is said in the text, as the model sees it.
json tool_result_message(const json& block, const std::string& p);

// A thinking block passed back: its text (the signature is not checked: this server signs nothing).
std::string thinking_text(const json& block, const std::string& p) {
  only_fields(block, p, {"type", "thinking", "signature", "cache_control"});
  const auto t = block.find("thinking");
  if (t == block.end() || !t->is_string()) bad(p + ".thinking", "'" + p + ".thinking' must be a string");
  return t->get<std::string>();
}

// Content: a string, or an array of blocks. Text is joined; tool_use blocks (assistant) become
// `calls`, tool_result blocks (user) become `results` ("tool" messages).
struct Content {
  std::string text;
  std::string thinking;  // thinking blocks (assistant), for the template's reasoning_content
  json calls = json::array();
  json results = json::array();
};
Content read_content(const json& content, const std::string& p, bool assistant) {
  Content out;
  if (content.is_string()) {
    out.text = content.get<std::string>();
    return out;
  }
  if (!content.is_array()) bad(p, "'" + p + "' must be a string or an array of content blocks");
  for (size_t i = 0; i < content.size(); ++i) {
    const std::string q = p + "[" + std::to_string(i) + "]";
    const std::string t = block_type(content[i], q);
    if (t == "text") out.text += text_block(content[i], q);
    else if (t == "tool_use" && assistant) out.calls.push_back(tool_use_call(content[i], q));
    else if (t == "thinking" && assistant) out.thinking += thinking_text(content[i], q);
    else if (t == "tool_result" && !assistant) out.results.push_back(tool_result_message(content[i], q));
    else if (t == "tool_use" || t == "tool_result")
      bad(q + ".type", "'" + q + ".type': " + t + " blocks belong in " + (t == "tool_use" ? "assistant" : "user") + " messages");
    else not_supported(q + ".type", "\"" + t + "\" blocks; \"text\", \"thinking\", \"tool_use\" and \"tool_result\" are read");
  }
  return out;
}

json tool_result_message(const json& block, const std::string& p) {
  only_fields(block, p, {"type", "tool_use_id", "content", "is_error", "cache_control"});
  const std::string id = string_in(block, "tool_use_id", p);
  std::string text;
  if (const auto c = block.find("content"); c != block.end() && !c->is_null()) {
    const Content inner = read_content(*c, p + ".content", true);
    if (!inner.calls.empty()) bad(p + ".content", "'" + p + ".content' must hold text blocks");
    text = inner.text;
  }
  const auto err = block.find("is_error");
  if (err != block.end() && !err->is_null() && !err->is_boolean()) bad(p + ".is_error", "'" + p + ".is_error' must be true or false");
  if (err != block.end() && err->is_boolean() && err->get<bool>()) text = "Error: " + text;
  return {{"role", "tool"}, {"content", text}, {"tool_call_id", id}};
}

// Content as plain text (the system prompt): text blocks only.
std::string content_text(const json& content, const std::string& p) {
  const Content c = read_content(content, p, true);
  if (!c.calls.empty()) bad(p, "'" + p + "' must hold text blocks only");
  return c.text;
}

void parse_messages(const json& body, const Limits& limits, Request& out) {
  const auto it = body.find("messages");
  if (it == body.end() || !it->is_array() || it->empty()) bad("messages", "'messages' must be a non-empty array");
  if (it->size() > limits.max_messages)
    bad("messages", "too many messages (" + std::to_string(it->size()) + "; at most " + std::to_string(limits.max_messages) + ")");
  json for_template = json::array();
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
    const bool assistant = *role == "assistant";
    Content c = read_content(*content, p + ".content", assistant);
    const bool last = i + 1 == it->size();
    if (last && assistant && c.calls.empty()) {
      if (!c.thinking.empty())
        not_supported(p + ".content", "a thinking block in the prefill (a last assistant message); the reply cannot continue inside it");
      out.prefill = std::move(c.text);
      continue;
    }
    // Tool results come first in a user turn (the API requires it): "tool" messages, then the text.
    for (json& r : c.results) {
      out.completion.messages.push_back({"tool", r["content"].get<std::string>()});
      for_template.push_back(std::move(r));
    }
    if (!c.results.empty() && c.text.empty()) continue;
    json entry = {{"role", *role}, {"content", c.text}};
    if (!c.calls.empty()) entry["tool_calls"] = std::move(c.calls);
    if (!c.thinking.empty()) {
      entry["reasoning_content"] = c.thinking;
      out.completion.reasoning_history = true;
    }
    for_template.push_back(std::move(entry));
    out.completion.messages.push_back({role->get<std::string>(), std::move(c.text)});
    out.completion.tool_history = out.completion.tool_history || for_template.back().contains("tool_calls");
  }
  if (out.completion.messages.empty()) bad("messages", "'messages' needs a user message before the assistant's");
  for (const json& m : for_template) out.completion.tool_history = out.completion.tool_history || m["role"] == "tool";
  out.completion.messages_json = for_template.dump();
}

// tools: [{"name", "description", "input_schema"}] as the template's OpenAI-shaped tools and
// the constraint's ToolSpecs.
void parse_tools(const json& body, CompletionRequest& r) {
  const auto it = body.find("tools");
  if (it == body.end() || it->is_null()) return;
  if (!it->is_array()) bad("tools", "'tools' must be an array");
  json for_template = json::array();
  for (size_t i = 0; i < it->size(); ++i) {
    const json& t = (*it)[i];
    const std::string p = "tools[" + std::to_string(i) + "]";
    if (!t.is_object()) bad(p, "'" + p + "' must be an object");
    only_fields(t, p, {"type", "name", "description", "input_schema", "cache_control"});
    if (const auto ty = t.find("type"); ty != t.end() && !ty->is_null() && *ty != "custom")
      not_supported(p + ".type", "server tools; only client tools (\"custom\")");
    const std::string name = string_in(t, "name", p);
    for (const ToolSpec& s : r.tools)
      if (s.name == name) bad(p + ".name", "'" + p + ".name': two tools are named '" + name + "'");
    const auto schema = t.find("input_schema");
    if (schema == t.end() || !schema->is_object()) bad(p + ".input_schema", "'" + p + ".input_schema' must be a JSON Schema object");
    if (const auto ty = schema->find("type"); ty != schema->end() && *ty != "object")
      bad(p + ".input_schema.type", "'" + p + ".input_schema.type' must be \"object\"");
    const auto desc = t.find("description");
    if (desc != t.end() && !desc->is_null() && !desc->is_string()) bad(p + ".description", "'" + p + ".description' must be a string");
    json fn = {{"name", name}, {"parameters", *schema}};
    if (desc != t.end() && desc->is_string()) fn["description"] = *desc;
    for_template.push_back({{"type", "function"}, {"function", std::move(fn)}});
    r.tools.push_back({name, schema->dump()});
  }
  if (!for_template.empty()) r.tools_json = for_template.dump();
}

// tool_choice: {"type": "auto" | "any" | "tool" | "none", "name", "disable_parallel_tool_use"}.
void parse_tool_choice(const json& body, CompletionRequest& r) {
  const auto it = body.find("tool_choice");
  if (it == body.end() || it->is_null()) return;
  if (!it->is_object()) bad("tool_choice", "'tool_choice' must be an object");
  only_fields(*it, "tool_choice", {"type", "name", "disable_parallel_tool_use"});
  const std::string type = string_in(*it, "type", "tool_choice");
  if (type == "auto") r.tool_choice = ToolChoice::automatic;
  else if (type == "any") r.tool_choice = ToolChoice::required;
  else if (type == "none") r.tool_choice = ToolChoice::none;
  else if (type == "tool") {
    const std::string name = string_in(*it, "name", "tool_choice");
    const auto hit = std::find_if(r.tools.begin(), r.tools.end(), [&](const ToolSpec& t) { return t.name == name; });
    if (hit == r.tools.end()) bad("tool_choice.name", "'tool_choice.name' is '" + name + "', which is not one of the tools");
    r.tool_choice = ToolChoice::named;
    r.tool_choice_index = static_cast<size_t>(hit - r.tools.begin());
  } else {
    bad("tool_choice.type", "'tool_choice.type' must be \"auto\", \"any\", \"tool\" or \"none\"");
  }
  if (type != "none" && type != "auto" && r.tools.empty()) bad("tool_choice", "'tool_choice' asks for a tool but the request has no 'tools'");
  if (const auto d = it->find("disable_parallel_tool_use"); d != it->end() && !d->is_null()) {
    if (!d->is_boolean()) bad("tool_choice.disable_parallel_tool_use", "'tool_choice.disable_parallel_tool_use' must be true or false");
    r.parallel_tool_calls = !d->get<bool>();
  }
}

void parse_system(const json& body, CompletionRequest& r) {
  const auto it = body.find("system");
  if (it == body.end() || it->is_null()) return;
  std::string text = content_text(*it, "system");
  if (text.empty()) return;
  json for_template = json::parse(r.messages_json);
  for_template.insert(for_template.begin(), json{{"role", "system"}, {"content", text}});
  r.messages_json = for_template.dump();
  r.messages.insert(r.messages.begin(), {"system", std::move(text)});
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

// thinking: {"type": "enabled", "budget_tokens": N} splits <think>...</think> into thinking
// blocks and sets the template's enable_thinking; {"type": "disabled"} renders the prompt with
// enable_thinking false (Qwen3-style templates then close the thinking in the prompt) and keeps
// the text as generated. budget_tokens is checked as Anthropic checks it (>= 1024, below
// max_tokens); the README says what it bounds.
void parse_thinking(const json& body, CompletionRequest& r) {
  r.reasoning_format = ReasoningFormat::none;  // without `thinking`: the text as generated
  const auto it = body.find("thinking");
  if (it == body.end() || it->is_null()) return;
  if (!it->is_object()) bad("thinking", "'thinking' must be an object");
  const auto type = it->find("type");
  const std::string t = type != it->end() && type->is_string() ? type->get<std::string>() : "";
  if (t != "enabled" && t != "disabled") bad("thinking.type", "'thinking.type' must be \"enabled\" or \"disabled\"");
  for (const auto& item : it->items())
    if (item.key() != "type" && !(t == "enabled" && item.key() == "budget_tokens") && !item.value().is_null())
      bad("thinking." + item.key(), "unknown field 'thinking." + item.key() + "'");
  if (t == "disabled") {
    r.template_kwargs_json = R"({"enable_thinking":false})";
    return;
  }
  std::optional<int64_t> budget;
  try {
    budget = integer_field(*it, "budget_tokens", 1024, std::numeric_limits<int64_t>::max());
  } catch (const ApiError& e) {  // named by its path
    bad("thinking.budget_tokens", "'thinking." + std::string(e.what()).substr(1));
  }
  if (!budget) bad("thinking.budget_tokens", "'thinking.budget_tokens' is required (at least 1024)");
  if (*budget >= r.max_tokens_requested)
    bad("thinking.budget_tokens", "'thinking.budget_tokens' must be less than 'max_tokens'");
  r.reasoning_format = ReasoningFormat::deepseek;
  r.template_kwargs_json = R"({"enable_thinking":true})";
}

void check_fields(const json& body) {
  static constexpr std::string_view kKnown[] = {"model", "messages", "max_tokens", "system", "stop_sequences", "temperature",
                                                "top_k", "top_p", "stream", "metadata", "service_tier", "tools",
                                                "tool_choice"};
  for (const auto& item : body.items()) {
    const std::string& key = item.key();
    const json& value = item.value();
    if (value.is_null() || std::find(std::begin(kKnown), std::end(kKnown), key) != std::end(kKnown)) continue;
    if (key == "thinking") continue;  // parse_thinking
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
  parse_tools(body, r);
  parse_tool_choice(body, r);
  const auto max_tokens = integer_field(body, "max_tokens", 1, std::numeric_limits<int64_t>::max());
  if (!max_tokens) bad("max_tokens", "'max_tokens' is required");
  r.max_tokens_requested = *max_tokens;
  r.max_tokens = static_cast<int>(std::min<int64_t>(*max_tokens, limits.max_tokens_cap));
  parse_stop_sequences(body, limits, r);
  parse_sampling(body, r);
  parse_thinking(body, r);
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

std::string stop_reason(const std::string& finish_reason, const std::string& stop_sequence, bool tool_calls) {
  if (finish_reason == "length") return "max_tokens";
  if (tool_calls) return "tool_use";
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
  return message_json_blocks(h, json::array({{{"type", "text"}, {"text", text}}}), reason, stop_sequence, u);
}

json message_json_blocks(const Head& h, const json& content, const std::string& reason, const std::string& stop_sequence,
                  const Usage& u) {
  return {{"id", h.id},
          {"type", "message"},
          {"role", "assistant"},
          {"model", h.model},
          {"content", content},
          {"stop_reason", reason},
          {"stop_sequence", stop_sequence_json(stop_sequence)},
          {"usage", usage_json(u.prompt_tokens, u.completion_tokens)}};
}

json thinking_block(const std::string& thinking) { return {{"type", "thinking"}, {"thinking", thinking}, {"signature", ""}}; }

json thinking_block_start(int index) {
  return {{"type", "content_block_start"}, {"index", index}, {"content_block", thinking_block("")}};
}

json thinking_delta(const std::string& thinking, int index) {
  return {{"type", "content_block_delta"}, {"index", index}, {"delta", {{"type", "thinking_delta"}, {"thinking", thinking}}}};
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

json text_block_start(int index) {
  return {{"type", "content_block_start"}, {"index", index}, {"content_block", {{"type", "text"}, {"text", ""}}}};
}

json text_delta(const std::string& text, int index) {
  return {{"type", "content_block_delta"}, {"index", index}, {"delta", {{"type", "text_delta"}, {"text", text}}}};
}

json block_stop(int index) { return {{"type", "content_block_stop"}, {"index", index}}; }

json tool_use_block(const std::string& id, const std::string& name, const json& input) {
  return {{"type", "tool_use"}, {"id", id}, {"name", name}, {"input", input}};
}

json tool_use_block_start(int index, const std::string& id, const std::string& name) {
  return {{"type", "content_block_start"}, {"index", index}, {"content_block", tool_use_block(id, name, json::object())}};
}

json input_json_delta(const std::string& partial_json, int index) {
  return {{"type", "content_block_delta"}, {"index", index}, {"delta", {{"type", "input_json_delta"}, {"partial_json", partial_json}}}};
}

json message_delta(const std::string& reason, const std::string& stop_sequence, const Usage& u) {
  return {{"type", "message_delta"},
          {"delta", {{"stop_reason", reason}, {"stop_sequence", stop_sequence_json(stop_sequence)}}},
          {"usage", {{"output_tokens", u.completion_tokens}}}};
}

json message_stop() { return {{"type", "message_stop"}}; }

}  // namespace st::server::anthropic
