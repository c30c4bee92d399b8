#include "text/chat_template.h"

#include "text/tokenizer.h"

namespace st {

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
  t.recognised_ = jinja.empty() || jinja.find(kImStart) != std::string_view::npos;
  return t;
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
  Sink sink;
  emit(sink, messages, true, add_generation_prompt);
  return sink.text;
}

std::string ChatTemplate::render_continuation(std::span<const ChatMessage> new_messages, bool reply_closed,
                                              bool add_generation_prompt) const {
  Sink sink;
  if (!reply_closed) sink.marker(kImEnd);
  sink.plain("\n");
  emit(sink, new_messages, false, add_generation_prompt);
  return sink.text;
}

std::vector<int32_t> ChatTemplate::encode(const Tokenizer& tokenizer, std::span<const ChatMessage> messages,
                                          bool add_generation_prompt) const {
  Sink sink = id_sink(tokenizer);
  emit(sink, messages, true, add_generation_prompt);
  return sink.ids;
}

std::vector<int32_t> ChatTemplate::encode_continuation(const Tokenizer& tokenizer,
                                                       std::span<const ChatMessage> new_messages, bool reply_closed,
                                                       bool add_generation_prompt) const {
  Sink sink = id_sink(tokenizer);
  if (!reply_closed) sink.marker(kImEnd);
  sink.plain("\n");
  emit(sink, new_messages, false, add_generation_prompt);
  return sink.ids;
}

std::vector<int32_t> ChatTemplate::stop_ids(const Tokenizer& tokenizer) const {
  std::vector<int32_t> ids;
  for (std::string_view s : {kImEnd, kEndOfText}) {
    if (auto id = tokenizer.token_id(s)) ids.push_back(*id);
  }
  return ids;
}

}  // namespace st
