// The Ollama and Anthropic wire formats without a model: which fields are honoured (and become
// what in the engine's request), which are refused with a 400 naming them, and the reply and
// event shapes their documentation specifies.
#include <gtest/gtest.h>

#include "apps/server/anthropic_protocol.h"
#include "apps/server/ollama_protocol.h"

namespace st::server {
namespace {

Limits test_limits() {
  Limits l;
  l.max_tokens_cap = 100;
  l.default_max_tokens = 50;
  return l;
}

// The param of the 400 a body gets (empty when it is accepted); the message must name it.
template <typename Parse>
std::string refused_param(Parse&& parse) {
  try {
    parse();
    return "";
  } catch (const ApiError& err) {
    EXPECT_EQ(err.status, 400);
    EXPECT_NE(std::string(err.what()).find(err.param), std::string::npos) << err.what() << " does not name " << err.param;
    return err.param;
  }
}

json ollama_chat(json extra = json::object()) {
  json b = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  b.update(extra);
  return b;
}

std::string ollama_refused(const json& body, ollama::Route route = ollama::Route::chat) {
  return refused_param([&] { (void)ollama::parse_request(body.dump(), route, test_limits()); });
}

TEST(OllamaRequest, OptionsBecomeSamplingAndLimits) {
  const json body = ollama_chat({{"options", {{"temperature", 0}, {"top_k", 5}, {"top_p", 0.5}, {"seed", 7}, {"num_predict", 20},
                                              {"stop", {"END"}}, {"num_ctx", 256}, {"repeat_penalty", 1.1}, {"min_p", 0.1}}}});
  const ollama::Request r = ollama::parse_request(body.dump(), ollama::Route::chat, test_limits());
  EXPECT_EQ(r.completion.sampling.temperature, 0.0f);
  EXPECT_EQ(r.completion.sampling.top_k, 5);
  EXPECT_FLOAT_EQ(r.completion.sampling.top_p, 0.5f);
  EXPECT_EQ(r.completion.sampling.seed, 7u);
  EXPECT_FLOAT_EQ(r.completion.sampling.repeat_penalty, 1.1f);
  EXPECT_FLOAT_EQ(r.completion.sampling.min_p, 0.1f);
  EXPECT_EQ(r.completion.max_tokens, 20);
  EXPECT_EQ(r.completion.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(r.num_ctx, 256);
  EXPECT_TRUE(r.completion.stream);  // Ollama streams by default
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.completion.messages.size(), 1u);
  EXPECT_EQ(r.completion.messages[0].content, "hi");
}

TEST(OllamaRequest, NumPredictDefaultsUnlimitedAndClamping) {
  auto max_tokens = [](json options) {
    return ollama::parse_request(ollama_chat({{"options", options}}).dump(), ollama::Route::chat, test_limits()).completion.max_tokens;
  };
  EXPECT_EQ(max_tokens(json::object()), 50);             // the server's default
  EXPECT_EQ(max_tokens({{"num_predict", -1}}), 100);     // no limit: the server's cap
  EXPECT_EQ(max_tokens({{"num_predict", -2}}), 100);
  EXPECT_EQ(max_tokens({{"num_predict", 1000}}), 100);   // clamped
  EXPECT_EQ(ollama_refused(ollama_chat({{"options", {{"num_predict", 0}}}})), "options.num_predict");
}

TEST(OllamaRequest, UnsupportedOptionsAreRefusedByName) {
  EXPECT_EQ(ollama_refused(ollama_chat({{"options", {{"temperature", "hot"}}}})), "options.temperature");
  EXPECT_EQ(ollama_refused(ollama_chat({{"options", {{"top_p", 2}}}})), "options.top_p");
  EXPECT_EQ(ollama_refused(ollama_chat({{"options", {{"mirostat", 2}}}})), "options.mirostat");
  EXPECT_EQ(ollama_refused(ollama_chat({{"options", {{"num_gpu", 1}}}})), "options.num_gpu");
  EXPECT_EQ(ollama_refused(ollama_chat({{"options", {{"frobnicate", 1}}}})), "options.frobnicate");
  EXPECT_EQ(ollama_refused(ollama_chat({{"options", {{"num_ctx", 0}}}})), "options.num_ctx");
  EXPECT_EQ(ollama_refused(ollama_chat({{"options", {{"mirostat", 0}, {"typical_p", 1}}}})), "");  // switched off
  EXPECT_EQ(ollama_refused(ollama_chat({{"options", 3}})), "options");
}

TEST(OllamaRequest, FieldsWithoutMeaningHereAreRefused) {
  EXPECT_EQ(ollama_refused(ollama_chat({{"tools", {{{"type", "function"}}}}})), "tools[0].function");
  EXPECT_EQ(ollama_refused(ollama_chat({{"tools", json::array()}})), "");
  EXPECT_EQ(ollama_refused(ollama_chat({{"think", "high"}})), "think");  // gpt-oss effort levels
  EXPECT_EQ(ollama_refused(ollama_chat({{"think", true}})), "");
  EXPECT_EQ(ollama_refused(ollama_chat({{"think", false}})), "");
  EXPECT_EQ(ollama_refused(ollama_chat({{"keep_alive", "5m"}})), "");
  EXPECT_EQ(ollama_refused(ollama_chat({{"keep_alive", 0}})), "");
  EXPECT_EQ(ollama_refused(ollama_chat({{"keep_alive", true}})), "keep_alive");
  EXPECT_EQ(ollama_refused(ollama_chat({{"format", "xml"}})), "format");
  EXPECT_EQ(ollama_refused(ollama_chat({{"prompt", "x"}})), "prompt");  // a generate field
  EXPECT_EQ(ollama_refused(ollama_chat({{"messages", {{{"role", "user"}, {"content", "a"}, {"images", {"AAAA"}}}}}})),
            "messages[0].images");
  EXPECT_EQ(ollama_refused(ollama_chat({{"messages", {{{"role", "robot"}, {"content", "a"}}}}})), "messages[0].role");
  EXPECT_EQ(ollama_refused(ollama_chat({{"messages", {{{"role", "user"}, {"content", 3}}}}})), "messages[0].content");
  EXPECT_EQ(ollama_refused({{"prompt", "x"}, {"context", {1, 2}}}, ollama::Route::generate), "context");
  EXPECT_EQ(ollama_refused({{"prompt", "x"}, {"template", "{{ .Prompt }}"}}, ollama::Route::generate), "template");
  EXPECT_EQ(ollama_refused({{"prompt", "x"}, {"suffix", "y"}}, ollama::Route::generate), "suffix");
}

TEST(OllamaRequest, FormatJsonOrSchema) {
  auto parse = [](json format) {
    return ollama::parse_request(ollama_chat({{"format", format}}).dump(), ollama::Route::chat, test_limits()).completion;
  };
  EXPECT_TRUE(parse("json").json_object);
  const json schema = {{"type", "object"}, {"properties", {{"a", {{"type", "integer"}}}}}, {"required", {"a"}}};
  EXPECT_EQ(json::parse(parse(schema).json_schema), schema);
  EXPECT_FALSE(parse("").json_object);
}

TEST(OllamaRequest, GenerateUsesTheTemplateUnlessRaw) {
  const auto templated = ollama::parse_request(json{{"prompt", "hello"}, {"system", "be brief"}, {"stream", false}}.dump(),
                                               ollama::Route::generate, test_limits());
  EXPECT_EQ(templated.completion.endpoint, Endpoint::chat);
  ASSERT_EQ(templated.completion.messages.size(), 2u);
  EXPECT_EQ(templated.completion.messages[0].role, "system");
  EXPECT_EQ(templated.completion.messages[1].content, "hello");
  EXPECT_FALSE(templated.completion.stream);
  const auto raw = ollama::parse_request(json{{"prompt", "hello"}, {"raw", true}}.dump(), ollama::Route::generate, test_limits());
  EXPECT_EQ(raw.completion.endpoint, Endpoint::completion);
  EXPECT_EQ(raw.completion.prompt, "hello");
  // No prompt (or no messages): Ollama's load call.
  EXPECT_TRUE(ollama::parse_request(json{{"model", "m"}}.dump(), ollama::Route::generate, test_limits()).load_only);
  EXPECT_TRUE(ollama::parse_request(json{{"messages", json::array()}}.dump(), ollama::Route::chat, test_limits()).load_only);
}

TEST(OllamaReply, LinesHaveOllamasShape) {
  ollama::Stats s;
  s.prompt_eval_count = 3;
  s.eval_count = 4;
  s.eval_duration = 5;
  const json mid = ollama::reply_line(ollama::Route::chat, "m", "t", "Hi");
  EXPECT_EQ(mid, (json{{"model", "m"}, {"created_at", "t"}, {"message", {{"role", "assistant"}, {"content", "Hi"}}}, {"done", false}}));
  const json last = ollama::reply_line(ollama::Route::generate, "m", "t", "", "length", s);
  EXPECT_EQ(last["response"], "");
  EXPECT_EQ(last["done"], true);
  EXPECT_EQ(last["done_reason"], "length");
  EXPECT_EQ(last["eval_count"], 4);
  EXPECT_EQ(last["prompt_eval_count"], 3);
  EXPECT_EQ(last["eval_duration"], 5);
  EXPECT_TRUE(last.contains("total_duration") && last.contains("load_duration") && last.contains("prompt_eval_duration"));
  EXPECT_EQ(ollama::ndjson(json{{"a", 1}}), "{\"a\":1}\n");
  EXPECT_EQ(ollama::error_body(ApiError(400, "bad thing")), (json{{"error", "bad thing"}}));
}

TEST(OllamaReply, TimestampIsRfc3339WithNanoseconds) {
  const auto t = std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::seconds(1700000000) + std::chrono::microseconds(123456)));
  EXPECT_EQ(ollama::timestamp(t), "2023-11-14T22:13:20.123456000Z");
}

json messages_body(json extra = json::object()) {
  json b = {{"model", "claude"}, {"max_tokens", 64}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  b.update(extra);
  return b;
}

std::string anthropic_refused(const json& body) {
  return refused_param([&] { (void)anthropic::parse_request(body.dump(), test_limits()); });
}

TEST(AnthropicRequest, FieldsBecomeTheEnginesRequest) {
  const json body = messages_body({{"system", {{{"type", "text"}, {"text", "S1 "}}, {{"type", "text"}, {"text", "S2"}}}},
                                   {"messages", {{{"role", "user"}, {"content", {{{"type", "text"}, {"text", "a"}, {"cache_control", {{"type", "ephemeral"}}}}}}},
                                                 {{"role", "assistant"}, {"content", "b"}},
                                                 {{"role", "user"}, {"content", "c"}}}},
                                   {"stop_sequences", {"\n\n"}}, {"temperature", 0}, {"top_k", 3}, {"top_p", 0.9}, {"stream", true},
                                   {"metadata", {{"user_id", "u"}}}, {"max_tokens", 500}});
  const anthropic::Request r = anthropic::parse_request(body.dump(), test_limits());
  const auto& m = r.completion.messages;
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].role, "system");
  EXPECT_EQ(m[0].content, "S1 S2");
  EXPECT_EQ(m[1].content, "a");
  EXPECT_EQ(m[2].role, "assistant");
  EXPECT_EQ(m[3].content, "c");
  EXPECT_TRUE(r.prefill.empty());
  EXPECT_EQ(r.completion.stop, std::vector<std::string>{"\n\n"});
  EXPECT_EQ(r.completion.sampling.temperature, 0.0f);
  EXPECT_EQ(r.completion.sampling.top_k, 3);
  EXPECT_TRUE(r.completion.stream);
  EXPECT_EQ(r.completion.max_tokens, 100);  // clamped to the cap...
  EXPECT_EQ(r.completion.max_tokens_requested, 500);  // ... and reported
}

TEST(AnthropicRequest, LastAssistantMessageIsAPrefill) {
  const json body = messages_body({{"messages", {{{"role", "user"}, {"content", "q"}}, {{"role", "assistant"}, {"content", "The answer is"}}}}});
  const anthropic::Request r = anthropic::parse_request(body.dump(), test_limits());
  EXPECT_EQ(r.prefill, "The answer is");
  EXPECT_EQ(r.completion.messages.size(), 1u);
}

TEST(AnthropicRequest, RefusalsNameTheField) {
  json no_max = messages_body();
  no_max.erase("max_tokens");
  EXPECT_EQ(anthropic_refused(no_max), "max_tokens");
  EXPECT_EQ(anthropic_refused(messages_body({{"tools", {{{"name", "add"}}}}})), "tools[0].input_schema");
  EXPECT_EQ(anthropic_refused(messages_body({{"tools", json::array()}})), "");
  EXPECT_EQ(anthropic_refused(messages_body({{"temperature", 1.5}})), "temperature");
  // budget_tokens as Anthropic checks it: at least 1024, below max_tokens (64 here).
  EXPECT_EQ(anthropic_refused(messages_body({{"thinking", {{"type", "enabled"}, {"budget_tokens", 1024}}}})), "thinking.budget_tokens");
  EXPECT_EQ(anthropic_refused(messages_body({{"frobnicate", 1}})), "frobnicate");
  EXPECT_EQ(anthropic_refused(messages_body({{"messages", {{{"role", "system"}, {"content", "x"}}}}})), "messages[0].role");
  EXPECT_EQ(anthropic_refused(messages_body({{"messages", {{{"role", "user"}, {"content", {{{"type", "image"}}}}}}}})),
            "messages[0].content[0].type");
  EXPECT_EQ(anthropic_refused(messages_body({{"messages", {{{"role", "user"}, {"content", {{{"type", "tool_result"}}}}}}}})),
            "messages[0].content[0].tool_use_id");
  EXPECT_EQ(anthropic_refused(messages_body({{"stop_sequences", "x"}})), "stop_sequences");
  EXPECT_EQ(anthropic_refused(messages_body({{"messages", json::array()}})), "messages");
}

TEST(AnthropicReply, StopReasonsAndShapes) {
  EXPECT_EQ(anthropic::stop_reason("stop", ""), "end_turn");
  EXPECT_EQ(anthropic::stop_reason("stop", "###"), "stop_sequence");
  EXPECT_EQ(anthropic::stop_reason("length", ""), "max_tokens");
  const Usage u{7, 3};
  const json m = anthropic::message_json({"msg_1", "claude"}, "Hello", "stop_sequence", "###", u);
  EXPECT_EQ(m["type"], "message");
  EXPECT_EQ(m["role"], "assistant");
  EXPECT_EQ(m["content"], (json::array({{{"type", "text"}, {"text", "Hello"}}})));
  EXPECT_EQ(m["stop_sequence"], "###");
  EXPECT_EQ(m["usage"]["input_tokens"], 7);
  EXPECT_EQ(m["usage"]["output_tokens"], 3);
  EXPECT_EQ(anthropic::event(anthropic::message_stop()), "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
  EXPECT_EQ(anthropic::text_delta("x")["delta"], (json{{"type", "text_delta"}, {"text", "x"}}));
  EXPECT_EQ(anthropic::message_delta("end_turn", "", u)["delta"]["stop_sequence"], nullptr);
  const json e = anthropic::error_body(ApiError(401, "no key"));
  EXPECT_EQ(e, (json{{"type", "error"}, {"error", {{"type", "authentication_error"}, {"message", "no key"}}}}));
  EXPECT_EQ(anthropic::error_body(ApiError(400, "x"))["error"]["type"], "invalid_request_error");
}

// ---- Tool use ------------------------------------------------------------------------------

const json kAddSchema = {{"type", "object"},
                         {"properties", {{"a", {{"type", "integer"}}}, {"b", {{"type", "integer"}}}}},
                         {"required", {"a", "b"}}};

json anthropic_tool_body(json extra = json::object()) {
  json b = messages_body({{"tools", {{{"name", "add"}, {"description", "Adds."}, {"input_schema", kAddSchema}}}}});
  b.update(extra);
  return b;
}

TEST(AnthropicTools, ToolsAndChoiceBecomeTheOpenAIPathsRequest) {
  const anthropic::Request r = anthropic::parse_request(
      anthropic_tool_body({{"tool_choice", {{"type", "tool"}, {"name", "add"}, {"disable_parallel_tool_use", true}}}}).dump(), test_limits());
  ASSERT_EQ(r.completion.tools.size(), 1u);
  EXPECT_EQ(r.completion.tools[0].name, "add");
  EXPECT_EQ(json::parse(r.completion.tools[0].parameters), kAddSchema);
  EXPECT_EQ(json::parse(r.completion.tools_json),
            (json::array({{{"type", "function"}, {"function", {{"name", "add"}, {"parameters", kAddSchema}, {"description", "Adds."}}}}})));
  EXPECT_EQ(r.completion.tool_choice, ToolChoice::named);
  EXPECT_EQ(r.completion.tool_choice_index, 0u);
  EXPECT_FALSE(r.completion.parallel_tool_calls);
  EXPECT_TRUE(r.completion.wants_tool_calls());
  const auto choice = [](const char* type) {
    return anthropic::parse_request(anthropic_tool_body({{"tool_choice", {{"type", type}}}}).dump(), test_limits()).completion.tool_choice;
  };
  EXPECT_EQ(choice("auto"), ToolChoice::automatic);
  EXPECT_EQ(choice("any"), ToolChoice::required);
  EXPECT_EQ(choice("none"), ToolChoice::none);
}

TEST(AnthropicTools, HistoryBlocksBecomeTemplateToolCallsAndToolMessages) {
  const json body = anthropic_tool_body(
      {{"system", "S"},
       {"messages",
        {{{"role", "user"}, {"content", "add 2 and 3"}},
         {{"role", "assistant"},
          {"content", {{{"type", "text"}, {"text", "calling"}},
                       {{"type", "tool_use"}, {"id", "toolu_1"}, {"name", "add"}, {"input", {{"a", 2}, {"b", 3}}}}}}},
         {{"role", "user"},
          {"content", {{{"type", "tool_result"}, {"tool_use_id", "toolu_1"}, {"content", {{{"type", "text"}, {"text", "5"}}}}},
                       {{"type", "text"}, {"text", "thanks"}}}}}}}});
  const anthropic::Request r = anthropic::parse_request(body.dump(), test_limits());
  EXPECT_TRUE(r.completion.tool_history);
  EXPECT_TRUE(r.prefill.empty());
  const json expected = json::array(
      {{{"role", "system"}, {"content", "S"}},
       {{"role", "user"}, {"content", "add 2 and 3"}},
       {{"role", "assistant"}, {"content", "calling"},
        {"tool_calls", {{{"type", "function"}, {"id", "toolu_1"}, {"function", {{"name", "add"}, {"arguments", {{"a", 2}, {"b", 3}}}}}}}}},
       {{"role", "tool"}, {"content", "5"}, {"tool_call_id", "toolu_1"}},
       {{"role", "user"}, {"content", "thanks"}}});
  EXPECT_EQ(json::parse(r.completion.messages_json), expected);
  ASSERT_EQ(r.completion.messages.size(), 5u);
  EXPECT_EQ(r.completion.messages[3].role, "tool");
}

TEST(AnthropicTools, RefusalsNameTheField) {
  EXPECT_EQ(anthropic_refused(anthropic_tool_body({{"tool_choice", {{"type", "tool"}, {"name", "mul"}}}})), "tool_choice.name");
  EXPECT_EQ(anthropic_refused(anthropic_tool_body({{"tool_choice", {{"type", "required"}}}})), "tool_choice.type");
  EXPECT_EQ(anthropic_refused(messages_body({{"tool_choice", {{"type", "any"}}}})), "tool_choice");
  EXPECT_EQ(anthropic_refused(messages_body({{"tools", {{{"name", "f"}, {"input_schema", {{"type", "array"}}}}}}})),
            "tools[0].input_schema.type");
  EXPECT_EQ(anthropic_refused(messages_body({{"tools", {{{"type", "web_search_20250305"}, {"name", "web_search"}}}}})), "tools[0].type");
  const json use_in_user = {{{"role", "user"}, {"content", {{{"type", "tool_use"}, {"id", "t"}, {"name", "add"}, {"input", json::object()}}}}}};
  EXPECT_EQ(anthropic_refused(messages_body({{"messages", use_in_user}})), "messages[0].content[0].type");
  const json bad_input = {{{"role", "user"}, {"content", "q"}},
                          {{"role", "assistant"}, {"content", {{{"type", "tool_use"}, {"id", "t"}, {"name", "add"}, {"input", "2,3"}}}}}};
  EXPECT_EQ(anthropic_refused(messages_body({{"messages", bad_input}})), "messages[1].content[0].input");
}

TEST(AnthropicTools, ReplyBlocksAndEvents) {
  EXPECT_EQ(anthropic::stop_reason("stop", "", true), "tool_use");
  EXPECT_EQ(anthropic::stop_reason("length", "", true), "max_tokens");
  const json block = anthropic::tool_use_block("toolu_1", "add", {{"a", 1}});
  EXPECT_EQ(block, (json{{"type", "tool_use"}, {"id", "toolu_1"}, {"name", "add"}, {"input", {{"a", 1}}}}));
  const json start = anthropic::tool_use_block_start(1, "toolu_1", "add");
  EXPECT_EQ(start["index"], 1);
  EXPECT_EQ(start["content_block"]["input"], json::object());
  EXPECT_EQ(anthropic::input_json_delta("{\"a\":", 1)["delta"], (json{{"type", "input_json_delta"}, {"partial_json", "{\"a\":"}}));
  const json m = anthropic::message_json_blocks({"msg_1", "c"}, json::array({block}), "tool_use", "", Usage{1, 2});
  EXPECT_EQ(m["content"][0], block);
  EXPECT_EQ(m["stop_reason"], "tool_use");
}

TEST(OllamaTools, ToolsHistoryAndToolMessages) {
  const json tools = {{{"type", "function"}, {"function", {{"name", "add"}, {"description", "Adds."}, {"parameters", kAddSchema}}}}};
  const json messages = {{{"role", "user"}, {"content", "add 2 and 3"}},
                         {{"role", "assistant"}, {"content", ""}, {"tool_calls", {{{"function", {{"name", "add"}, {"arguments", {{"a", 2}, {"b", 3}}}}}}}}},
                         {{"role", "tool"}, {"content", "5"}, {"tool_name", "add"}}};
  const ollama::Request r = ollama::parse_request(ollama_chat({{"tools", tools}, {"messages", messages}}).dump(), ollama::Route::chat, test_limits());
  ASSERT_EQ(r.completion.tools.size(), 1u);
  EXPECT_EQ(r.completion.tools[0].name, "add");
  EXPECT_EQ(json::parse(r.completion.tools[0].parameters), kAddSchema);
  EXPECT_EQ(json::parse(r.completion.tools_json), tools);
  EXPECT_EQ(r.completion.tool_choice, ToolChoice::automatic);  // Ollama has no tool_choice
  EXPECT_TRUE(r.completion.wants_tool_calls());
  EXPECT_TRUE(r.completion.tool_history);
  const json expected = json::array(
      {{{"role", "user"}, {"content", "add 2 and 3"}},
       {{"role", "assistant"}, {"content", ""},
        {"tool_calls", {{{"type", "function"}, {"function", {{"name", "add"}, {"arguments", {{"a", 2}, {"b", 3}}}}}}}}},
       {{"role", "tool"}, {"content", "5"}, {"name", "add"}}});
  EXPECT_EQ(json::parse(r.completion.messages_json), expected);
}

TEST(OllamaTools, RefusalsAndReplyShape) {
  const json args_string = {{{"role", "assistant"}, {"content", ""}, {"tool_calls", {{{"function", {{"name", "add"}, {"arguments", "{}"}}}}}}}};
  EXPECT_EQ(ollama_refused(ollama_chat({{"messages", args_string}})), "messages[0].tool_calls[0].function.arguments");
  EXPECT_EQ(ollama_refused(ollama_chat({{"messages", {{{"role", "user"}, {"content", "a"}, {"tool_name", "x"}}}}})), "messages[0].tool_name");
  EXPECT_EQ(ollama_refused(ollama_chat({{"tools", {{{"type", "function"}, {"function", {{"name", "f"}, {"parameters", "x"}}}}}}})),
            "tools[0].function.parameters");
  EXPECT_EQ(ollama_refused({{"model", "m"}, {"prompt", "p"}, {"tools", {{{"type", "function"}}}}}, ollama::Route::generate), "tools");
  EXPECT_EQ(ollama_refused(ollama_chat({{"format", "json"}, {"tools", {{{"type", "function"}, {"function", {{"name", "f"}}}}}}})), "format");
  const json call = ollama::tool_call_json(0, "add", "{\"a\": 2, \"b\": 3}");
  EXPECT_EQ(call, (json{{"function", {{"index", 0}, {"name", "add"}, {"arguments", {{"a", 2}, {"b", 3}}}}}}));
  EXPECT_EQ(ollama::tool_call_json(1, "add", "{\"a\": 2")["function"]["arguments"], json::object());  // cut off
  const json line = ollama::reply_line(ollama::Route::chat, "m", "t", "", "stop", {}, json::array({call}));
  EXPECT_EQ(line["message"]["tool_calls"][0], call);
  EXPECT_FALSE(ollama::reply_line(ollama::Route::chat, "m", "t", "x")["message"].contains("tool_calls"));
}

}  // namespace
}  // namespace st::server
