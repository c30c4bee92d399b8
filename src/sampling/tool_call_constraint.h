// Constrained sampling for tool calls in the Qwen/Hermes convention, the one this model family
// is trained on:
//
//   <tool_call>\n{"name":"get_weather","arguments":{"city":"Paris"}}\n</tool_call>
//
// The text inside the tags is a JSON object whose "name" is one of the tools and whose
// "arguments" validate against that tool's parameters schema (the JsonConstraint schema subset;
// one JsonConstraint per tool, compiled from {"name": {"const": NAME}, "arguments": PARAMETERS},
// all advanced together until the name tells them apart). Modes:
//   automatic: free text until the output spells "<tool_call>" (as one token or in pieces), then
//              the call is constrained; a token that would complete the tag and run on past it is
//              masked, so the tag always ends at a token boundary.
//   required:  the output starts with a call (the named-function choice is `required` with one tool).
//   none:      free text in which "<tool_call>" cannot be spelled.
// After a call: with `parallel`, whitespace and another call or an end token; without, only
// whitespace and an end token. Whitespace runs between the pieces are bounded (4 bytes). A
// token that ends the JSON and runs on into whitespace ("}}\n", common in BPE vocabularies) is
// allowed; any other token that straddles two pieces (">\n{") is masked.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace st {

class JsonConstraint;

class ToolCallConstraint {
 public:
  enum class Mode { automatic, required, none };
  struct Tool {
    std::string name;
    std::string parameters;  // JSON Schema text of the arguments object; empty: no arguments ({})
  };
  // A tool whose schema the JSON constraint does not support (or that is malformed).
  struct SchemaError : std::invalid_argument {
    size_t tool;  // index into the tools given
    SchemaError(size_t tool_, const std::string& message) : std::invalid_argument(message), tool(tool_) {}
  };

  static constexpr const char* kOpenTag = "<tool_call>";
  static constexpr const char* kCloseTag = "</tool_call>";

  // token_bytes as for JsonConstraint; end_tokens end the reply (allowed only between calls, or
  // anywhere in free text). Throws SchemaError for a bad tool schema, std::invalid_argument for
  // no tools in a mode other than none.
  ToolCallConstraint(std::shared_ptr<const std::vector<std::string>> token_bytes, std::vector<int32_t> end_tokens,
                     std::vector<Tool> tools, Mode mode, bool parallel);
  ~ToolCallConstraint();
  ToolCallConstraint(ToolCallConstraint&&) noexcept;
  ToolCallConstraint& operator=(ToolCallConstraint&&) noexcept;

  // Sets -inf on every logit whose token cannot come next.
  void apply(std::span<float> logits);
  // Advances the state by a sampled token. Throws std::invalid_argument for a token apply() masks.
  void accept(int32_t token);
  // Inside a call (from the open tag to the close tag).
  bool in_call() const;
  // Calls completed so far.
  int calls() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace st
