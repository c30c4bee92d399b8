// A Jinja template interpreter for chat templates (tokenizer.chat_template).
//
// It covers what published chat templates use, with the output of @huggingface/jinja (the
// renderer Hugging Face's JavaScript libraries use; tests/jinja_js compares the two byte for
// byte on real templates): whitespace control with trim_blocks/lstrip_blocks, if/for/set/
// macro/call/filter blocks, namespaces, loop variables, slices, tests, filters (tojson, trim,
// join, map, selectattr, ...), string and dict methods, raise_exception and strftime_now.
//
// Every render is bounded (hostile templates or message data cannot crash or hang the process):
// nesting depth when parsing, macro recursion, loop iterations, evaluation steps and the size
// of any string built are limited, each with an error that names the limit.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "text/jinja/value.h"

namespace st::jinja {

struct Node;

struct Limits {
  size_t max_output_bytes = 16u << 20;        // the result and any string built on the way
  uint64_t max_loop_iterations = 200'000;     // summed over every loop of the render
  uint64_t max_steps = 20'000'000;            // expression evaluations (+1 per 64 bytes copied)
  int max_call_depth = 64;                    // macros calling macros
};

class Template {
 public:
  // Parses now; throws TemplateError with the position of a syntax error.
  explicit Template(std::string_view source);
  ~Template();
  Template(const Template&) = default;
  Template& operator=(const Template&) = default;

  // `context` is a JSON object whose members become the template's variables (messages,
  // tools, add_generation_prompt, bos_token, ... and any chat_template_kwargs).
  // Throws TemplateError (including raise_exception from the template).
  std::string render(const nlohmann::ordered_json& context, const Limits& limits = {}) const;

 private:
  std::shared_ptr<const std::vector<std::unique_ptr<Node>>> program_;
};

// JSON -> runtime value as JavaScript's JSON.parse would see it (integral numbers are integers,
// array-index keys come first in an object). Throws TemplateError past Value::kMaxDepth.
Value from_json(const nlohmann::ordered_json& j);

}  // namespace st::jinja
