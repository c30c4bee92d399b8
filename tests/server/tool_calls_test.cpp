// Tool calling in the wire format: the request fields (tools, tool_choice, parallel_tool_calls,
// tool_calls and tool results in the history; 400s naming the field) and ToolCallParser, which
// splits generated text into content and calls. The parser is checked against nlohmann's parse
// of the same text written by hand, and fed in every split of the text into two pieces and byte
// by byte: the events must reassemble to the same calls whatever the pieces.
#include "apps/server/protocol.h"
#include "apps/server/tool_call_parser.h"

#include <gtest/gtest.h>

namespace st::server {
namespace {

std::string refused_param(const json& body) {
  try {
    (void)parse_request(body.dump(), Endpoint::chat, Limits{});
    return "";
  } catch (const ApiError& err) {
    EXPECT_EQ(err.status, 400);
    EXPECT_NE(std::string(err.what()).find(err.param), std::string::npos) << err.what() << " does not name " << err.param;
    return err.param;
  }
}

const json kWeather = {{"type", "function"},
                       {"function",
                        {{"name", "get_weather"},
                         {"description", "Weather in a city"},
                         {"parameters", {{"type", "object"}, {"properties", {{"city", {{"type", "string"}}}}}}}}}};

json chat(json extra = json::object()) {
  json b = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"tools", json::array({kWeather})}};
  b.update(extra);
  return b;
}

TEST(ToolRequest, ToolsAndChoices) {
  CompletionRequest r = parse_request(chat().dump(), Endpoint::chat, Limits{});
  ASSERT_EQ(r.tools.size(), 1u);
  EXPECT_EQ(r.tools[0].name, "get_weather");
  EXPECT_EQ(json::parse(r.tools[0].parameters)["properties"]["city"]["type"], "string");
  EXPECT_EQ(json::parse(r.tools_json), json::array({kWeather}));
  EXPECT_EQ(r.tool_choice, ToolChoice::automatic);
  EXPECT_TRUE(r.parallel_tool_calls);
  EXPECT_TRUE(r.wants_tool_calls());

  r = parse_request(chat({{"tool_choice", "none"}, {"parallel_tool_calls", false}}).dump(), Endpoint::chat, Limits{});
  EXPECT_EQ(r.tool_choice, ToolChoice::none);
  EXPECT_FALSE(r.parallel_tool_calls);
  EXPECT_FALSE(r.wants_tool_calls());
  r = parse_request(chat({{"tool_choice", "required"}}).dump(), Endpoint::chat, Limits{});
  EXPECT_EQ(r.tool_choice, ToolChoice::required);
  json two = chat({{"tool_choice", {{"type", "function"}, {"function", {{"name", "add"}}}}}});
  two["tools"].push_back({{"type", "function"}, {"function", {{"name", "add"}}}});
  r = parse_request(two.dump(), Endpoint::chat, Limits{});
  EXPECT_EQ(r.tool_choice, ToolChoice::named);
  EXPECT_EQ(r.tool_choice_index, 1u);
  EXPECT_EQ(r.tools[1].parameters, "");
}

TEST(ToolRequest, InvalidToolsNameTheField) {
  auto with_tool = [](json fn) { return chat({{"tools", json::array({{{"type", "function"}, {"function", fn}}})}}); };
  EXPECT_EQ(refused_param(with_tool({{"description", "no name"}})), "tools[0].function.name");
  EXPECT_EQ(refused_param(with_tool({{"name", "has space"}})), "tools[0].function.name");
  EXPECT_EQ(refused_param(with_tool({{"name", std::string(65, 'a')}})), "tools[0].function.name");
  EXPECT_EQ(refused_param(with_tool({{"name", "f"}, {"parameters", "{}"}})), "tools[0].function.parameters");
  EXPECT_EQ(refused_param(with_tool({{"name", "f"}, {"parameters", {{"type", "array"}}}})), "tools[0].function.parameters.type");
  EXPECT_EQ(refused_param(with_tool({{"name", "f"}, {"colour", 1}})), "tools[0].function.colour");
  EXPECT_EQ(refused_param(chat({{"tools", json::array({{{"type", "retrieval"}}})}})), "tools[0].type");
  EXPECT_EQ(refused_param(chat({{"tools", kWeather}})), "tools");
  json dup = chat();
  dup["tools"].push_back(kWeather);
  EXPECT_EQ(refused_param(dup), "tools[1].function.name");
  EXPECT_EQ(refused_param(chat({{"tool_choice", {{"type", "function"}, {"function", {{"name", "nope"}}}}}})),
            "tool_choice.function.name");
  EXPECT_EQ(refused_param(chat({{"tool_choice", {{"type", "function"}}}})), "tool_choice.function.name");
  EXPECT_EQ(refused_param(chat({{"tool_choice", 3}})), "tool_choice");
  EXPECT_EQ(refused_param(chat({{"parallel_tool_calls", "yes"}})), "parallel_tool_calls");
  EXPECT_EQ(refused_param(chat({{"response_format", {{"type", "json_object"}}}})), "response_format");
  EXPECT_EQ(refused_param(chat({{"response_format", {{"type", "json_object"}}}, {"tool_choice", "none"}})), "");
}

TEST(ToolRequest, HistoryWithCallsAndResults) {
  json b = chat();
  b["messages"] = {{{"role", "user"}, {"content", "Weather in Paris?"}},
                   {{"role", "assistant"},
                    {"content", nullptr},
                    {"tool_calls",
                     {{{"id", "call_1"},
                       {"type", "function"},
                       {"function", {{"name", "get_weather"}, {"arguments", R"({"city":"Paris"})"}}}}}}},
                   {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "sunny"}}};
  const CompletionRequest r = parse_request(b.dump(), Endpoint::chat, Limits{});
  EXPECT_TRUE(r.tool_history);
  const json m = json::parse(r.messages_json);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[1]["content"], "");  // null content: an empty string for the template
  EXPECT_EQ(m[1]["tool_calls"][0]["function"]["arguments"], json({{"city", "Paris"}}));  // an object for the template
  EXPECT_EQ(m[1]["tool_calls"][0]["id"], "call_1");
  EXPECT_EQ(m[2]["role"], "tool");
  EXPECT_EQ(m[2]["tool_call_id"], "call_1");

  json bad_args = b;
  bad_args["messages"][1]["tool_calls"][0]["function"]["arguments"] = "{city:";
  EXPECT_EQ(refused_param(bad_args), "messages[1].tool_calls[0].function.arguments");
  json no_name = b;
  no_name["messages"][1]["tool_calls"][0]["function"].erase("name");
  EXPECT_EQ(refused_param(no_name), "messages[1].tool_calls[0].function.name");
  json user_calls = b;
  user_calls["messages"][0]["tool_calls"] = b["messages"][1]["tool_calls"];
  EXPECT_EQ(refused_param(user_calls), "messages[0].tool_calls");
  json id_on_user = b;
  id_on_user["messages"][0]["tool_call_id"] = "x";
  EXPECT_EQ(refused_param(id_on_user), "messages[0].tool_call_id");
  json legacy = b;
  legacy["messages"][1]["function_call"] = {{"name", "f"}};
  EXPECT_EQ(refused_param(legacy), "messages[1].function_call");
  json no_content = b;
  no_content["messages"][2].erase("content");
  EXPECT_EQ(refused_param(no_content), "messages[2].content");
}

// ---- ToolCallParser ----

struct Parsed {
  std::string content;
  std::vector<std::pair<std::string, std::string>> calls;  // name, arguments
};

void add(Parsed& p, const ToolCallParser::Output& out) {
  p.content += out.content;
  for (const auto& e : out.calls) {
    if (e.opens) {
      ASSERT_EQ(static_cast<size_t>(e.index), p.calls.size());
      p.calls.push_back({e.name, ""});
    }
    ASSERT_LT(static_cast<size_t>(e.index), p.calls.size());
    p.calls[static_cast<size_t>(e.index)].second += e.arguments;
  }
}

Parsed parse_pieces(const std::vector<std::string>& pieces) {
  ToolCallParser parser;
  Parsed p;
  for (const auto& s : pieces) add(p, parser.push(s));
  add(p, parser.finish());
  return p;
}

// The same result for the whole text, for every split into two pieces, and byte by byte.
Parsed parse_all_ways(const std::string& text) {
  const Parsed whole = parse_pieces({text});
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    const Parsed two = parse_pieces({text.substr(0, cut), text.substr(cut)});
    EXPECT_EQ(two.content, whole.content) << "cut at " << cut << " of " << text;
    EXPECT_EQ(two.calls, whole.calls) << "cut at " << cut << " of " << text;
  }
  std::vector<std::string> bytes;
  for (char c : text) bytes.push_back(std::string(1, c));
  const Parsed one = parse_pieces(bytes);
  EXPECT_EQ(one.content, whole.content) << text;
  EXPECT_EQ(one.calls, whole.calls) << text;
  return whole;
}

TEST(ToolCallParser, TextWithoutCallsIsContent) {
  const Parsed p = parse_all_ways("Hello <b>world</b> <tool no call  \n");
  EXPECT_EQ(p.content, "Hello <b>world</b> <tool no call  \n");
  EXPECT_TRUE(p.calls.empty());
}

TEST(ToolCallParser, OneCallAfterText) {
  const Parsed p = parse_all_ways("Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>");
  EXPECT_EQ(p.content, "Let me check.");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].first, "get_weather");
  EXPECT_EQ(json::parse(p.calls[0].second), json({{"city", "Paris"}}));
}

TEST(ToolCallParser, SeveralCallsAndNestedArguments) {
  const std::string args0 = R"({"a":[1,{"b":"}]<tool_call>\""}],"c":{"d":null}})";
  const Parsed p = parse_all_ways("<tool_call>\n{\"name\":\"f\",\"arguments\":" + args0 +
                                  "}\n</tool_call>\n<tool_call>{\"name\": \"g\\u00e9\", \"arguments\": {}}</tool_call>\n");
  EXPECT_EQ(p.content, "");
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[0].first, "f");
  EXPECT_EQ(p.calls[0].second, args0);  // the model's text, byte for byte
  EXPECT_EQ(p.calls[1].first, "g\xC3\xA9");
  EXPECT_EQ(p.calls[1].second, "{}");
}

TEST(ToolCallParser, OtherKeyOrderIsParsedAtTheCloseTag) {
  const Parsed p = parse_all_ways("<tool_call>{\"arguments\": {\"x\": 2}, \"name\": \"h\"}</tool_call>");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].first, "h");
  EXPECT_EQ(json::parse(p.calls[0].second), json({{"x", 2}}));
  const Parsed s = parse_all_ways("<tool_call>{\"name\": \"h\", \"arguments\": \"{\\\"x\\\": 2}\"}</tool_call>");
  ASSERT_EQ(s.calls.size(), 1u);
  EXPECT_EQ(s.calls[0].second, "\"{\\\"x\\\": 2}\"");  // a string value streams as it is written
}

TEST(ToolCallParser, BlocksThatAreNotCallsStayContent) {
  const Parsed p = parse_all_ways("a <tool_call>not json</tool_call> b");
  EXPECT_EQ(p.content, "a <tool_call>not json</tool_call> b");
  EXPECT_TRUE(p.calls.empty());
}

TEST(ToolCallParser, CutOffCalls) {
  // Cut in the arguments: the call is open with what it has.
  Parsed p = parse_all_ways("x<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1");
  EXPECT_EQ(p.content, "x");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].second, "{\"a\": 1");
  // Cut before the name is complete: the text stays content.
  p = parse_all_ways("x<tool_call>{\"name\": \"f");
  EXPECT_EQ(p.content, "x<tool_call>{\"name\": \"f");
  EXPECT_TRUE(p.calls.empty());
  // Cut inside the open tag: content.
  p = parse_all_ways("x <tool_ca");
  EXPECT_EQ(p.content, "x <tool_ca");
}

TEST(ToolCallParser, TextAfterACall) {
  const Parsed p = parse_all_ways("<tool_call>{\"name\":\"f\",\"arguments\":{}}</tool_call>\n\nDone. ");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.content, "Done.");
}

TEST(ToolReply, MessageAndChunkShapes) {
  const ReplyHead h{Endpoint::chat, "chatcmpl-1", 0, "m"};
  const json calls = json::array({{{"id", "call_1"}, {"type", "function"}, {"function", {{"name", "f"}, {"arguments", "{}"}}}}});
  json j = full_reply(h, "", "tool_calls", {}, {}, nullptr, {}, calls);
  EXPECT_TRUE(j["choices"][0]["message"]["content"].is_null());
  EXPECT_EQ(j["choices"][0]["message"]["tool_calls"], calls);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "tool_calls");
  j = full_reply(h, "before", "tool_calls", {}, {}, nullptr, {}, calls);
  EXPECT_EQ(j["choices"][0]["message"]["content"], "before");
  j = full_reply(h, "", "stop", {}, {}, nullptr, {});
  EXPECT_EQ(j["choices"][0]["message"]["content"], "");
  EXPECT_FALSE(j["choices"][0]["message"].contains("tool_calls"));
  const json delta = json::array({{{"index", 0}, {"function", {{"arguments", "{\"a"}}}}});
  j = tool_calls_chunk(h, delta, true);
  EXPECT_EQ(j["object"], "chat.completion.chunk");
  EXPECT_EQ(j["choices"][0]["delta"]["tool_calls"], delta);
  EXPECT_EQ(j["choices"][0]["delta"]["role"], "assistant");
}

}  // namespace
}  // namespace st::server
