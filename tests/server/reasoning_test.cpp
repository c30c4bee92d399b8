// <think>...</think> split off as the reasoning: ReasoningSplitter checked on whole texts
// written by hand, and fed in every split of each text into two pieces and byte by byte (tags
// arriving across tokens): the pieces must reassemble to the whole text's split. Then the
// request fields that drive it (reasoning_format, chat_template_kwargs, Ollama's think,
// Anthropic's thinking) and the reply shapes that carry it.
#include <gtest/gtest.h>

#include "apps/server/anthropic_protocol.h"
#include "apps/server/ollama_protocol.h"
#include "apps/server/reasoning.h"

namespace st::server {
namespace {

using Split = std::pair<std::string, std::string>;  // reasoning, content

Split split_pieces(const std::vector<std::string_view>& pieces, bool open) {
  ReasoningSplitter s(open);
  Split out;
  for (auto piece : pieces) {
    const auto o = s.push(piece);
    out.first += o.reasoning;
    out.second += o.content;
  }
  const auto o = s.finish();
  return {out.first + o.reasoning, out.second + o.content};
}

// The split of `text`, checked to be the same whatever the pieces it arrives in.
Split split(std::string_view text, bool open = false) {
  const Split whole = split_pieces({text}, open);
  for (size_t cut = 0; cut <= text.size(); ++cut)
    EXPECT_EQ(split_pieces({text.substr(0, cut), text.substr(cut)}, open), whole) << "cut at " << cut << " of " << text;
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < text.size(); ++i) bytes.push_back(text.substr(i, 1));
  EXPECT_EQ(split_pieces(bytes, open), whole) << "byte by byte: " << text;
  return whole;
}

TEST(ReasoningSplitter, ThinkingAtTheStartIsTheReasoning) {
  EXPECT_EQ(split("<think>\nLet me add 2 and 2.\n</think>\n\nIt is 4."), Split("Let me add 2 and 2.", "It is 4."));
  EXPECT_EQ(split("\n <think>a</think>b"), Split("a", "b"));
  EXPECT_EQ(split("<think></think>\n\nJust the answer."), Split("", "Just the answer."));
  // Only the first close tag ends the thinking; later tags are content as generated.
  EXPECT_EQ(split("<think>x</think> y </think> <think>z"), Split("x", "y </think> <think>z"));
  // Whitespace inside the content is kept, only the whitespace around the tags goes.
  EXPECT_EQ(split("<think> r1\n\nr2 </think>  c1\n\nc2  "), Split("r1\n\nr2", "c1\n\nc2  "));
}

TEST(ReasoningSplitter, PromptThatOpensTheThinking) {
  EXPECT_EQ(split("I should add.\n</think>\n\n4", true), Split("I should add.", "4"));
  EXPECT_EQ(split("</think>4", true), Split("", "4"));
  // A close tag that looks like one but is not: text of the reasoning.
  EXPECT_EQ(split("a </thinker> b </think>c", true), Split("a </thinker> b", "c"));
}

TEST(ReasoningSplitter, NoThinkingIsAllContentAsGenerated) {
  EXPECT_EQ(split("  Hello <think>x</think>"), Split("", "  Hello <think>x</think>"));
  EXPECT_EQ(split("<tool_call>{}</tool_call>"), Split("", "<tool_call>{}</tool_call>"));
  EXPECT_EQ(split("<thi"), Split("", "<thi"));  // a partial tag at the end is text
  EXPECT_EQ(split("\n\n"), Split("", "\n\n"));
  EXPECT_EQ(split(""), Split("", ""));
}

TEST(ReasoningSplitter, AReplyThatEndsInsideTheThinkingKeepsItAsReasoning) {
  EXPECT_EQ(split("<think>\nStill thinking when max_tokens hit\n"), Split("Still thinking when max_tokens hit", ""));
  EXPECT_EQ(split("still going", true), Split("still going", ""));
  EXPECT_EQ(split("cut in the tag </thi", true), Split("cut in the tag </thi", ""));
  EXPECT_EQ(split("<think>", false), Split("", ""));
}

TEST(ReasoningSplitter, NothingIsHeldBackLongerThanATag) {
  ReasoningSplitter s(true);
  EXPECT_EQ(s.push("one two").reasoning, "one two");
  EXPECT_EQ(s.push(" three </th").reasoning, " three");  // the space waits: it may precede the tag
  const auto o = s.push("ink>\n\nfour");
  EXPECT_EQ(o.reasoning, "");
  EXPECT_EQ(o.content, "four");
  EXPECT_FALSE(s.thinking());
}

TEST(ReasoningFormat, NamesAndOpenPrompts) {
  EXPECT_EQ(parse_reasoning_format("none"), ReasoningFormat::none);
  EXPECT_EQ(parse_reasoning_format("deepseek"), ReasoningFormat::deepseek);
  EXPECT_EQ(parse_reasoning_format("deepseek-legacy"), ReasoningFormat::deepseek_legacy);
  EXPECT_EQ(parse_reasoning_format("auto"), ReasoningFormat::automatic);
  EXPECT_EQ(parse_reasoning_format("Deepseek"), std::nullopt);
  EXPECT_TRUE(prompt_opens_thinking("<|im_start|>assistant\n<think>\n"));
  EXPECT_TRUE(prompt_opens_thinking("<think>"));
  EXPECT_FALSE(prompt_opens_thinking("<|im_start|>assistant\n<think>\n\n</think>\n\n"));
  EXPECT_FALSE(prompt_opens_thinking("<|im_start|>assistant\n"));
  EXPECT_FALSE(prompt_opens_thinking("think>"));
}

std::string refused(const std::function<void()>& parse) {
  try {
    parse();
    return "";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_NE(std::string(e.what()).find(e.param), std::string::npos) << e.what();
    return e.param;
  }
}

json chat(json extra = json::object()) {
  json b = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  b.update(extra);
  return b;
}

TEST(ReasoningRequest, OpenAIFields) {
  auto parse = [](const json& b, Endpoint e = Endpoint::chat) { return parse_request(b.dump(), e, Limits{}); };
  EXPECT_EQ(parse(chat()).reasoning_format, ReasoningFormat::automatic);  // llama-server's default
  EXPECT_EQ(parse(chat({{"reasoning_format", "none"}})).reasoning_format, ReasoningFormat::none);
  EXPECT_EQ(parse(chat({{"reasoning_format", "deepseek-legacy"}})).reasoning_format, ReasoningFormat::deepseek_legacy);
  EXPECT_EQ(refused([&] { parse(chat({{"reasoning_format", "r1"}})); }), "reasoning_format");
  EXPECT_EQ(refused([&] { parse(chat({{"reasoning_format", true}})); }), "reasoning_format");
  EXPECT_EQ(parse(chat({{"chat_template_kwargs", {{"enable_thinking", false}}}})).template_kwargs_json, R"({"enable_thinking":false})");
  EXPECT_EQ(parse(chat({{"chat_template_kwargs", json::object()}})).template_kwargs_json, "");
  EXPECT_EQ(refused([&] { parse(chat({{"chat_template_kwargs", "enable_thinking=false"}})); }), "chat_template_kwargs");
  // The raw-prompt route generates text as it is: neither field has a meaning there.
  const json completion = {{"prompt", "x"}};
  EXPECT_EQ(parse(completion, Endpoint::completion).reasoning_format, ReasoningFormat::none);
  EXPECT_EQ(refused([&] { parse(json{{"prompt", "x"}, {"reasoning_format", "none"}}, Endpoint::completion); }), "reasoning_format");
  // reasoning_content passed back in the history reaches the template.
  const auto r = parse(chat({{"messages", {{{"role", "user"}, {"content", "q"}}, {{"role", "assistant"}, {"content", "a"}, {"reasoning_content", "r"}},
                                           {{"role", "user"}, {"content", "q2"}}}}}));
  EXPECT_TRUE(r.reasoning_history);
  EXPECT_EQ(json::parse(r.messages_json)[1]["reasoning_content"], "r");
  EXPECT_EQ(refused([&] { parse(chat({{"messages", {{{"role", "user"}, {"content", "q"}, {"reasoning_content", "r"}}}}})); }),
            "messages[0].reasoning_content");
}

TEST(ReasoningRequest, OllamaThink) {
  auto parse = [](const json& extra, ollama::Route route = ollama::Route::chat) {
    json b = route == ollama::Route::chat ? json{{"messages", {{{"role", "user"}, {"content", "hi"}}}}} : json{{"prompt", "hi"}};
    b.update(extra);
    return ollama::parse_request(b.dump(), route, Limits{}).completion;
  };
  EXPECT_EQ(parse(json::object()).reasoning_format, ReasoningFormat::none);  // Ollama's text as generated
  EXPECT_EQ(parse(json::object()).template_kwargs_json, "");
  EXPECT_EQ(parse({{"think", true}}).reasoning_format, ReasoningFormat::deepseek);
  EXPECT_EQ(parse({{"think", true}}).template_kwargs_json, R"({"enable_thinking":true})");
  EXPECT_EQ(parse({{"think", false}}).reasoning_format, ReasoningFormat::none);
  EXPECT_EQ(parse({{"think", false}}).template_kwargs_json, R"({"enable_thinking":false})");
  EXPECT_EQ(parse({{"think", true}}, ollama::Route::generate).reasoning_format, ReasoningFormat::deepseek);
  EXPECT_EQ(refused([&] { parse({{"think", "low"}}); }), "think");
  EXPECT_EQ(refused([&] { parse({{"think", true}, {"raw", true}}, ollama::Route::generate); }), "think");
  const auto h = parse({{"messages", {{{"role", "user"}, {"content", "q"}}, {{"role", "assistant"}, {"content", "a"}, {"thinking", "r"}},
                                      {{"role", "user"}, {"content", "q2"}}}}});
  EXPECT_EQ(json::parse(h.messages_json)[1]["reasoning_content"], "r");
  EXPECT_EQ(refused([&] { parse({{"messages", {{{"role", "user"}, {"content", "q"}, {"thinking", "r"}}}}}); }), "messages[0].thinking");
}

TEST(ReasoningRequest, AnthropicThinking) {
  auto parse = [](const json& extra) {
    json b = {{"max_tokens", 4096}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
    b.update(extra);
    return anthropic::parse_request(b.dump(), Limits{}).completion;
  };
  EXPECT_EQ(parse(json::object()).reasoning_format, ReasoningFormat::none);
  const auto on = parse({{"thinking", {{"type", "enabled"}, {"budget_tokens", 2048}}}});
  EXPECT_EQ(on.reasoning_format, ReasoningFormat::deepseek);
  EXPECT_EQ(on.template_kwargs_json, R"({"enable_thinking":true})");
  const auto off = parse({{"thinking", {{"type", "disabled"}}}});
  EXPECT_EQ(off.reasoning_format, ReasoningFormat::none);
  EXPECT_EQ(off.template_kwargs_json, R"({"enable_thinking":false})");
  EXPECT_EQ(refused([&] { parse({{"thinking", {{"type", "enabled"}}}}); }), "thinking.budget_tokens");
  EXPECT_EQ(refused([&] { parse({{"thinking", {{"type", "enabled"}, {"budget_tokens", 100}}}}); }), "thinking.budget_tokens");
  EXPECT_EQ(refused([&] { parse({{"thinking", {{"type", "enabled"}, {"budget_tokens", 4096}}}}); }), "thinking.budget_tokens");
  EXPECT_EQ(refused([&] { parse({{"thinking", {{"type", "adaptive"}}}}); }), "thinking.type");
  EXPECT_EQ(refused([&] { parse({{"thinking", {{"type", "disabled"}, {"budget_tokens", 2048}}}}); }), "thinking.budget_tokens");
  // A thinking block passed back in an assistant turn reaches the template.
  const json turns = {{{"role", "user"}, {"content", "q"}},
                      {{"role", "assistant"}, {"content", {{{"type", "thinking"}, {"thinking", "r"}, {"signature", ""}},
                                                           {{"type", "text"}, {"text", "a"}}}}},
                      {{"role", "user"}, {"content", "q2"}}};
  const auto h = parse({{"messages", turns}});
  EXPECT_TRUE(h.reasoning_history);
  EXPECT_EQ(json::parse(h.messages_json)[1]["reasoning_content"], "r");
  EXPECT_EQ(json::parse(h.messages_json)[1]["content"], "a");
}

TEST(ReasoningReply, Shapes) {
  const ReplyHead h{Endpoint::chat, "chatcmpl-1", 0, "m"};
  const json whole = full_reply(h, "4", "stop", {}, {}, nullptr, {}, nullptr, "add");
  EXPECT_EQ(whole["choices"][0]["message"]["reasoning_content"], "add");
  EXPECT_EQ(whole["choices"][0]["message"]["content"], "4");
  EXPECT_FALSE(full_reply(h, "4", "stop", {}, {})["choices"][0]["message"].contains("reasoning_content"));
  const json chunk = reasoning_chunk(h, "hm", true);
  EXPECT_EQ(chunk["choices"][0]["delta"], json({{"reasoning_content", "hm"}, {"role", "assistant"}}));
  EXPECT_EQ(ollama::reply_line(ollama::Route::chat, "m", "t", "4", {}, {}, nullptr, "r")["message"]["thinking"], "r");
  EXPECT_EQ(ollama::reply_line(ollama::Route::generate, "m", "t", "4", {}, {}, nullptr, "r")["thinking"], "r");
  EXPECT_FALSE(ollama::reply_line(ollama::Route::chat, "m", "t", "4")["message"].contains("thinking"));
  EXPECT_EQ(anthropic::thinking_block_start(0)["content_block"], json({{"type", "thinking"}, {"thinking", ""}, {"signature", ""}}));
  EXPECT_EQ(anthropic::thinking_delta("x", 1)["delta"], json({{"type", "thinking_delta"}, {"thinking", "x"}}));
}

}  // namespace
}  // namespace st::server
