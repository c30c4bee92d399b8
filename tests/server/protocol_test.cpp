// The server's wire format without a model: which request fields are honoured, refused (a 400
// naming the field) or harmless; max_tokens clamping; logprobs options and reply shapes.
#include "apps/server/protocol.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace st::server {
namespace {

Limits test_limits() {
  Limits l;
  l.max_tokens_cap = 100;
  return l;
}

// The param of the 400 a body gets (empty when it is accepted).
std::string refused_param(const json& body, Endpoint e = Endpoint::chat) {
  try {
    (void)parse_request(body.dump(), e, test_limits());
    return "";
  } catch (const ApiError& err) {
    EXPECT_EQ(err.status, 400);
    EXPECT_NE(std::string(err.what()).find(err.param), std::string::npos) << err.what() << " does not name " << err.param;
    return err.param;
  }
}

json chat(json extra = json::object()) {
  json b = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  b.update(extra);
  return b;
}

TEST(ProtocolFields, UnsupportedFieldsAreRefusedByName) {
  EXPECT_EQ(refused_param(chat({{"frobnicate", 1}})), "frobnicate");
  EXPECT_EQ(refused_param(chat({{"tools", json::array({{{"type", "function"}}})}})), "tools[0].function");
  EXPECT_EQ(refused_param(chat({{"tool_choice", "sometimes"}})), "tool_choice");
  EXPECT_EQ(refused_param(chat({{"tool_choice", "required"}})), "tool_choice");
  EXPECT_EQ(refused_param(chat({{"grammar", "root ::= \"a\""}})), "grammar");
  EXPECT_EQ(refused_param(chat({{"logit_bias", {{"5", 1}}}})), "logit_bias");
  EXPECT_EQ(refused_param(chat({{"stream_options", {{"include_usage", true}, {"x", 1}}}})), "stream_options.x");
  json with_call = chat();
  with_call["messages"][0]["tool_calls"] = json::array({{{"id", "1"}}});
  EXPECT_EQ(refused_param(with_call), "messages[0].tool_calls");
  json with_extra = chat();
  with_extra["messages"][0]["colour"] = "red";
  EXPECT_EQ(refused_param(with_extra), "messages[0].colour");
}

TEST(ProtocolFields, CompletionOnlyFields) {
  auto with = [](const char* k, json v) {
    json b = {{"prompt", "x"}};
    b[k] = std::move(v);
    return b;
  };
  EXPECT_EQ(refused_param(with("echo", true), Endpoint::completion), "echo");
  EXPECT_EQ(refused_param(with("suffix", "end"), Endpoint::completion), "suffix");
  EXPECT_EQ(refused_param(with("best_of", 2), Endpoint::completion), "best_of");
  EXPECT_EQ(refused_param(with("best_of", 1), Endpoint::completion), "");
  EXPECT_EQ(refused_param(with("messages", json::array()), Endpoint::completion), "messages");
  EXPECT_EQ(refused_param(chat({{"prompt", "x"}})), "prompt");
}

TEST(ProtocolFields, HarmlessAndEmptyFormsAreAccepted) {
  EXPECT_EQ(refused_param(chat({{"user", "u"}, {"metadata", {{"a", "b"}}}, {"store", false}, {"service_tier", "auto"},
                                {"cache_prompt", true}, {"parallel_tool_calls", false}, {"tools", json::array()},
                                {"tool_choice", "none"}, {"logit_bias", json::object()}, {"grammar", ""},
                                {"anything_null", nullptr}, {"model", "gpt-4o"}})),
            "");
  json named = chat();
  named["messages"][0]["name"] = "bob";
  named["messages"][0]["tool_calls"] = json::array();
  EXPECT_EQ(refused_param(named), "");
}

TEST(ProtocolFields, MaxTokensAboveTheCapIsClamped) {
  const CompletionRequest r = parse_request(chat({{"max_tokens", 5000}}).dump(), Endpoint::chat, test_limits());
  EXPECT_EQ(r.max_tokens, 100);
  EXPECT_EQ(r.max_tokens_requested, 5000);
  const CompletionRequest within = parse_request(chat({{"max_tokens", 50}}).dump(), Endpoint::chat, test_limits());
  EXPECT_EQ(within.max_tokens, 50);
  EXPECT_EQ(refused_param(chat({{"max_tokens", 0}})), "max_tokens");
}

TEST(ProtocolLogprobs, Options) {
  auto lp = [](const json& body, Endpoint e = Endpoint::chat) { return parse_request(body.dump(), e, test_limits()).logprobs; };
  EXPECT_EQ(lp(chat()), -1);
  EXPECT_EQ(lp(chat({{"logprobs", false}})), -1);
  EXPECT_EQ(lp(chat({{"logprobs", true}})), 0);
  EXPECT_EQ(lp(chat({{"logprobs", true}, {"top_logprobs", 20}})), 20);
  EXPECT_EQ(lp(chat({{"n_probs", 4}})), 4);
  EXPECT_EQ(lp(json{{"prompt", "x"}, {"logprobs", 3}}, Endpoint::completion), 3);
  EXPECT_EQ(lp(json{{"prompt", "x"}, {"logprobs", 0}}, Endpoint::completion), 0);
  EXPECT_EQ(refused_param(chat({{"logprobs", true}, {"top_logprobs", 21}})), "top_logprobs");
  EXPECT_EQ(refused_param(chat({{"top_logprobs", 2}})), "top_logprobs");
  EXPECT_EQ(refused_param(chat({{"logprobs", 2}})), "logprobs");  // chat's logprobs is a boolean
  EXPECT_EQ(refused_param(json{{"prompt", "x"}, {"logprobs", true}}, Endpoint::completion), "logprobs");
}

TEST(ProtocolLogprobs, ChatShape) {
  const std::vector<TokenLogprobs> toks = {
      {{7, "Hi", -0.5}, {{7, "Hi", -0.5}, {9, "\xF0\x9F", -1.25}}},
      {{3, "\xA6\x99", -std::numeric_limits<double>::infinity()}, {}}};
  const json j = chat_logprobs_json(toks);
  ASSERT_EQ(j["content"].size(), 2u);
  const json& e = j["content"][0];
  EXPECT_EQ(e["token"], "Hi");
  EXPECT_EQ(e["id"], 7);
  EXPECT_DOUBLE_EQ(e["logprob"].get<double>(), -0.5);
  EXPECT_EQ(e["bytes"], json::array({72, 105}));
  EXPECT_EQ(e["top_logprobs"][1]["bytes"], json::array({0xF0, 0x9F}));  // part of a character: the raw bytes
  EXPECT_DOUBLE_EQ(j["content"][1]["logprob"].get<double>(), -9999.0);  // -inf has no JSON form
  EXPECT_TRUE(j["content"][1]["top_logprobs"].empty());
}

TEST(ProtocolLogprobs, CompletionShapeAndCharacterOffsets) {
  const std::vector<TokenLogprobs> toks = {{{1, "ab", -1}, {{1, "ab", -1}, {2, "a", -2}}},
                                           {{2, "\xC3", -0.1}, {}},   // first byte of "é"
                                           {{3, "\xA9x", -0.2}, {}}}; // its last byte, then "x"
  int64_t offset = 10;  // a stream's earlier chunks produced 10 characters
  const json j = completion_logprobs_json(toks, offset);
  EXPECT_EQ(j["text_offset"], json::array({10, 12, 13}));
  EXPECT_EQ(offset, 14);
  EXPECT_EQ(j["token_logprobs"], json::array({-1.0, -0.1, -0.2}));
  EXPECT_EQ(j["top_logprobs"][0], json({{"ab", -1.0}, {"a", -2.0}}));
  EXPECT_EQ(j["tokens"].size(), 3u);
}

TEST(ProtocolLogprobs, RepliesCarryLogprobsAndWarnings) {
  const ReplyHead h{Endpoint::chat, "id", 0, "m"};
  const json lp = chat_logprobs_json(std::vector<TokenLogprobs>{{{1, "a", -1}, {}}});
  const json whole = full_reply(h, "a", "stop", {}, {}, lp, {"clamped"});
  EXPECT_EQ(whole["choices"][0]["logprobs"], lp);
  EXPECT_EQ(whole["warnings"], json::array({"clamped"}));
  EXPECT_TRUE(full_reply(h, "a", "stop", {}, {})["choices"][0]["logprobs"].is_null());
  EXPECT_FALSE(full_reply(h, "a", "stop", {}, {}).contains("warnings"));
  EXPECT_EQ(text_chunk(h, "a", false, lp)["choices"][0]["logprobs"], lp);
  EXPECT_EQ(final_chunk(h, "stop", {}, {"w"})["warnings"], json::array({"w"}));
}

}  // namespace
}  // namespace st::server
