#include "apps/server/protocol.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <string_view>

#include "smallthinker/options_check.h"
#include "text/json_bounded.h"

namespace st::server {
namespace {

[[noreturn]] void bad(const std::string& param, const std::string& message) {
  throw ApiError(400, message, "invalid_request_error", param, "invalid_value");
}

}  // namespace

// A number field within [lo, hi]; booleans are not numbers here (JSON true is not 1).
std::optional<double> number_field(const json& body, const char* key, double lo, double hi) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) bad(key, std::string("'") + key + "' must be a number");
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi)
    bad(key, std::string("'") + key + "' must be between " + json(lo).dump() + " and " + json(hi).dump());
  return v;
}

// An integer field within [lo, hi] (a float with an integral value counts).
std::optional<int64_t> integer_field(const json& body, const char* key, int64_t lo, int64_t hi) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  int64_t v = 0;
  if (it->is_number_unsigned()) {
    const uint64_t u = it->get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) v = std::numeric_limits<int64_t>::max();
    else v = static_cast<int64_t>(u);
  } else if (it->is_number_integer()) {
    v = it->get<int64_t>();
  } else if (it->is_number_float()) {
    const double d = it->get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9e15) bad(key, std::string("'") + key + "' must be an integer");
    v = static_cast<int64_t>(d);
  } else {
    bad(key, std::string("'") + key + "' must be an integer");
  }
  if (v < lo || v > hi)
    bad(key, std::string("'") + key + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return v;
}

std::optional<bool> bool_field(const json& body, const char* key) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) bad(key, std::string("'") + key + "' must be true or false");
  return it->get<bool>();
}

namespace {

// Message content: a string, or an array of {"type": "text", "text": "..."} parts.
std::string message_content(const json& content, const std::string& param) {
  if (content.is_null()) return "";
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) bad(param, "'" + param + "' must be a string or an array of text parts");
  std::string out;
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string p = param + "[" + std::to_string(i) + "]";
    if (!part.is_object()) bad(p, "'" + p + "' must be an object");
    const auto type = part.find("type");
    if (type == part.end() || !type->is_string() || type->get<std::string>() != "text")
      bad(p + ".type", "only text content parts are supported ('" + p + ".type' must be \"text\")");
    const auto text = part.find("text");
    if (text == part.end() || !text->is_string()) bad(p + ".text", "'" + p + ".text' must be a string");
    out += text->get<std::string>();
  }
  return out;
}

[[noreturn]] void not_supported(const std::string& param, const std::string& what) {
  throw ApiError(400, "'" + param + "' (" + what + ") is not supported yet by this server; remove it from the request",
                 "invalid_request_error", param, "unsupported_parameter");
}

// A value that means "nothing": null, false, "", [] or {}. Clients often send fields they do
// not use in these forms (an assistant message passed back with "tool_calls": []).
bool is_empty_value(const json& v) {
  // (json::empty() is false for every string: a string's length is asked of the string.)
  if (v.is_string()) return v.get_ref<const std::string&>().empty();
  return v.is_null() || (v.is_boolean() && !v.get<bool>()) || ((v.is_array() || v.is_object()) && v.empty());
}

// Keys of a message besides role and content: "name" goes to the template, tool_calls
// (assistant) and tool_call_id (tool) are checked by parse_tool_calls; anything else must be empty.
void check_message_fields(const json& m, const std::string& p, const std::string& role) {
  for (const auto& [key, value] : m.items()) {
    if (key == "role" || key == "content" || key == "name" || is_empty_value(value)) continue;
    if (key == "tool_calls" && role == "assistant") continue;
    if (key == "tool_call_id" && role == "tool") continue;
    if (key == "reasoning_content" && role == "assistant") continue;  // the template decides (Qwen3 keeps the last turn's)
    if (key == "function_call") not_supported(p + "." + key, "the legacy function_call; send tool_calls");
    bad(p + "." + key, "unknown field '" + p + "." + key + "': this server does not support it; remove it from the request");
  }
}

// An assistant message's tool_calls as the template gets them: OpenAI sends the arguments as a
// JSON string, chat templates (Qwen's `tool_call.arguments | tojson`) expect the object.
json template_tool_calls(const json& calls, const std::string& p) {
  if (!calls.is_array()) bad(p, "'" + p + "' must be an array");
  json out = json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    const json& c = calls[i];
    const std::string q = p + "[" + std::to_string(i) + "]";
    if (!c.is_object()) bad(q, "'" + q + "' must be an object");
    const auto type = c.find("type");
    if (type != c.end() && !type->is_null() && *type != "function") bad(q + ".type", "'" + q + ".type' must be \"function\"");
    const auto fn = c.find("function");
    if (fn == c.end() || !fn->is_object()) bad(q + ".function", "'" + q + ".function' must be an object");
    const auto name = fn->find("name");
    if (name == fn->end() || !name->is_string() || name->get_ref<const std::string&>().empty())
      bad(q + ".function.name", "'" + q + ".function.name' must be a non-empty string");
    json args = json::object();
    if (const auto a = fn->find("arguments"); a != fn->end() && !a->is_null()) {
      if (a->is_string()) {
        args = json::parse(a->get<std::string>(), nullptr, false);
        if (args.is_discarded()) bad(q + ".function.arguments", "'" + q + ".function.arguments' is not valid JSON");
      } else if (a->is_object()) {
        args = *a;
      } else {
        bad(q + ".function.arguments", "'" + q + ".function.arguments' must be a string of JSON");
      }
    }
    json entry = {{"type", "function"}, {"function", {{"name", *name}, {"arguments", std::move(args)}}}};
    if (const auto id = c.find("id"); id != c.end() && !id->is_null()) {
      if (!id->is_string()) bad(q + ".id", "'" + q + ".id' must be a string");
      entry["id"] = *id;
    }
    out.push_back(std::move(entry));
  }
  return out;
}

// The message as the chat template gets it.
json template_message(const json& m, const std::string& p, const std::string& role, const std::string& content) {
  json out = {{"role", role}, {"content", content}};
  if (const auto name = m.find("name"); name != m.end() && !is_empty_value(*name)) {
    if (!name->is_string()) bad(p + ".name", "'" + p + ".name' must be a string");
    out["name"] = *name;
  }
  if (const auto calls = m.find("tool_calls"); calls != m.end() && !is_empty_value(*calls))
    out["tool_calls"] = template_tool_calls(*calls, p + ".tool_calls");
  if (const auto id = m.find("tool_call_id"); id != m.end() && !id->is_null()) {
    if (!id->is_string()) bad(p + ".tool_call_id", "'" + p + ".tool_call_id' must be a string");
    out["tool_call_id"] = *id;
  }
  if (const auto rc = m.find("reasoning_content"); rc != m.end() && !is_empty_value(*rc)) {
    if (!rc->is_string()) bad(p + ".reasoning_content", "'" + p + ".reasoning_content' must be a string");
    out["reasoning_content"] = *rc;
  }
  return out;
}

void parse_messages(const json& body, const Limits& limits, CompletionRequest& r) {
  const auto it = body.find("messages");
  if (it == body.end()) bad("messages", "'messages' is required");
  if (!it->is_array() || it->empty()) bad("messages", "'messages' must be a non-empty array");
  if (it->size() > limits.max_messages)
    bad("messages", "too many messages (" + std::to_string(it->size()) + "; at most " + std::to_string(limits.max_messages) + ")");
  json for_template = json::array();
  bool tool_history = false;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    const std::string p = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) bad(p, "'" + p + "' must be an object");
    const auto role = m.find("role");
    if (role == m.end() || !role->is_string()) bad(p + ".role", "'" + p + ".role' must be a string");
    std::string r_name = role->get<std::string>();
    if (r_name == "developer") r_name = "system";  // OpenAI's newer name for system
    if (r_name != "system" && r_name != "user" && r_name != "assistant" && r_name != "tool")
      bad(p + ".role", "'" + p + ".role' must be \"system\", \"user\", \"assistant\" or \"tool\"");
    check_message_fields(m, p, r_name);
    const auto content = m.find("content");
    if (content == m.end() && r_name != "assistant") bad(p + ".content", "'" + p + ".content' is required");
    std::string text = content == m.end() ? "" : message_content(*content, p + ".content");
    for_template.push_back(template_message(m, p, r_name, text));
    tool_history = tool_history || r_name == "tool" || for_template.back().contains("tool_calls");
    r.reasoning_history = r.reasoning_history || for_template.back().contains("reasoning_content");
    r.messages.push_back({r_name, std::move(text)});
  }
  r.messages_json = for_template.dump();
  r.tool_history = tool_history;
}

void parse_prompt(const json& body, CompletionRequest& r) {
  const auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) bad("prompt", "'prompt' is required");
  if (it->is_string()) {
    r.prompt = it->get<std::string>();
  } else if (it->is_array() && it->size() == 1 && (*it)[0].is_string()) {
    r.prompt = (*it)[0].get<std::string>();
  } else {
    bad("prompt", "'prompt' must be a string (or an array of one string)");
  }
}

void parse_stop(const json& body, const Limits& limits, CompletionRequest& r) {
  const auto it = body.find("stop");
  if (it == body.end() || it->is_null()) return;
  std::vector<json> items;
  if (it->is_string()) items.push_back(*it);
  else if (it->is_array()) items.assign(it->begin(), it->end());
  else bad("stop", "'stop' must be a string or an array of strings");
  if (items.size() > limits.max_stop_strings)
    bad("stop", "at most " + std::to_string(limits.max_stop_strings) + " stop strings are allowed");
  for (const json& s : items) {
    if (!s.is_string()) bad("stop", "'stop' must be a string or an array of strings");
    std::string v = s.get<std::string>();
    if (v.size() > limits.max_stop_bytes)
      bad("stop", "a stop string is longer than " + std::to_string(limits.max_stop_bytes) + " bytes");
    if (!v.empty()) r.stop.push_back(std::move(v));
  }
}

// Types here; ranges in the check the CLI and the library share (smallthinker/options_check.h).
void parse_sampling(const json& body, CompletionRequest& r) {
  auto& s = r.sampling;
  constexpr double kAny = 1e30;  // float-representable; the shared check bounds each field
  if (auto v = number_field(body, "temperature", -kAny, kAny)) s.temperature = static_cast<float>(*v);
  if (auto v = number_field(body, "top_p", -kAny, kAny)) s.top_p = static_cast<float>(*v);
  if (auto v = integer_field(body, "top_k", std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max())) s.top_k = static_cast<int>(*v);
  if (auto v = number_field(body, "min_p", -kAny, kAny)) s.min_p = static_cast<float>(*v);
  if (auto v = number_field(body, "presence_penalty", -kAny, kAny)) s.presence_penalty = static_cast<float>(*v);
  if (auto v = number_field(body, "frequency_penalty", -kAny, kAny)) s.frequency_penalty = static_cast<float>(*v);
  if (auto v = number_field(body, "repeat_penalty", -kAny, kAny)) s.repeat_penalty = static_cast<float>(*v);
  if (const auto p = smallthinker::check_sampling_options(s)) bad(p->field, "'" + p->field + "' " + p->message);
  // Negative seeds mean "random", as llama.cpp's -1.
  if (auto v = integer_field(body, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()))
    s.seed = *v < 0 ? UINT64_MAX : static_cast<uint64_t>(*v);
}

constexpr std::string_view kCommonFields[] = {
    "model", "max_tokens", "max_completion_tokens", "n", "stop", "temperature", "top_p", "top_k", "min_p",
    "presence_penalty", "frequency_penalty", "repeat_penalty", "seed", "stream", "stream_options",
    "response_format", "logprobs", "n_probs"};
constexpr std::string_view kChatFields[] = {"messages", "top_logprobs", "tools", "tool_choice", "parallel_tool_calls",
                                            "reasoning_format", "chat_template_kwargs"};
constexpr std::string_view kCompletionFields[] = {"prompt"};

template <size_t N>
bool listed(const std::string_view (&list)[N], std::string_view key) {
  return std::find(std::begin(list), std::end(list), key) != std::end(list);
}

// Every field of the body is honoured (parsed elsewhere), harmless, or a 400 naming it. A field
// whose value is null counts as absent. Fields of features still to come (tools, grammars, logit
// bias, echo, suffix, best_of) are accepted only in the form that asks for nothing.
void check_fields(const json& body, Endpoint endpoint) {
  for (const auto& item : body.items()) {
    // Named, not structured bindings: clang 14 cannot capture those in the lambda below.
    const std::string& key = item.key();
    const json& value = item.value();
    if (value.is_null() || listed(kCommonFields, key)) continue;
    if (std::find_if(std::begin(kHarmlessFields), std::end(kHarmlessFields), [&](const char* h) { return key == h; }) !=
        std::end(kHarmlessFields))
      continue;
    if (endpoint == Endpoint::chat ? listed(kChatFields, key) : listed(kCompletionFields, key)) continue;
    if (key == "grammar") {
      if (!is_empty_value(value)) not_supported(key, "GBNF grammars");
    } else if (key == "logit_bias") {
      if (!value.is_object()) bad(key, "'logit_bias' must be an object");
      if (!value.empty()) not_supported(key, "logit bias");
    } else if (endpoint == Endpoint::completion && key == "echo") {
      if (!is_empty_value(value)) not_supported(key, "echoing the prompt");
    } else if (endpoint == Endpoint::completion && key == "suffix") {
      if (!is_empty_value(value)) not_supported(key, "insertion after a suffix");
    } else if (endpoint == Endpoint::completion && key == "best_of") {
      if (!(value.is_number_integer() && value.get<int64_t>() == 1)) not_supported(key, "best_of other than 1");
    } else {
      bad(key, "unknown field '" + key + "': this server does not support it; remove it from the request");
    }
  }
}

// A function name as OpenAI allows it: 1-64 of a-z A-Z 0-9 _ - (and '.', which some clients use).
bool valid_tool_name(const std::string& n) {
  return !n.empty() && n.size() <= 64 && std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

ToolSpec parse_tool(const json& t, const std::string& p) {
  if (!t.is_object()) bad(p, "'" + p + "' must be an object");
  const auto type = t.find("type");
  if (type == t.end() || *type != "function") bad(p + ".type", "'" + p + ".type' must be \"function\"");
  const auto fn = t.find("function");
  if (fn == t.end() || !fn->is_object()) bad(p + ".function", "'" + p + ".function' must be an object");
  for (const auto& item : t.items())
    if (item.key() != "type" && item.key() != "function" && !item.value().is_null())
      bad(p + "." + item.key(), "unknown field '" + p + "." + item.key() + "'");
  ToolSpec spec;
  const auto name = fn->find("name");
  if (name == fn->end() || !name->is_string() || !valid_tool_name(name->get<std::string>()))
    bad(p + ".function.name", "'" + p + ".function.name' is required: 1 to 64 letters, digits, '_', '-' or '.'");
  spec.name = name->get<std::string>();
  for (const auto& item : fn->items()) {
    const std::string& key = item.key();
    const json& v = item.value();
    const std::string q = p + ".function." + key;
    if (key == "name" || v.is_null()) continue;
    if (key == "description" && !v.is_string()) bad(q, "'" + q + "' must be a string");
    else if (key == "strict" && !v.is_boolean()) bad(q, "'" + q + "' must be true or false");
    else if (key == "parameters") {
      if (!v.is_object()) bad(q, "'" + q + "' must be a JSON Schema object");
      if (const auto ty = v.find("type"); ty != v.end() && *ty != "object")
        bad(q + ".type", "'" + q + ".type' must be \"object\" (the arguments are an object)");
      spec.parameters = v.dump();
    } else if (key != "description" && key != "strict") {
      bad(q, "unknown field '" + q + "'");
    }
  }
  return spec;
}

void parse_tool_choice(const json& v, CompletionRequest& r) {
  if (v.is_string()) {
    const std::string c = v.get<std::string>();
    if (c == "auto") r.tool_choice = ToolChoice::automatic;
    else if (c == "none") r.tool_choice = ToolChoice::none;
    else if (c == "required") r.tool_choice = ToolChoice::required;
    else bad("tool_choice", "'tool_choice' must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}");
  } else if (v.is_object()) {
    const auto type = v.find("type");
    if (type == v.end() || *type != "function") bad("tool_choice.type", "'tool_choice.type' must be \"function\"");
    const auto fn = v.find("function");
    if (fn == v.end() || !fn->is_object() || !fn->contains("name") || !(*fn)["name"].is_string())
      bad("tool_choice.function.name", "'tool_choice.function.name' must name one of the tools");
    const std::string name = (*fn)["name"].get<std::string>();
    const auto hit = std::find_if(r.tools.begin(), r.tools.end(), [&](const ToolSpec& t) { return t.name == name; });
    if (hit == r.tools.end())
      bad("tool_choice.function.name", "'tool_choice.function.name' is '" + name + "', which is not one of the tools");
    r.tool_choice = ToolChoice::named;
    r.tool_choice_index = static_cast<size_t>(hit - r.tools.begin());
  } else {
    bad("tool_choice", "'tool_choice' must be a string or an object");
  }
  if ((r.tool_choice == ToolChoice::required) && r.tools.empty())
    bad("tool_choice", "'tool_choice' is \"required\" but the request has no 'tools'");
}

// tools, tool_choice, parallel_tool_calls (chat).
void parse_tools(const json& body, CompletionRequest& r) {
  if (const auto it = body.find("tools"); it != body.end() && !it->is_null()) {
    if (!it->is_array()) bad("tools", "'tools' must be an array");
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string p = "tools[" + std::to_string(i) + "]";
      ToolSpec spec = parse_tool((*it)[i], p);
      for (const ToolSpec& t : r.tools)
        if (t.name == spec.name) bad(p + ".function.name", "'" + p + ".function.name': two tools are named '" + spec.name + "'");
      r.tools.push_back(std::move(spec));
    }
    if (!it->empty()) r.tools_json = it->dump();
  }
  if (const auto it = body.find("tool_choice"); it != body.end() && !it->is_null()) parse_tool_choice(*it, r);
  r.parallel_tool_calls = bool_field(body, "parallel_tool_calls").value_or(true);
  if (r.wants_tool_calls() && (r.json_object || !r.json_schema.empty()))
    bad("response_format", "'response_format' cannot be combined with 'tools' (unless 'tool_choice' is \"none\")");
}

// reasoning_format and chat_template_kwargs (chat), as llama-server takes them.
void parse_thinking(const json& body, CompletionRequest& r) {
  if (const auto it = body.find("reasoning_format"); it != body.end() && !it->is_null()) {
    const auto f = it->is_string() ? parse_reasoning_format(it->get<std::string>()) : std::nullopt;
    if (!f) bad("reasoning_format", "'reasoning_format' must be \"none\", \"deepseek\", \"deepseek-legacy\" or \"auto\"");
    r.reasoning_format = *f;
    r.reasoning_format_given = true;
  }
  if (const auto it = body.find("chat_template_kwargs"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) bad("chat_template_kwargs", "'chat_template_kwargs' must be an object of template variables");
    if (!it->empty()) r.template_kwargs_json = it->dump();
  }
}

// chat: logprobs (bool) + top_logprobs; completions: logprobs (an integer); both: llama.cpp's
// n_probs, which asks for that many alternatives (and the chosen token's log-probability).
void parse_logprobs(const json& body, CompletionRequest& r) {
  if (r.endpoint == Endpoint::chat) {
    const bool on = bool_field(body, "logprobs").value_or(false);
    const auto top = integer_field(body, "top_logprobs", 0, kMaxTopLogprobs);
    if (top && !on) bad("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    if (on) r.logprobs = static_cast<int>(top.value_or(0));
  } else if (auto n = integer_field(body, "logprobs", 0, kMaxTopLogprobs)) {
    r.logprobs = static_cast<int>(*n);
  }
  if (auto n = integer_field(body, "n_probs", 0, kMaxTopLogprobs); n && *n > 0) r.logprobs = std::max(r.logprobs, static_cast<int>(*n));
}

// The depth is bounded while parsing (text/json_bounded.h says why); too deep is a 400.
json parse_bounded(std::string_view text, int max_depth) {
  try {
    return st::parse_json_bounded<json>(text, "the request body", max_depth);
  } catch (const st::JsonTooDeep& e) {
    throw ApiError(400, e.what(), "invalid_request_error", "", "json_too_deep");
  }
}

}  // namespace

json error_body(const ApiError& e) {
  return {{"error",
           {{"message", e.what()},
            {"type", e.type},
            {"param", e.param.empty() ? json(nullptr) : json(e.param)},
            {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
}

ApiError error_for_status(int status) {
  switch (status) {
    case 400: return ApiError(400, "bad request", "invalid_request_error");
    case 401: return ApiError(401, "missing or wrong API key (send 'Authorization: Bearer KEY')", "invalid_request_error", "", "invalid_api_key");
    case 404: return ApiError(404, "no such endpoint", "invalid_request_error", "", "not_found");
    case 405: return ApiError(405, "method not allowed", "invalid_request_error");
    case 413: return ApiError(413, "request body too large", "invalid_request_error", "", "request_too_large");
    case 429: return ApiError(429, "too many requests are waiting; retry later", "rate_limit_error", "", "rate_limit_exceeded");
    case 503: return ApiError(503, "the server is unavailable", "server_error");
    default: return ApiError(status, status >= 500 ? "internal server error" : "request failed",
                             status >= 500 ? "server_error" : "invalid_request_error");
  }
}

json parse_body(std::string_view body_text, const Limits& limits) {
  if (body_text.size() > limits.max_body_bytes)
    throw ApiError(413, "request body of " + std::to_string(body_text.size()) + " bytes exceeds the limit of " +
                            std::to_string(limits.max_body_bytes), "invalid_request_error", "", "request_too_large");
  json body = parse_bounded(body_text, limits.max_json_depth);
  if (body.is_discarded()) throw ApiError(400, "the request body is not valid JSON", "invalid_request_error", "", "invalid_json");
  if (!body.is_object()) throw ApiError(400, "the request body must be a JSON object", "invalid_request_error", "", "invalid_json");
  return body;
}

CompletionRequest parse_request(std::string_view body_text, Endpoint endpoint, const Limits& limits) {
  const json body = parse_body(body_text, limits);

  CompletionRequest r;
  r.endpoint = endpoint;
  check_fields(body, endpoint);
  if (const auto it = body.find("model"); it != body.end() && !it->is_null()) {
    if (!it->is_string()) bad("model", "'model' must be a string");
    r.model = it->get<std::string>();
  }
  if (endpoint == Endpoint::chat) parse_messages(body, limits, r);
  else parse_prompt(body, r);

  std::optional<int64_t> max_tokens = integer_field(body, "max_tokens", 1, std::numeric_limits<int64_t>::max());
  if (!max_tokens) max_tokens = integer_field(body, "max_completion_tokens", 1, std::numeric_limits<int64_t>::max());
  // Above the cap: clamped, and the reply says so (CompletionRequest::max_tokens_requested).
  if (max_tokens) r.max_tokens_requested = *max_tokens;
  r.max_tokens = max_tokens ? static_cast<int>(std::min<int64_t>(*max_tokens, limits.max_tokens_cap))
                            : std::min(limits.default_max_tokens, limits.max_tokens_cap);
  if (auto n = integer_field(body, "n", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()); n && *n != 1)
    bad("n", "only n = 1 is supported");

  parse_stop(body, limits, r);
  parse_sampling(body, r);
  parse_logprobs(body, r);
  r.stream = bool_field(body, "stream").value_or(false);
  if (const auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) bad("stream_options", "'stream_options' must be an object");
    r.include_usage = bool_field(*it, "include_usage").value_or(false);
    for (const auto& [key, value] : it->items())
      if (key != "include_usage" && !value.is_null())
        bad("stream_options." + key, "unknown field 'stream_options." + key + "': only 'include_usage' is supported");
  }
  if (const auto it = body.find("response_format"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) bad("response_format", "'response_format' must be an object");
    const auto type = it->find("type");
    if (type == it->end() || !type->is_string()) bad("response_format.type", "'response_format.type' must be a string");
    const std::string t = type->get<std::string>();
    if (t == "json_object") {
      r.json_object = true;
    } else if (t == "json_schema") {
      const auto js = it->find("json_schema");
      if (js == it->end() || !js->is_object()) bad("response_format.json_schema", "'response_format.json_schema' must be an object");
      const auto schema = js->find("schema");
      if (schema == js->end() || !schema->is_object())
        bad("response_format.json_schema.schema", "'response_format.json_schema.schema' must be a JSON Schema object");
      r.json_schema = schema->dump();
    } else if (t != "text") {
      bad("response_format.type", "'response_format.type' must be \"text\", \"json_object\" or \"json_schema\"");
    }
  }
  if (endpoint == Endpoint::chat) {
    parse_tools(body, r);
    parse_thinking(body, r);
  } else {
    r.reasoning_format = ReasoningFormat::none;  // a raw prompt: the text as generated
  }
  return r;
}

json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

json timings_json(const Timings& t) {
  auto per_token_ms = [](double ms, int64_t n) { return n > 0 ? ms / static_cast<double>(n) : 0.0; };
  auto per_second = [](double ms, int64_t n) { return ms > 0 ? 1e3 * static_cast<double>(n) / ms : 0.0; };
  return {{"cache_n", t.cache_n},
          {"prompt_n", t.prompt_n},
          {"prompt_ms", t.prompt_ms},
          {"prompt_per_token_ms", per_token_ms(t.prompt_ms, t.prompt_n)},
          {"prompt_per_second", per_second(t.prompt_ms, t.prompt_n)},
          {"predicted_n", t.predicted_n},
          {"predicted_ms", t.predicted_ms},
          {"predicted_per_token_ms", per_token_ms(t.predicted_ms, t.predicted_n)},
          {"predicted_per_second", per_second(t.predicted_ms, t.predicted_n)}};
}

namespace {

json head_json(const ReplyHead& h, bool chunk) {
  const char* object = h.endpoint == Endpoint::chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion";
  return {{"id", h.id}, {"object", object}, {"created", h.created}, {"model", h.model}, {"system_fingerprint", "smallthinker"}};
}

json finish_json(const std::string& reason) { return reason.empty() ? json(nullptr) : json(reason); }

}  // namespace

namespace {

// A log-probability as JSON: -inf (a token that could not be drawn) has no JSON form, so it is
// reported as -9999, OpenAI's floor.
json logprob_json(double lp) { return std::isfinite(lp) ? lp : -9999.0; }

json bytes_json(const std::string& piece) {
  json b = json::array();
  for (unsigned char c : piece) b.push_back(c);
  return b;
}

// Characters (UTF-8 lead bytes) in a piece: a continuation byte adds nothing to the offset.
int64_t char_count(const std::string& piece) {
  return std::count_if(piece.begin(), piece.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
}

}  // namespace

json chat_logprobs_json(std::span<const TokenLogprobs> tokens) {
  json content = json::array();
  for (const TokenLogprobs& t : tokens) {
    json top = json::array();
    for (const TokenProb& p : t.top)
      top.push_back({{"id", p.id}, {"token", p.piece}, {"logprob", logprob_json(p.logprob)}, {"bytes", bytes_json(p.piece)}});
    content.push_back({{"id", t.chosen.id},
                       {"token", t.chosen.piece},
                       {"logprob", logprob_json(t.chosen.logprob)},
                       {"bytes", bytes_json(t.chosen.piece)},
                       {"top_logprobs", std::move(top)}});
  }
  return {{"content", std::move(content)}, {"refusal", nullptr}};
}

json completion_logprobs_json(std::span<const TokenLogprobs> tokens, int64_t& text_offset) {
  json out = {{"tokens", json::array()}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()},
              {"text_offset", json::array()}};
  for (const TokenLogprobs& t : tokens) {
    out["tokens"].push_back(t.chosen.piece);
    out["token_logprobs"].push_back(logprob_json(t.chosen.logprob));
    json top = json::object();
    for (const TokenProb& p : t.top)
      if (!top.contains(p.piece)) top[p.piece] = logprob_json(p.logprob);  // two ids may print alike
    out["top_logprobs"].push_back(std::move(top));
    out["text_offset"].push_back(text_offset);
    text_offset += char_count(t.chosen.piece);
  }
  return out;
}

json full_reply(const ReplyHead& h, const std::string& text, const std::string& finish_reason, const Usage& u,
                const Timings& t, const json& logprobs, const std::vector<std::string>& warnings, const json& tool_calls,
                const std::string& reasoning) {
  json j = head_json(h, false);
  json choice = {{"index", 0}, {"finish_reason", finish_json(finish_reason)}, {"logprobs", logprobs}};
  if (h.endpoint == Endpoint::chat) {
    const bool calls = tool_calls.is_array() && !tool_calls.empty();
    choice["message"] = {{"role", "assistant"}, {"content", calls && text.empty() ? json(nullptr) : json(text)}};
    if (calls) choice["message"]["tool_calls"] = tool_calls;
    if (!reasoning.empty()) choice["message"]["reasoning_content"] = reasoning;
  } else {
    choice["text"] = text;
  }
  j["choices"] = json::array({choice});
  j["usage"] = usage_json(u);
  j["timings"] = timings_json(t);
  if (!warnings.empty()) j["warnings"] = warnings;
  return j;
}

json text_chunk(const ReplyHead& h, const std::string& text, bool first, const json& logprobs) {
  json j = head_json(h, true);
  json choice = {{"index", 0}, {"finish_reason", nullptr}, {"logprobs", logprobs}};
  if (h.endpoint == Endpoint::chat) {
    choice["delta"] = first ? json{{"role", "assistant"}, {"content", text}} : json{{"content", text}};
  } else {
    choice["text"] = text;
  }
  j["choices"] = json::array({choice});
  return j;
}

json reasoning_chunk(const ReplyHead& h, const std::string& reasoning, bool first, const json& logprobs) {
  json j = head_json(h, true);
  json delta = {{"reasoning_content", reasoning}};
  if (first) delta["role"] = "assistant";
  j["choices"] = json::array({{{"index", 0}, {"finish_reason", nullptr}, {"logprobs", logprobs}, {"delta", std::move(delta)}}});
  return j;
}

json tool_calls_chunk(const ReplyHead& h, const json& tool_calls, bool first, const json& logprobs) {
  json j = head_json(h, true);
  json delta = {{"tool_calls", tool_calls}};
  if (first) delta["role"] = "assistant";
  j["choices"] = json::array({{{"index", 0}, {"finish_reason", nullptr}, {"logprobs", logprobs}, {"delta", std::move(delta)}}});
  return j;
}

json final_chunk(const ReplyHead& h, const std::string& finish_reason, const Timings& t,
                 const std::vector<std::string>& warnings) {
  json j = head_json(h, true);
  json choice = {{"index", 0}, {"finish_reason", finish_json(finish_reason)}, {"logprobs", nullptr}};
  if (h.endpoint == Endpoint::chat) choice["delta"] = json::object();
  else choice["text"] = "";
  j["choices"] = json::array({choice});
  j["timings"] = timings_json(t);
  if (!warnings.empty()) j["warnings"] = warnings;
  return j;
}

json usage_chunk(const ReplyHead& h, const Usage& u) {
  json j = head_json(h, true);
  j["choices"] = json::array();
  j["usage"] = usage_json(u);
  return j;
}

std::string sse_event(const json& j) {
  // Invalid UTF-8 cannot come from the streamer, but replace rather than throw if it ever does.
  return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

std::string StopMatcher::push(std::string_view text) {
  if (stopped_) return "";
  pending_ += text;
  size_t cut = std::string::npos;
  for (const auto& s : stops_)
    if (const size_t at = pending_.find(s); at < cut) {
      cut = at;
      matched_ = s;
    }
  if (cut != std::string::npos) {
    stopped_ = true;
    std::string out = pending_.substr(0, cut);
    pending_.clear();
    return out;
  }
  // Keep the longest tail of pending_ that is a proper prefix of some stop string.
  size_t hold = 0;
  for (const auto& s : stops_)
    for (size_t n = std::min(s.size() - 1, pending_.size()); n > hold; --n)
      if (pending_.compare(pending_.size() - n, n, s, 0, n) == 0) {
        hold = n;
        break;
      }
  std::string out = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StopMatcher::finish() {
  std::string out = stopped_ ? std::string() : pending_;
  pending_.clear();
  return out;
}

}  // namespace st::server
