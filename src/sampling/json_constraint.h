// Constrained sampling for `response_format: {"type": "json_object"}`: masks every token whose
// bytes cannot continue a valid JSON document (RFC 8259) whose top-level value is an object, so
// the generated text always parses once complete() is true.
//
// The state is a byte-level pushdown automaton (container stack as a bit set, string / escape /
// \uXXXX / UTF-8 / number / literal sub-states). apply() walks a byte trie of the whole
// vocabulary with that automaton, so a prefix shared by thousands of tokens is checked once, and
// a subtree whose remaining bytes are all plain string text is allowed in one step while inside
// a string. When a step starts inside a string (most steps of a long answer), the tokens that
// stay in it are known in advance and only those that close it are checked. The trie (~70 ms
// for Qwen2's 151k tokens) is built once per token_bytes vector and shared by every constraint
// built from the same shared_ptr (one per server slot); apply() then takes ~30-70 us.
//
// Whitespace: a run may hold one line break and up to 24 bytes (pretty-printed JSON with
// indentation works; a model looping on spaces or blank lines is cut off).
//
// Restrictions beyond RFC 8259, so generation cannot run away and the result always fits a
// double: whitespace runs between tokens are capped (Options), nesting depth is capped, integer
// and fraction parts are capped at 20 digits, exponents at 2 digits; lone or reversed UTF-16
// surrogates in \u escapes are rejected (as JSON parsers such as nlohmann::json do).
//
// Usage per generated token: `c.apply(logits); id = sampler.sample(logits); c.accept(id);`
// and stop when the id is an end token (or complete() and the caller wants no trailing text).
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace st {

class Tokenizer;

class JsonConstraint {
 public:
  struct Options {
    int max_depth = 20;              // nested objects/arrays, top level included (<= 64)
    int max_whitespace_run = 24;     // consecutive whitespace bytes between JSON tokens
    int max_line_breaks_in_run = 1;  // '\n' or '\r' bytes within one such run
  };

  // token_bytes[i]: the bytes token i decodes to; empty marks a control token, which is never
  // allowed, except the ids in end_tokens, which are allowed (only) once the top-level object is
  // complete. Ids past token_bytes->size() (padding rows of the embedding) are never allowed.
  // Throws std::invalid_argument for a null token_bytes or options out of range.
  JsonConstraint(std::shared_ptr<const std::vector<std::string>> token_bytes, std::vector<int32_t> end_tokens);
  JsonConstraint(std::shared_ptr<const std::vector<std::string>> token_bytes, std::vector<int32_t> end_tokens,
                 Options options);
  ~JsonConstraint();
  JsonConstraint(JsonConstraint&&) noexcept;
  JsonConstraint& operator=(JsonConstraint&&) noexcept;

  // Sets -inf on every logit whose token cannot continue the document from the current state.
  // logits may be longer or shorter than the vocabulary (extra ids are masked, missing ones
  // ignored). Not safe to call concurrently on the same object (uses a scratch mask).
  void apply(std::span<float> logits) const;

  // Whether one token may come next (the same rule as apply, for a single id; usable as
  // SamplerParams::allowed_token).
  bool allows(int32_t token) const;

  // Advances the state by the token's bytes. Throws std::invalid_argument (state unchanged) if
  // the token is not allowed; an end token is accepted only when complete().
  void accept(int32_t token);

  // The top-level object has been closed (only whitespace and end tokens may follow).
  bool complete() const;

  // Bytes rather than tokens, for a caller whose tokens run on past the document (a tool call's
  // "}}\n"): whether `bytes` are taken from the current state and leave the document complete;
  // accept_bytes() advances by them (throws std::invalid_argument, state unchanged, if refused).
  bool completed_by(std::string_view bytes) const;
  void accept_bytes(std::string_view bytes);

  // Back to the start of a document.
  void reset();

  // A JSON-schema subset (response_format "json_schema"): the top level is an object schema;
  // properties may be {"type": "string" | "number" | "integer" | "boolean" | "object"} (nested
  // objects likewise), {"enum": [...]} or {"const": v}. The output is compact JSON with every
  // listed property, in schema order, so it always validates. Throws std::invalid_argument
  // naming the unsupported keyword, type or malformed part.
  static JsonConstraint for_schema(std::shared_ptr<const std::vector<std::string>> token_bytes,
                                   std::vector<int32_t> end_tokens, std::string_view schema_json);

  // The token_bytes vector for a tokenizer: decoded bytes of Normal and Byte tokens, empty for
  // control, user-defined (<think>), unused and unknown tokens.
  static std::shared_ptr<const std::vector<std::string>> token_bytes_of(const Tokenizer& tokenizer);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace st
