#include "apps/server/ollama_protocol.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <limits>

#include "smallthinker/options_check.h"

namespace st::server::ollama {
namespace {

[[noreturn]] void bad(const std::string& param, const std::string& message) {
  throw ApiError(400, message, "invalid_request_error", param, "invalid_value");
}

[[noreturn]] void not_supported(const std::string& param, const std::string& what) {
  throw ApiError(400, "'" + param + "' (" + what + ") is not supported by this server; remove it from the request",
                 "invalid_request_error", param, "unsupported_parameter");
}

// Runs a field parser for a key inside an object at `prefix` ("options"), so its error names
// the full path ("options.top_k").
template <typename F>
auto nested(const std::string& prefix, F&& parse) {
  try {
    return parse();
  } catch (const ApiError& e) {
    const std::string param = prefix + "." + e.param;
    std::string message = e.what();
    if (const size_t at = message.find("'" + e.param + "'"); at != std::string::npos)
      message.replace(at, e.param.size() + 2, "'" + param + "'");
    throw ApiError(e.status, message, e.type, param, e.code);
  }
}

// A value that asks for nothing: null, false, "", [] or {}.
bool is_empty_value(const json& v) {
  if (v.is_string()) return v.get_ref<const std::string&>().empty();
  return v.is_null() || (v.is_boolean() && !v.get<bool>()) || ((v.is_array() || v.is_object()) && v.empty());
}

void parse_stop(const json& value, const Limits& limits, CompletionRequest& r) {
  std::vector<json> items;
  if (value.is_string()) items.push_back(value);
  else if (value.is_array()) items.assign(value.begin(), value.end());
  else bad("options.stop", "'options.stop' must be an array of strings");
  if (items.size() > limits.max_stop_strings)
    bad("options.stop", "at most " + std::to_string(limits.max_stop_strings) + " stop strings are allowed");
  for (const json& s : items) {
    if (!s.is_string()) bad("options.stop", "'options.stop' must be an array of strings");
    std::string v = s.get<std::string>();
    if (v.size() > limits.max_stop_bytes)
      bad("options.stop", "a stop string is longer than " + std::to_string(limits.max_stop_bytes) + " bytes");
    if (!v.empty()) r.stop.push_back(std::move(v));
  }
}

// Options that configure how Ollama loads a model; here the server's command line does.
constexpr std::string_view kLoadOptions[] = {"num_gpu", "main_gpu", "num_thread", "num_batch", "use_mmap", "use_mlock",
                                             "low_vram", "numa", "f16_kv", "vocab_only", "logits_all", "num_gqa",
                                             "rope_frequency_base", "rope_frequency_scale", "num_keep"};

// options.num_predict: -1 (no limit) and -2 (fill the context) both mean the server's cap.
void parse_num_predict(const json& options, const Limits& limits, CompletionRequest& r) {
  const auto n = nested("options", [&] { return integer_field(options, "num_predict", -2, std::numeric_limits<int64_t>::max()); });
  if (n && *n == 0) bad("options.num_predict", "'options.num_predict' must be -1 (no limit), -2 or at least 1");
  const int cap = limits.max_tokens_cap;
  if (!n) r.max_tokens = std::min(limits.default_max_tokens, cap);
  else if (*n < 0) r.max_tokens = cap;
  else {
    r.max_tokens_requested = *n;
    r.max_tokens = static_cast<int>(std::min<int64_t>(*n, cap));
  }
}

void parse_options(const json& body, const Limits& limits, Request& out) {
  CompletionRequest& r = out.completion;
  const auto it = body.find("options");
  const json none = json::object();
  const json& options = it == body.end() || it->is_null() ? none : *it;
  if (!options.is_object()) bad("options", "'options' must be an object");
  auto& s = r.sampling;
  constexpr double kAny = 1e30;  // the shared check bounds each field
  nested("options", [&] {
    if (auto v = number_field(options, "temperature", -kAny, kAny)) s.temperature = static_cast<float>(*v);
    if (auto v = number_field(options, "top_p", -kAny, kAny)) s.top_p = static_cast<float>(*v);
    if (auto v = integer_field(options, "top_k", std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max())) s.top_k = static_cast<int>(*v);
    if (auto v = number_field(options, "min_p", -kAny, kAny)) s.min_p = static_cast<float>(*v);
    if (auto v = number_field(options, "repeat_penalty", -kAny, kAny)) s.repeat_penalty = static_cast<float>(*v);
    if (auto v = integer_field(options, "repeat_last_n", -1, std::numeric_limits<int32_t>::max())) s.repeat_last_n = static_cast<int>(*v);
    if (auto v = number_field(options, "presence_penalty", -kAny, kAny)) s.presence_penalty = static_cast<float>(*v);
    if (auto v = number_field(options, "frequency_penalty", -kAny, kAny)) s.frequency_penalty = static_cast<float>(*v);
    if (auto v = integer_field(options, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()))
      s.seed = *v < 0 ? UINT64_MAX : static_cast<uint64_t>(*v);  // negative: random, as Ollama's -1
    if (auto v = integer_field(options, "num_ctx", 1, std::numeric_limits<int32_t>::max())) out.num_ctx = *v;
    return 0;
  });
  if (const auto p = smallthinker::check_sampling_options(s)) bad("options." + p->field, "'options." + p->field + "' " + p->message);
  parse_num_predict(options, limits, r);
  if (const auto stop = options.find("stop"); stop != options.end() && !stop->is_null()) parse_stop(*stop, limits, r);
  for (const auto& item : options.items()) {
    const std::string& key = item.key();
    const json& value = item.value();
    static constexpr std::string_view kKnown[] = {"temperature", "top_p", "top_k", "min_p", "repeat_penalty", "repeat_last_n",
                                                  "presence_penalty", "frequency_penalty", "seed", "num_ctx", "num_predict", "stop"};
    if (value.is_null() || std::find(std::begin(kKnown), std::end(kKnown), key) != std::end(kKnown)) continue;
    const std::string param = "options." + key;
    // Samplers this server does not have, accepted in the value that switches them off.
    if ((key == "mirostat" && value.is_number() && value.get<double>() == 0) ||
        ((key == "typical_p" || key == "tfs_z") && value.is_number() && value.get<double>() == 1))
      continue;
    if (std::find(std::begin(kLoadOptions), std::end(kLoadOptions), key) != std::end(kLoadOptions))
      bad(param, "'" + param + "' is a load-time setting; this server sets it on its command line (see `smallthinker serve --help`)");
    if (key == "mirostat" || key == "mirostat_tau" || key == "mirostat_eta" || key == "typical_p" || key == "tfs_z" ||
        key == "penalize_newline")
      not_supported(param, "a sampler this server does not have");
    bad(param, "unknown option '" + param + "': this server does not support it; remove it from the request");
  }
}

void parse_format(const json& body, CompletionRequest& r) {
  const auto it = body.find("format");
  if (it == body.end() || is_empty_value(*it)) return;
  if (it->is_string() && it->get<std::string>() == "json") r.json_object = true;
  else if (it->is_object()) r.json_schema = it->dump();
  else bad("format", "'format' must be \"json\" or a JSON Schema object");
}

// keep_alive: a duration ("5m", "-1", 0). The model stays loaded while the server runs, so it is
// only checked; see the README's server section.
void check_keep_alive(const json& body) {
  const auto it = body.find("keep_alive");
  if (it == body.end() || it->is_null()) return;
  if (!it->is_string() && !it->is_number()) bad("keep_alive", "'keep_alive' must be a duration (\"5m\", \"1h\", \"-1\") or a number of seconds");
}

// think: true splits <think>...</think> into message.thinking (chat) / thinking (generate) and
// renders with enable_thinking true; false renders with enable_thinking false (Qwen3-style
// templates then close the thinking in the prompt) and keeps the text as generated, as does an
// absent think. The effort levels of gpt-oss ("high", ...) are refused.
void parse_think(const json& body, CompletionRequest& r) {
  r.reasoning_format = ReasoningFormat::none;
  const auto it = body.find("think");
  if (it == body.end() || it->is_null()) return;
  if (!it->is_boolean()) not_supported("think", "thinking effort levels; 'think' must be true or false");
  if (r.endpoint != Endpoint::chat) bad("think", "'think' needs the chat template ('raw': true sends the prompt as it is)");
  const bool on = it->get<bool>();
  if (on) r.reasoning_format = ReasoningFormat::deepseek;
  r.template_kwargs_json = on ? R"({"enable_thinking":true})" : R"({"enable_thinking":false})";
}

// An assistant's tool_calls [{"function": {"name", "arguments" (an object)}}] as the chat
// template's (OpenAI-shaped, arguments an object).
json template_tool_calls(const json& calls, const std::string& p) {
  if (!calls.is_array()) bad(p, "'" + p + "' must be an array");
  json out = json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    const std::string q = p + "[" + std::to_string(i) + "]";
    const json& c = calls[i];
    if (!c.is_object()) bad(q, "'" + q + "' must be an object");
    const auto fn = c.find("function");
    if (fn == c.end() || !fn->is_object()) bad(q + ".function", "'" + q + ".function' must be an object");
    const auto name = fn->find("name");
    if (name == fn->end() || !name->is_string() || name->get_ref<const std::string&>().empty())
      bad(q + ".function.name", "'" + q + ".function.name' must be a non-empty string");
    json args = json::object();
    if (const auto a = fn->find("arguments"); a != fn->end() && !a->is_null()) {
      if (!a->is_object()) bad(q + ".function.arguments", "'" + q + ".function.arguments' must be an object");
      args = *a;
    }
    out.push_back({{"type", "function"}, {"function", {{"name", *name}, {"arguments", std::move(args)}}}});
  }
  return out;
}

// One message; returns it as the chat template gets it.
json parse_message(const json& m, const std::string& p, CompletionRequest& r) {
  if (!m.is_object()) bad(p, "'" + p + "' must be an object");
  const auto role = m.find("role");
  if (role == m.end() || !role->is_string()) bad(p + ".role", "'" + p + ".role' must be a string");
  const std::string name = role->get<std::string>();
  if (name != "system" && name != "user" && name != "assistant" && name != "tool")
    bad(p + ".role", "'" + p + ".role' must be \"system\", \"user\", \"assistant\" or \"tool\"");
  for (const auto& item : m.items()) {
    const std::string& key = item.key();
    if (key == "role" || key == "content" || is_empty_value(item.value())) continue;
    if (key == "tool_calls" && name == "assistant") continue;
    if (key == "tool_name" && name == "tool") continue;
    if (key == "images") not_supported(p + ".images", "images: the model reads text only");
    if (key == "thinking" && name == "assistant") continue;  // the template's reasoning_content
    bad(p + "." + key, "unknown field '" + p + "." + key + "': this server does not support it; remove it from the request");
  }
  const auto content = m.find("content");
  if (content != m.end() && !content->is_null() && !content->is_string()) bad(p + ".content", "'" + p + ".content' must be a string");
  if ((content == m.end() || content->is_null()) && name != "assistant") bad(p + ".content", "'" + p + ".content' is required");
  std::string text = content == m.end() || content->is_null() ? "" : content->get<std::string>();
  json entry = {{"role", name}, {"content", text}};
  if (const auto calls = m.find("tool_calls"); calls != m.end() && !is_empty_value(*calls))
    entry["tool_calls"] = template_tool_calls(*calls, p + ".tool_calls");
  if (const auto tn = m.find("tool_name"); tn != m.end() && !is_empty_value(*tn)) {
    if (!tn->is_string()) bad(p + ".tool_name", "'" + p + ".tool_name' must be a string");
    entry["name"] = *tn;
  }
  if (const auto th = m.find("thinking"); th != m.end() && !is_empty_value(*th)) {
    if (!th->is_string()) bad(p + ".thinking", "'" + p + ".thinking' must be a string");
    entry["reasoning_content"] = *th;
    r.reasoning_history = true;
  }
  r.tool_history = r.tool_history || name == "tool" || entry.contains("tool_calls");
  r.messages.push_back({name, std::move(text)});
  return entry;
}

void parse_chat(const json& body, const Limits& limits, Request& out) {
  const auto it = body.find("messages");
  if (it == body.end() || it->is_null() || (it->is_array() && it->empty())) {
    out.load_only = true;
    return;
  }
  if (!it->is_array()) bad("messages", "'messages' must be an array");
  if (it->size() > limits.max_messages)
    bad("messages", "too many messages (" + std::to_string(it->size()) + "; at most " + std::to_string(limits.max_messages) + ")");
  json for_template = json::array();
  for (size_t i = 0; i < it->size(); ++i)
    for_template.push_back(parse_message((*it)[i], "messages[" + std::to_string(i) + "]", out.completion));
  out.completion.messages_json = for_template.dump();
  out.completion.endpoint = Endpoint::chat;
}

// tools: OpenAI's shape [{"type": "function", "function": {"name", "description", "parameters"}}].
// Ollama has no tool_choice: the model decides (automatic).
void parse_tools(const json& body, CompletionRequest& r) {
  const auto it = body.find("tools");
  if (it == body.end() || is_empty_value(*it)) return;
  if (!it->is_array()) bad("tools", "'tools' must be an array");
  json for_template = json::array();
  for (size_t i = 0; i < it->size(); ++i) {
    const std::string p = "tools[" + std::to_string(i) + "]";
    const json& t = (*it)[i];
    if (!t.is_object()) bad(p, "'" + p + "' must be an object");
    if (const auto ty = t.find("type"); ty != t.end() && !ty->is_null() && *ty != "function")
      bad(p + ".type", "'" + p + ".type' must be \"function\"");
    for (const auto& item : t.items())
      if (item.key() != "type" && item.key() != "function" && !item.value().is_null())
        bad(p + "." + item.key(), "unknown field '" + p + "." + item.key() + "'");
    const auto fn = t.find("function");
    if (fn == t.end() || !fn->is_object()) bad(p + ".function", "'" + p + ".function' must be an object");
    const auto name = fn->find("name");
    if (name == fn->end() || !name->is_string() || name->get_ref<const std::string&>().empty())
      bad(p + ".function.name", "'" + p + ".function.name' must be a non-empty string");
    for (const ToolSpec& s : r.tools)
      if (s.name == *name) bad(p + ".function.name", "'" + p + ".function.name': two tools are named '" + s.name + "'");
    json fn_out = {{"name", *name}};
    for (const auto& item : fn->items()) {
      const std::string q = p + ".function." + item.key();
      if (item.key() == "name" || item.value().is_null()) continue;
      if (item.key() == "description" && item.value().is_string()) fn_out["description"] = item.value();
      else if (item.key() == "parameters" && item.value().is_object()) fn_out["parameters"] = item.value();
      else if (item.key() == "description") bad(q, "'" + q + "' must be a string");
      else if (item.key() == "parameters") bad(q, "'" + q + "' must be a JSON Schema object");
      else bad(q, "unknown field '" + q + "'");
    }
    r.tools.push_back({name->get<std::string>(), fn_out.contains("parameters") ? fn_out["parameters"].dump() : ""});
    for_template.push_back({{"type", "function"}, {"function", std::move(fn_out)}});
  }
  r.tools_json = for_template.dump();
  if (r.json_object || !r.json_schema.empty()) bad("format", "'format' cannot be combined with 'tools'");
}

std::string string_field(const json& body, const char* key) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return "";
  if (!it->is_string()) bad(key, std::string("'") + key + "' must be a string");
  return it->get<std::string>();
}

// generate: the prompt as the user's turn of the chat template (after `system`, if any), or
// with "raw": true the prompt as it is.
void parse_generate(const json& body, Request& out) {
  CompletionRequest& r = out.completion;
  const std::string prompt = string_field(body, "prompt");
  const std::string system = string_field(body, "system");
  const bool raw = bool_field(body, "raw").value_or(false);
  if (!string_field(body, "template").empty()) not_supported("template", "a request's own prompt template; the server uses the model's (or --chat-template)");
  if (!string_field(body, "suffix").empty()) not_supported("suffix", "insertion before a suffix");
  if (raw && !system.empty()) bad("system", "'system' has no place in a raw prompt (\"raw\": true); put it in the prompt");
  if (prompt.empty()) {
    out.load_only = true;
    return;
  }
  if (raw) {
    r.endpoint = Endpoint::completion;
    r.prompt = prompt;
    return;
  }
  r.endpoint = Endpoint::chat;
  if (!system.empty()) r.messages.push_back({"system", system});
  r.messages.push_back({"user", prompt});
}

void check_top_level_fields(const json& body, Route route) {
  static constexpr std::string_view kCommon[] = {"model", "format", "options", "stream", "keep_alive", "think"};
  static constexpr std::string_view kChat[] = {"messages"};
  static constexpr std::string_view kGenerate[] = {"prompt", "system", "raw", "template", "suffix"};
  for (const auto& item : body.items()) {
    const std::string& key = item.key();
    if (item.value().is_null() || std::find(std::begin(kCommon), std::end(kCommon), key) != std::end(kCommon)) continue;
    if (route == Route::chat && std::find(std::begin(kChat), std::end(kChat), key) != std::end(kChat)) continue;
    if (route == Route::generate && std::find(std::begin(kGenerate), std::end(kGenerate), key) != std::end(kGenerate)) continue;
    if (route == Route::chat && key == "tools") continue;
    if (is_empty_value(item.value()) && (key == "tools" || key == "images" || key == "context")) continue;
    if (key == "tools") not_supported(key, "tool calling on /api/generate; use /api/chat");
    if (key == "images") not_supported(key, "images: the model reads text only");
    if (route == Route::generate && key == "context")
      not_supported(key, "continuing from returned context tokens; send the conversation to /api/chat instead");
    bad(key, "unknown field '" + key + "': this server does not support it; remove it from the request");
  }
}

}  // namespace

Request parse_request(std::string_view body_text, Route route, const Limits& limits) {
  const json body = parse_body(body_text, limits);
  Request out;
  check_top_level_fields(body, route);
  out.model = string_field(body, "model");
  if (route == Route::chat) parse_chat(body, limits, out);
  else parse_generate(body, out);
  parse_options(body, limits, out);
  parse_format(body, out.completion);
  if (route == Route::chat) parse_tools(body, out.completion);
  check_keep_alive(body);
  parse_think(body, out.completion);
  out.completion.stream = bool_field(body, "stream").value_or(true);  // Ollama streams unless told not to
  out.completion.model = out.model;
  return out;
}

std::string parse_show_request(std::string_view body_text, const Limits& limits) {
  const json body = parse_body(body_text, limits);
  for (const auto& item : body.items()) {
    const std::string& key = item.key();
    if (key == "model" || key == "name" || key == "verbose" || item.value().is_null()) continue;
    bad(key, "unknown field '" + key + "': /api/show takes 'model' (and 'verbose')");
  }
  (void)bool_field(body, "verbose");
  std::string model = string_field(body, "model");
  if (model.empty()) model = string_field(body, "name");
  if (model.empty()) bad("model", "'model' is required");
  return model;
}

json error_body(const ApiError& e) { return {{"error", e.what()}}; }

std::string timestamp(std::chrono::system_clock::time_point t) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ns / 1000000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char date[32], out[48];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(out, sizeof out, "%s.%09lldZ", date, static_cast<long long>(ns % 1000000000));
  return out;
}

json reply_line(Route route, const std::string& model, const std::string& created_at, const std::string& text,
                const std::string& done_reason, const Stats& stats, const json& tool_calls, const std::string& thinking) {
  json j = {{"model", model}, {"created_at", created_at}};
  if (route == Route::chat) j["message"] = {{"role", "assistant"}, {"content", text}};
  else j["response"] = text;
  if (!thinking.empty()) (route == Route::chat ? j["message"]["thinking"] : j["thinking"]) = thinking;
  if (route == Route::chat && tool_calls.is_array() && !tool_calls.empty()) j["message"]["tool_calls"] = tool_calls;
  j["done"] = !done_reason.empty();
  if (done_reason.empty()) return j;
  j["done_reason"] = done_reason;
  if (done_reason == "load") return j;
  j["total_duration"] = stats.total_duration;
  j["load_duration"] = stats.load_duration;
  j["prompt_eval_count"] = stats.prompt_eval_count;
  j["prompt_eval_duration"] = stats.prompt_eval_duration;
  j["eval_count"] = stats.eval_count;
  j["eval_duration"] = stats.eval_duration;
  return j;
}

json tool_call_json(int index, const std::string& name, const std::string& arguments) {
  json args = json::parse(arguments.empty() ? "{}" : arguments, nullptr, false);
  if (!args.is_object()) args = json::object();  // cut off by num_predict: what arrived does not parse
  return {{"function", {{"index", index}, {"name", name}, {"arguments", std::move(args)}}}};
}

std::string ndjson(const json& line) { return line.dump(-1, ' ', false, json::error_handler_t::replace) + "\n"; }

namespace {

json details_json(const ModelCard& m) {
  return {{"parent_model", ""}, {"format", "gguf"}, {"family", m.architecture}, {"families", json::array({m.architecture})},
          {"parameter_size", ""}, {"quantization_level", ""}};
}

json listed_model(const ModelCard& m) {
  return {{"name", m.name}, {"model", m.name}, {"modified_at", m.modified_at}, {"size", m.size_bytes},
          {"digest", m.digest}, {"details", details_json(m)}};
}

}  // namespace

json tags_json(const ModelCard& m) { return {{"models", json::array({listed_model(m)})}}; }

json show_json(const ModelCard& m) {
  const std::string& a = m.architecture;
  json info = {{"general.architecture", a},
               {a + ".context_length", m.context_length},
               {a + ".embedding_length", m.embedding_length},
               {a + ".block_count", m.block_count},
               {a + ".expert_count", m.expert_count},
               {a + ".expert_used_count", m.expert_used_count},
               {a + ".vocab_size", m.vocab_size}};
  return {{"modelfile", "# Served by smallthinker\nFROM " + m.path + "\n"},
          {"parameters", ""},
          {"template", m.chat_template},
          {"details", details_json(m)},
          {"model_info", std::move(info)},
          {"capabilities", json::array({"completion"})},
          {"modified_at", m.modified_at}};
}

json ps_json(const ModelCard& m) {
  json entry = listed_model(m);
  entry.erase("modified_at");
  entry["expires_at"] = "9999-12-31T23:59:59Z";  // loaded for as long as the server runs
  entry["size_vram"] = 0;
  entry["context_length"] = m.slot_ctx;
  return {{"models", json::array({entry})}};
}

}  // namespace st::server::ollama
