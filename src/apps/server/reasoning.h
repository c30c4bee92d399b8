// <think>...</think> in generated text, split off as the reasoning (OpenAI's
// message.reasoning_content, Ollama's thinking, Anthropic's thinking blocks), with
// llama-server's `reasoning_format` choices. Pure string handling, fuzzed with the wire protocol.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace st::server {

// llama-server's reasoning_format: none leaves the text as generated (tags and all, in the
// content); deepseek moves the thinking to the reasoning; deepseek-legacy fills the reasoning
// and also keeps the whole text, tags included, in the content; auto (the default) is deepseek.
enum class ReasoningFormat { none, deepseek, deepseek_legacy, automatic };
// "none", "deepseek", "deepseek-legacy", "auto"; nullopt for anything else.
std::optional<ReasoningFormat> parse_reasoning_format(std::string_view name);
inline bool splits_reasoning(ReasoningFormat f) { return f != ReasoningFormat::none; }

// Whether a rendered prompt leaves the reply inside thinking: it ends with "<think>" and
// whitespace (a template that pre-fills the opening tag, llama-server's "thinking forced open").
bool prompt_opens_thinking(std::string_view prompt_text);

// Splits text fed piece by piece (tags may arrive split across pieces) so that the pieces
// reassemble to what splitting the whole text gives:
//   [ws] <think> REASONING </think> [ws] CONTENT
// The opening tag counts only at the start of the reply (after whitespace), or is implied when
// the prompt opened it (`starts_open`). The reasoning and the content are trimmed of the
// whitespace around the tags, as llama-server's are. A reply that ends inside the thinking
// (no </think>: max_tokens, or a stop) keeps it all as reasoning, never dropped; a reply that
// does not open with <think> is all content.
class ReasoningSplitter {
 public:
  struct Output {
    std::string reasoning, content;
  };
  explicit ReasoningSplitter(bool starts_open = false) : state_(starts_open ? State::thinking : State::start) {}
  Output push(std::string_view text);
  // The text has ended: what was held back (a partial tag is text, whitespace is dropped).
  Output finish();
  bool thinking() const { return state_ == State::thinking; }

 private:
  enum class State { start, thinking, after_close, content };
  void start_step(Output& out);
  void thinking_step(Output& out);

  State state_;
  std::string pending_;          // not yet handed out
  bool reasoning_begun_ = false; // leading whitespace of the reasoning is dropped until then
};

}  // namespace st::server
