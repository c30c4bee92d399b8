// libFuzzer target: the chat-template interpreter on arbitrary templates and message data.
// Input: template source, then optionally "\0" and a JSON object of variables (else a fixed
// conversation with tools). Lexing, parsing and rendering may fail with TemplateError, but
// must never crash, recurse without bound or run away: the limits are set low so that every
// input finishes quickly, and a successful render respects the output limit.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "text/jinja/template.h"

namespace {

const nlohmann::ordered_json& default_context() {
  static const nlohmann::ordered_json ctx = nlohmann::ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "sys"},
      {"role": "user", "content": "Hi <|im_start|> {{ x }}"},
      {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]},
      {"role": "tool", "content": "42"}
    ],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}}],
    "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>", "enable_thinking": false
  })");
  return ctx;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t split = in.find('\0');
  const std::string_view source = in.substr(0, split);
  nlohmann::ordered_json ctx = default_context();
  if (split != std::string_view::npos) {
    auto parsed = nlohmann::ordered_json::parse(in.substr(split + 1), nullptr, false);
    if (!parsed.is_discarded() && parsed.is_object()) ctx = std::move(parsed);
  }
  st::jinja::Limits limits;
  limits.max_output_bytes = 1 << 20;
  limits.max_loop_iterations = 20'000;
  limits.max_steps = 200'000;
  limits.max_call_depth = 16;
  try {
    const std::string out = st::jinja::Template(source).render(ctx, limits);
    if (out.size() > limits.max_output_bytes) {
      std::fprintf(stderr, "invariant violated: output of %zu bytes past the limit\n", out.size());
      std::abort();
    }
  } catch (const st::jinja::TemplateError&) {
    // a clear error is the expected outcome for most inputs
  }
  return 0;
}
