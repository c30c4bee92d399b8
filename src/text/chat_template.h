// Chat prompts: a conversation -> the text (and token ids) the model continues.
//
// A model file's tokenizer.chat_template (Jinja) is rendered by the interpreter in
// text/jinja/ with the variables Hugging Face's apply_chat_template passes (messages, tools,
// add_generation_prompt, bos_token, eos_token and any chat_template_kwargs such as
// enable_thinking), so the prompt is byte for byte what the model was trained on. Only a file
// without a template gets the built-in ChatML, the chat format of Qwen2 and SmallThinker:
//   <|im_start|>system\nYou are a helpful assistant.<|im_end|>\n
//   <|im_start|>user\n{msg}<|im_end|>\n
//   <|im_start|>assistant\n                      <- generation prompt; the model ends with <|im_end|>
// `--chat-template NAME|FILE` overrides the file's template (from_spec).
//
// A chat loop keeps its KV cache between turns: after the first render() it feeds only
// render_continuation() for each new turn. For ChatML that is exactly the tokens a full
// re-render would add; for a Jinja template it is what follows the previous reply in a render
// of the longer conversation.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace st {

class Tokenizer;
namespace jinja {
class Template;
}

struct ChatMessage {
  std::string role;  // "system", "user", "assistant" (any role is rendered as given)
  std::string content;
};

// What a Jinja chat template is given: OpenAI-shaped messages (role, content, tool_calls,
// tool_call_id, reasoning_content, ...), the tools, and extra variables.
struct ChatTemplateInputs {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json tools;  // null: no tools
  bool add_generation_prompt = true;
  nlohmann::ordered_json kwargs = nlohmann::ordered_json::object();  // chat_template_kwargs
};

class ChatTemplate {
 public:
  static constexpr std::string_view kImStart = "<|im_start|>";
  static constexpr std::string_view kImEnd = "<|im_end|>";
  static constexpr std::string_view kEndOfText = "<|endoftext|>";
  static constexpr std::string_view kDefaultSystemPrompt = "You are a helpful assistant.";

  // The built-in ChatML with the default system prompt.
  ChatTemplate() = default;
  // From a model's tokenizer.chat_template: empty -> the built-in ChatML, otherwise the Jinja
  // template. Throws jinja::TemplateError when the template does not parse.
  static ChatTemplate from_template_string(std::string_view jinja);
  // --chat-template: "chatml" (the built-in), or a file holding a Jinja template or a
  // tokenizer_config.json with a "chat_template" field. Throws std::runtime_error naming it.
  static ChatTemplate from_spec(const std::string& spec);

  bool is_jinja() const { return jinja_ != nullptr; }
  // ChatML, or a Jinja template written for ChatML (it contains "<|im_start|>").
  bool recognised() const { return recognised_; }
  const std::string& name() const { return name_; }

  // The values of bos_token / eos_token in Jinja templates.
  void set_special_tokens(std::string bos, std::string eos);

  // Jinja rendering of full message objects (the built-in ChatML renders role and content).
  std::string apply(const ChatTemplateInputs& inputs) const;

  // Prepended as a system message when the conversation does not start with one; empty = none.
  // Only the built-in ChatML does this (a Jinja template decides for itself).
  void set_default_system_prompt(std::string prompt) { default_system_ = std::move(prompt); }
  const std::string& default_system_prompt() const { return default_system_; }

  // The whole conversation, then the assistant's turn opening if add_generation_prompt.
  std::string render(std::span<const ChatMessage> messages, bool add_generation_prompt = true) const;

  // What follows a generated assistant reply when the conversation goes on: the end of the
  // reply's turn (for ChatML "<|im_end|>" unless reply_closed, i.e. the model wrote it), the
  // new messages, and the generation prompt. No default system prompt here.
  std::string render_continuation(std::span<const ChatMessage> new_messages, bool reply_closed,
                                  bool add_generation_prompt = true) const;

  // The same as token ids, with message contents encoded as plain text: a user typing
  // "<|im_start|>" cannot forge a turn. For content without special tokens this equals
  // tokenizer.encode(render(...)). ChatML throws TokenizerError if the vocabulary lacks
  // <|im_start|> or <|im_end|>.
  std::vector<int32_t> encode(const Tokenizer& tokenizer, std::span<const ChatMessage> messages,
                              bool add_generation_prompt = true) const;
  std::vector<int32_t> encode_continuation(const Tokenizer& tokenizer, std::span<const ChatMessage> new_messages,
                                           bool reply_closed, bool add_generation_prompt = true) const;
  // Rendered text -> ids with special tokens parsed except inside the given message contents.
  static std::vector<int32_t> encode_protecting(const Tokenizer& tokenizer, const std::string& text,
                                                const std::vector<std::string>& contents);

  // Tokens that end an assistant reply: <|im_end|> and <|endoftext|> (those in the vocabulary).
  std::vector<int32_t> stop_ids(const Tokenizer& tokenizer) const;

 private:
  // One rendering routine for text and ids, so the two cannot drift apart.
  struct Sink;
  static Sink id_sink(const Tokenizer& tokenizer);
  void emit(Sink& sink, std::span<const ChatMessage> messages, bool with_default_system,
            bool add_generation_prompt) const;
  std::string jinja_continuation(std::span<const ChatMessage> new_messages, bool reply_closed,
                                 bool add_generation_prompt) const;

  std::shared_ptr<const jinja::Template> jinja_;  // null: the built-in ChatML
  bool recognised_ = true;
  std::string name_ = "chatml";
  std::string bos_, eos_;
  std::string default_system_{kDefaultSystemPrompt};
};

}  // namespace st
