// ChatML, the chat format of Qwen2 and SmallThinker:
//   <|im_start|>system\nYou are a helpful assistant.<|im_end|>\n
//   <|im_start|>user\n{msg}<|im_end|>\n
//   <|im_start|>assistant\n                      <- generation prompt; the model ends with <|im_end|>
// The GGUF's tokenizer.chat_template (Jinja) is not executed: it is only recognised as ChatML
// (it contains "<|im_start|>"), and ChatML is used when it is absent too. Jinja features such
// as tools or <think> handling are not reproduced.
//
// A chat loop keeps its KV cache between turns: after the first render() it feeds only
// render_continuation() for each new turn, which yields exactly the tokens a full re-render
// of the whole conversation would have added.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace st {

class Tokenizer;

struct ChatMessage {
  std::string role;  // "system", "user", "assistant" (any role is rendered as given)
  std::string content;
};

class ChatTemplate {
 public:
  static constexpr std::string_view kImStart = "<|im_start|>";
  static constexpr std::string_view kImEnd = "<|im_end|>";
  static constexpr std::string_view kEndOfText = "<|endoftext|>";
  static constexpr std::string_view kDefaultSystemPrompt = "You are a helpful assistant.";

  // ChatML with the default system prompt.
  ChatTemplate() = default;
  // From a model's tokenizer.chat_template. recognised() tells whether it looked like ChatML;
  // an empty or unrecognised template still renders ChatML (SmallThinker's format).
  static ChatTemplate from_template_string(std::string_view jinja);

  bool recognised() const { return recognised_; }
  std::string_view name() const { return "chatml"; }

  // Prepended as a system message when the conversation does not start with one; empty = none.
  void set_default_system_prompt(std::string prompt) { default_system_ = std::move(prompt); }
  const std::string& default_system_prompt() const { return default_system_; }

  // The whole conversation, then "<|im_start|>assistant\n" if add_generation_prompt.
  std::string render(std::span<const ChatMessage> messages, bool add_generation_prompt = true) const;

  // What follows a generated assistant reply when the conversation goes on: "<|im_end|>" if
  // the reply was cut off before the model wrote it (reply_closed = false), the "\n" that
  // follows it, the new messages, and the generation prompt. No default system prompt here.
  std::string render_continuation(std::span<const ChatMessage> new_messages, bool reply_closed,
                                  bool add_generation_prompt = true) const;

  // The same as token ids, with message contents encoded as plain text (parse_special =
  // false): a user typing "<|im_start|>" cannot forge a turn. For content without special
  // tokens this equals tokenizer.encode(render(...)). Throws TokenizerError if the vocabulary
  // lacks <|im_start|> or <|im_end|>.
  std::vector<int32_t> encode(const Tokenizer& tokenizer, std::span<const ChatMessage> messages,
                              bool add_generation_prompt = true) const;
  std::vector<int32_t> encode_continuation(const Tokenizer& tokenizer, std::span<const ChatMessage> new_messages,
                                           bool reply_closed, bool add_generation_prompt = true) const;

  // Tokens that end an assistant reply: <|im_end|> and <|endoftext|> (those in the vocabulary).
  std::vector<int32_t> stop_ids(const Tokenizer& tokenizer) const;

 private:
  // One rendering routine for text and ids, so the two cannot drift apart.
  struct Sink;
  static Sink id_sink(const Tokenizer& tokenizer);
  void emit(Sink& sink, std::span<const ChatMessage> messages, bool with_default_system,
            bool add_generation_prompt) const;

  bool recognised_ = true;
  std::string default_system_{kDefaultSystemPrompt};
};

}  // namespace st
