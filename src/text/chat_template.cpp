#include "text/chat_template.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "text/jinja/js_text.h"
#include "text/json_bounded.h"
#include "text/jinja/template.h"
#include "text/tokenizer.h"

namespace st {
namespace {

// Marks the previous reply when rendering a continuation; no template writes these bytes.
constexpr std::string_view kReplyMark = "\x01\x02reply\x02\x01";

nlohmann::ordered_json to_json(std::span<const ChatMessage> messages) {
  auto out = nlohmann::ordered_json::array();
  for (const ChatMessage& m : messages) out.push_back({{"role", m.role}, {"content", m.content}});
  return out;
}

}  // namespace

// Receives the rendered conversation as a sequence of markers (<|im_start|>, <|im_end|>) and
// text, producing either a string or token ids.
struct ChatTemplate::Sink {
  const Tokenizer* tokenizer = nullptr;  // null: render text
  std::string text;
  std::vector<int32_t> ids;
  int32_t im_start = -1, im_end = -1;

  void marker(std::string_view m) {
    if (!tokenizer) {
      text += m;
      return;
    }
    ids.push_back(m == kImStart ? im_start : im_end);
  }
  // Between two markers: the role line and the content are one segment, so tokens across the
  // "\n" after the role come out as they would from encoding the whole rendered string.
  void plain(std::string_view s) {
    if (!tokenizer) {
      text += s;
      return;
    }
    tokenizer->encode(s, ids, /*parse_special=*/false);
  }
};

ChatTemplate::Sink ChatTemplate::id_sink(const Tokenizer& tokenizer) {
  Sink sink;
  sink.tokenizer = &tokenizer;
  const auto start = tokenizer.token_id(kImStart);
  const auto end = tokenizer.token_id(kImEnd);
  if (!start || !end) {
    throw TokenizerError("the vocabulary has no <|im_start|> / <|im_end|> tokens, so it cannot encode ChatML");
  }
  sink.im_start = *start;
  sink.im_end = *end;
  return sink;
}

ChatTemplate ChatTemplate::from_template_string(std::string_view jinja) {
  ChatTemplate t;
  if (jinja.empty()) return t;
  t.jinja_ = std::make_shared<const jinja::Template>(jinja);
  t.recognised_ = jinja.find(kImStart) != std::string_view::npos;
  t.name_ = "the model file's";
  return t;
}

ChatTemplate ChatTemplate::from_spec(const std::string& spec) {
  if (spec == "chatml") return ChatTemplate();
  std::ifstream f(spec, std::ios::binary);
  if (!f) throw std::runtime_error("--chat-template: '" + spec + "' is neither a template name (chatml) nor a readable file");
  std::stringstream ss;
  ss << f.rdbuf();
  std::string text = ss.str();
  // A tokenizer_config.json carries the template in "chat_template" (a string, or a list of
  // named templates of which "default" is the chat one).
  if (spec.size() >= 5 && spec.compare(spec.size() - 5, 5, ".json") == 0) {
    const auto j = parse_json_bounded<nlohmann::ordered_json>(text, "--chat-template " + spec);
    if (j.is_discarded() || !j.is_object() || !j.contains("chat_template"))
      throw std::runtime_error("--chat-template: " + spec + " is not JSON with a \"chat_template\" field");
    const auto& ct = j["chat_template"];
    text.clear();
    if (ct.is_string()) text = ct.get<std::string>();
    for (const auto& e : ct.is_array() ? ct : nlohmann::ordered_json::array())
      if (e.is_object() && e.value("name", "") == "default" && e.contains("template")) text = e["template"].get<std::string>();
    if (text.empty()) throw std::runtime_error("--chat-template: " + spec + " has no usable \"chat_template\"");
  }
  if (text.empty()) throw std::runtime_error("--chat-template: " + spec + " is empty");
  try {
    ChatTemplate t = from_template_string(text);
    t.name_ = spec;
    return t;
  } catch (const jinja::TemplateError& e) {
    throw std::runtime_error("--chat-template: " + spec + ": " + e.what());
  }
}

void ChatTemplate::set_special_tokens(std::string bos, std::string eos) {
  bos_ = std::move(bos);
  eos_ = std::move(eos);
}

std::string ChatTemplate::apply(const ChatTemplateInputs& in) const {
  if (!jinja_) {
    std::vector<ChatMessage> msgs;
    for (const auto& m : in.messages) {
      const auto& c = m.contains("content") ? m["content"] : nlohmann::ordered_json();
      msgs.push_back({m.value("role", ""), c.is_string() ? c.get<std::string>() : std::string()});
    }
    return render(msgs, in.add_generation_prompt);
  }
  nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
  ctx["messages"] = in.messages;
  if (!in.tools.is_null()) ctx["tools"] = in.tools;
  ctx["add_generation_prompt"] = in.add_generation_prompt;
  ctx["bos_token"] = bos_;
  ctx["eos_token"] = eos_;
  for (const auto& [k, v] : in.kwargs.items()) ctx[k] = v;
  return jinja_->render(ctx);
}

void ChatTemplate::emit(Sink& sink, std::span<const ChatMessage> messages, bool with_default_system,
                        bool add_generation_prompt) const {
  auto message = [&](std::string_view role, std::string_view content) {
    sink.marker(kImStart);
    std::string body;
    body.reserve(role.size() + 1 + content.size());
    body.append(role).append("\n").append(content);
    sink.plain(body);
    sink.marker(kImEnd);
    sink.plain("\n");
  };
  if (with_default_system && !default_system_.empty() && (messages.empty() || messages.front().role != "system")) {
    message("system", default_system_);
  }
  for (const ChatMessage& m : messages) message(m.role, m.content);
  if (add_generation_prompt) {
    sink.marker(kImStart);
    sink.plain("assistant\n");
  }
}

std::string ChatTemplate::render(std::span<const ChatMessage> messages, bool add_generation_prompt) const {
  if (jinja_) {
    ChatTemplateInputs in;
    in.messages = to_json(messages);
    in.add_generation_prompt = add_generation_prompt;
    return apply(in);
  }
  Sink sink;
  emit(sink, messages, true, add_generation_prompt);
  return sink.text;
}

std::string ChatTemplate::render_continuation(std::span<const ChatMessage> new_messages, bool reply_closed,
                                              bool add_generation_prompt) const {
  if (jinja_) return jinja_continuation(new_messages, reply_closed, add_generation_prompt);
  Sink sink;
  if (!reply_closed) sink.marker(kImEnd);
  sink.plain("\n");
  emit(sink, new_messages, false, add_generation_prompt);
  return sink.text;
}

std::vector<int32_t> ChatTemplate::encode(const Tokenizer& tokenizer, std::span<const ChatMessage> messages,
                                          bool add_generation_prompt) const {
  if (jinja_) {
    std::vector<std::string> contents;
    for (const ChatMessage& m : messages) contents.push_back(m.content);
    return encode_protecting(tokenizer, render(messages, add_generation_prompt), contents);
  }
  Sink sink = id_sink(tokenizer);
  emit(sink, messages, true, add_generation_prompt);
  return sink.ids;
}

std::vector<int32_t> ChatTemplate::encode_continuation(const Tokenizer& tokenizer,
                                                       std::span<const ChatMessage> new_messages, bool reply_closed,
                                                       bool add_generation_prompt) const {
  if (jinja_) {
    std::vector<std::string> contents;
    for (const ChatMessage& m : new_messages) contents.push_back(m.content);
    return encode_protecting(tokenizer, jinja_continuation(new_messages, reply_closed, add_generation_prompt), contents);
  }
  Sink sink = id_sink(tokenizer);
  if (!reply_closed) sink.marker(kImEnd);
  sink.plain("\n");
  emit(sink, new_messages, false, add_generation_prompt);
  return sink.ids;
}

// Renders [probe user, previous reply, new messages] and keeps what follows the reply.
std::string ChatTemplate::jinja_continuation(std::span<const ChatMessage> new_messages, bool reply_closed,
                                             bool add_generation_prompt) const {
  std::vector<ChatMessage> msgs = {{"user", "hi"}, {"assistant", std::string(kReplyMark)}};
  msgs.insert(msgs.end(), new_messages.begin(), new_messages.end());
  const std::string full = render(msgs, add_generation_prompt);
  const size_t at = full.find(kReplyMark);
  if (at == std::string::npos) throw jinja::TemplateError("the chat template does not render assistant replies as given, so a conversation cannot be continued");
  std::string rest = full.substr(at + kReplyMark.size());
  if (reply_closed) {  // the model already wrote its end-of-turn token
    for (std::string_view stop : {kImEnd, kEndOfText, std::string_view(eos_)}) {
      if (!stop.empty() && rest.compare(0, stop.size(), stop) == 0) {
        rest.erase(0, stop.size());
        break;
      }
    }
  }
  return rest;
}

std::vector<int32_t> ChatTemplate::encode_protecting(const Tokenizer& tokenizer, const std::string& text,
                                                     const std::vector<std::string>& contents) {
  // Control tokens in the vocabulary: contents holding none encode exactly like the whole text.
  std::vector<std::string_view> controls;
  for (int32_t id = 0; id < tokenizer.n_vocab(); ++id)
    if (tokenizer.token_type(id) == TokenType::Control) controls.push_back(tokenizer.token_text(id));
  auto has_control = [&](std::string_view s) {
    for (std::string_view c : controls)
      if (!c.empty() && s.find(c) != std::string_view::npos) return true;
    return false;
  };
  std::vector<std::pair<size_t, size_t>> spans;  // contents with control tokens, as rendered
  size_t cursor = 0;
  for (const std::string& c : contents) {
    if (c.empty()) continue;
    size_t at = text.find(c, cursor);
    size_t len = c.size();
    if (at == std::string::npos) {  // templates often trim contents
      const std::string t = jinja::js::trim(c, true, true);
      at = t.empty() ? std::string::npos : text.find(t, cursor);
      len = t.size();
    }
    if (at == std::string::npos) continue;
    if (has_control(std::string_view(text).substr(at, len))) spans.emplace_back(at, len);
    cursor = at + len;
  }
  if (spans.empty()) return tokenizer.encode(text, true);
  std::vector<int32_t> ids;
  size_t pos = 0;
  for (const auto& [at, len] : spans) {
    tokenizer.encode(std::string_view(text).substr(pos, at - pos), ids, true);
    tokenizer.encode(std::string_view(text).substr(at, len), ids, false);
    pos = at + len;
  }
  tokenizer.encode(std::string_view(text).substr(pos), ids, true);
  return ids;
}

std::vector<int32_t> ChatTemplate::stop_ids(const Tokenizer& tokenizer) const {
  std::vector<int32_t> ids;
  for (std::string_view s : {kImEnd, kEndOfText}) {
    if (auto id = tokenizer.token_id(s)) ids.push_back(*id);
  }
  return ids;
}

}  // namespace st
