// The chat template through the public API, with the shipped SmallThinker-Nano, whose GGUF
// carries a Jinja tokenizer.chat_template (ChatML without a default system prompt): the file's
// template is what chat_tokens renders, --chat-template overrides it, render_chat takes full
// OpenAI-shaped messages, tools and chat_template_kwargs.
#include <gtest/gtest.h>

#include <array>
#include <fstream>
#include <stdexcept>
#include <string>

#include "smallthinker/engine.h"

namespace smallthinker {
namespace {

const std::string kNano = std::string(ST_SOURCE_DIR) + "/models/smallthinker-nano.gguf";

std::shared_ptr<Model> nano(const std::string& chat_template = "") {
  ModelOptions o;
  o.path = kNano;
  o.n_threads = 1;
  o.chat_template = chat_template;
  return Model::load(o);
}

TEST(ChatTemplateApi, TheFilesTemplateIsRendered) {
  auto m = nano();
  const std::vector<ChatMessage> msgs = {{"user", "Hi"}};
  // The nano's template: no system turn is added (the built-in ChatML would add one).
  EXPECT_EQ(m->chat_tokens(msgs), m->tokenize("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", true));
}

TEST(ChatTemplateApi, OverrideByNameOrFile) {
  const std::vector<ChatMessage> msgs = {{"user", "Hi"}};
  EXPECT_EQ(nano("chatml")->chat_tokens(msgs),
            nano()->tokenize("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                             "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
                             true));
  const std::string path = ::testing::TempDir() + "/nano_override.jinja";
  std::ofstream(path) << "{% for m in messages %}<|im_start|>{{ m.role | upper }}\n{{ m.content }}<|im_end|>\n{% endfor %}";
  auto m = nano(path);
  EXPECT_EQ(m->chat_tokens(msgs), m->tokenize("<|im_start|>USER\nHi<|im_end|>\n", true));
  try {
    nano(::testing::TempDir() + "/no_such_template.jinja");
    FAIL() << "a missing --chat-template file must be an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_template.jinja"), std::string::npos) << e.what();
  }
}

TEST(ChatTemplateApi, RenderChatTakesFullMessagesToolsAndKwargs) {
  const std::string path = ::testing::TempDir() + "/nano_tools.jinja";
  std::ofstream(path) << "{% if tools %}<tools>{{ tools | map(attribute='function') | map(attribute='name') | join(',') }}</tools>{% endif %}"
                         "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content or '' }}"
                         "{% for c in m.tool_calls or [] %}<tool_call>{{ c.function | tojson }}</tool_call>{% endfor %}<|im_end|>\n{% endfor %}"
                         "{% if add_generation_prompt %}<|im_start|>assistant\n{% if enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}";
  auto m = nano(path);
  const auto p = m->render_chat(
      R"([{"role":"user","content":"add 2 and 3"},
          {"role":"assistant","content":null,"tool_calls":[{"type":"function","function":{"name":"add","arguments":{"a":2,"b":3}}}]},
          {"role":"tool","tool_call_id":"1","content":"5"}])",
      R"([{"type":"function","function":{"name":"add","parameters":{}}}])", true, R"({"enable_thinking": false})");
  EXPECT_EQ(p.text,
            "<tools>add</tools><|im_start|>user\nadd 2 and 3<|im_end|>\n<|im_start|>assistant\n"
            "<tool_call>{\"name\": \"add\", \"arguments\": {\"a\": 2, \"b\": 3}}</tool_call><|im_end|>\n"
            "<|im_start|>tool\n5<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
  EXPECT_EQ(p.tokens, m->tokenize(p.text, true));
  EXPECT_THROW(m->render_chat("{not json"), std::invalid_argument);
  EXPECT_THROW(m->render_chat("[]", "{}"), std::invalid_argument);  // tools must be an array
}

// render_chat's JSON comes from callers (the C API, embedders): messages, tools or kwargs nested
// 100,000 deep are refused at parse time, naming the argument and the limit, as the server
// refuses such a body (before, they reached the template engine's recursive conversion).
TEST(ChatTemplateApi, DeeplyNestedJsonIsAClearError) {
  auto m = nano();
  const int depth = 100000;
  const std::string deep = std::string(depth, '[') + std::string(depth, ']');
  const std::string deep_object = [&] {
    std::string s;
    for (int i = 0; i < depth; ++i) s += "{\"a\":";
    return s + "1" + std::string(depth, '}');
  }();
  const std::string messages = R"([{"role":"user","content":)" + deep + "}]";
  const std::string tools = R"([{"type":"function","function":{"name":"f","parameters":)" + deep_object + "}}]";
  const std::string kwargs = R"({"x":)" + deep_object + "}";
  const std::string limit = "deeper than 64 levels";
  for (const auto& [args, what] : std::vector<std::pair<std::array<std::string, 3>, std::string>>{
           {{messages, "", ""}, "messages"}, {{"[]", tools, ""}, "tools"}, {{"[]", "", kwargs}, "chat_template_kwargs"}}) {
    try {
      m->render_chat(args[0], args[1], true, args[2]);
      ADD_FAILURE() << what << " nested " << depth << " deep was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(limit), std::string::npos) << e.what();
    }
  }
}

TEST(ChatTemplateApi, TemplateErrorsAreClear) {
  const std::string path = ::testing::TempDir() + "/nano_strict.jinja";
  std::ofstream(path) << "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}x";
  auto m = nano(path);
  const std::vector<ChatMessage> msgs = {{"system", "s"}, {"user", "u"}};
  try {
    m->chat_tokens(msgs);
    FAIL() << "raise_exception must surface";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("System role not supported"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace smallthinker
