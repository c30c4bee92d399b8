#include "sampling/json_constraint.h"

#include <algorithm>
#include <array>
#include <bitset>
#include <cmath>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "text/tokenizer.h"

namespace st {
namespace {

// Where the automaton stands. The structural modes (up to kDone) are the places between JSON
// tokens, where whitespace may appear.
enum Mode : uint8_t {
  kDocStart,     // before the top-level value: only '{'
  kValue,        // after ':' or an array's ','
  kArrayFirst,   // after '[': a value or ']'
  kObjectFirst,  // after '{': a key or '}'
  kKey,          // after an object's ',': a key
  kColon,        // after a key
  kAfterValue,   // ',' or the closing bracket of the innermost container
  kDone,         // the top-level object is closed
  kString,       // inside a string, at a character boundary
  kStringUtf8,   // inside a multi-byte UTF-8 character
  kStringEscape,       // after '\'
  kStringHex,          // inside \uXXXX
  kStringLowBackslash, // after a high surrogate escape: '\' of the low one must follow
  kStringLowU,         // ... then 'u'
  kNumMinus,     // '-'
  kNumZero,      // a leading '0' (no more digits may follow)
  kNumInt,       // integer digits
  kNumFracStart, // '.'
  kNumFrac,      // fraction digits
  kNumExpStart,  // 'e' or 'E'
  kNumExpSign,   // exponent sign
  kNumExp,       // exponent digits
  kLiteral,      // inside true / false / null
};

// Caps that keep numbers within a double's range (nlohmann::json rejects overflow to inf) and
// stop a model from looping on digits forever.
constexpr int kMaxIntDigits = 20;
constexpr int kMaxFracDigits = 20;
constexpr int kMaxExpDigits = 2;
constexpr const char* kLiterals[3] = {"true", "false", "null"};

struct Limits {
  int max_depth, max_ws, max_breaks;
};

// Plain old data, copied at every trie node apply() visits, so it stays small.
struct ParseState {
  uint64_t objects = 0;      // bit d: the open container at depth d is an object (else array)
  uint16_t code_unit = 0;    // \u escape value so far
  uint8_t depth = 0;         // open containers
  uint8_t mode = kDocStart;
  uint8_t count = 0;         // digits of a number part / hex digits / literal position / UTF-8 bytes left
  uint8_t next_lo = 0x80;    // UTF-8: allowed range of the next continuation byte
  uint8_t next_hi = 0xBF;
  uint8_t literal = 0;       // index into kLiterals
  uint8_t ws_run = 0;        // whitespace bytes since the last JSON token
  uint8_t ws_breaks = 0;     // of which line breaks
  bool key = false;          // the open string is an object key
  bool low_pending = false;  // the \u escape being read must be a low surrogate
};

bool is_ws(uint8_t b) { return b == ' ' || b == '\t' || b == '\n' || b == '\r'; }
bool is_digit(uint8_t b) { return b >= '0' && b <= '9'; }
int hex_value(uint8_t b) {
  if (b >= '0' && b <= '9') return b - '0';
  if (b >= 'a' && b <= 'f') return b - 'a' + 10;
  if (b >= 'A' && b <= 'F') return b - 'A' + 10;
  return -1;
}
// Bytes that stand for themselves inside a string (RFC 8259 "unescaped", ASCII part).
bool is_plain_ascii(uint8_t b) { return b >= 0x20 && b < 0x80 && b != '"' && b != '\\'; }

// UTF-8 lead byte: continuation bytes to follow and the allowed range of the first one (which
// excludes overlong forms, surrogates and code points above U+10FFFF). 0 = not a lead byte.
int utf8_lead(uint8_t b, uint8_t& lo, uint8_t& hi) {
  lo = 0x80, hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) return 1;
  if (b == 0xE0) return lo = 0xA0, 2;
  if (b == 0xED) return hi = 0x9F, 2;
  if (b >= 0xE1 && b <= 0xEF) return 2;
  if (b == 0xF0) return lo = 0x90, 3;
  if (b == 0xF4) return hi = 0x8F, 3;
  if (b >= 0xF1 && b <= 0xF3) return 3;
  return 0;
}

bool top_is_object(const ParseState& s) { return (s.objects >> (s.depth - 1)) & 1u; }

void end_value(ParseState& s) { s.mode = s.depth == 0 ? kDone : kAfterValue; }

bool begin_value(ParseState& s, uint8_t b, const Limits& lim) {
  switch (b) {
    case '{':
    case '[':
      if (s.depth >= lim.max_depth) return false;
      if (b == '{') s.objects |= uint64_t{1} << s.depth;
      else s.objects &= ~(uint64_t{1} << s.depth);
      ++s.depth;
      s.mode = b == '{' ? kObjectFirst : kArrayFirst;
      return true;
    case '"':
      s.mode = kString, s.key = false;
      return true;
    case '-':
      s.mode = kNumMinus;
      return true;
    case '0':
      s.mode = kNumZero;
      return true;
    case 't':
    case 'f':
    case 'n':
      s.mode = kLiteral, s.literal = b == 't' ? 0 : b == 'f' ? 1 : 2, s.count = 1;
      return true;
    default:
      if (b >= '1' && b <= '9') {
        s.mode = kNumInt, s.count = 1;
        return true;
      }
      return false;
  }
}

bool close_container(ParseState& s, uint8_t b) {
  if (s.depth == 0 || top_is_object(s) != (b == '}')) return false;
  --s.depth;
  end_value(s);
  return true;
}

bool step(ParseState& s, uint8_t b, const Limits& lim);

// A number ends at the first byte that cannot continue it; that byte belongs to what follows.
bool end_number(ParseState& s, uint8_t b, const Limits& lim) {
  end_value(s);
  return step(s, b, lim);
}

bool step_structural(ParseState& s, uint8_t b, const Limits& lim) {
  if (is_ws(b)) {
    if (++s.ws_run > lim.max_ws) return false;
    if ((b == '\n' || b == '\r') && ++s.ws_breaks > lim.max_breaks) return false;
    return true;
  }
  s.ws_run = s.ws_breaks = 0;
  switch (s.mode) {
    case kDocStart:
      return b == '{' && begin_value(s, b, lim);
    case kValue:
      return begin_value(s, b, lim);
    case kArrayFirst:
      return b == ']' ? close_container(s, b) : begin_value(s, b, lim);
    case kObjectFirst:
      if (b == '}') return close_container(s, b);
      [[fallthrough]];
    case kKey:
      if (b != '"') return false;
      s.mode = kString, s.key = true;
      return true;
    case kColon:
      if (b != ':') return false;
      s.mode = kValue;
      return true;
    case kAfterValue:
      if (b == ',') {
        s.mode = top_is_object(s) ? kKey : kValue;
        return true;
      }
      return (b == '}' || b == ']') && close_container(s, b);
    default:  // kDone
      return false;
  }
}

bool step_string(ParseState& s, uint8_t b) {
  switch (s.mode) {
    case kString:
      if (b == '"') {
        if (s.key) s.mode = kColon;
        else end_value(s);
        return true;
      }
      if (b == '\\') return s.mode = kStringEscape, true;
      if (b < 0x80) return b >= 0x20;
      if (int more = utf8_lead(b, s.next_lo, s.next_hi)) return s.mode = kStringUtf8, s.count = uint8_t(more), true;
      return false;
    case kStringUtf8:
      if (b < s.next_lo || b > s.next_hi) return false;
      s.next_lo = 0x80, s.next_hi = 0xBF;
      if (--s.count == 0) s.mode = kString;
      return true;
    case kStringEscape:
      if (b == 'u') return s.mode = kStringHex, s.count = 0, s.code_unit = 0, true;
      if (b == '"' || b == '\\' || b == '/' || b == 'b' || b == 'f' || b == 'n' || b == 'r' || b == 't')
        return s.mode = kString, true;
      return false;
    case kStringHex: {
      const int d = hex_value(b);
      if (d < 0) return false;
      // Surrogates: a high one (D800-DBFF) must be followed by an escaped low one (DC00-DFFF);
      // a low one anywhere else is an error.
      if (s.count == 0 && s.low_pending && d != 0xD) return false;
      if (s.count == 1 && s.low_pending && d < 0xC) return false;
      if (s.count == 1 && !s.low_pending && s.code_unit == 0xD && d >= 0xC) return false;
      s.code_unit = uint16_t(s.code_unit * 16 + d);
      if (++s.count < 4) return true;
      if (s.low_pending) s.low_pending = false, s.mode = kString;
      else if (s.code_unit >= 0xD800 && s.code_unit <= 0xDBFF) s.low_pending = true, s.mode = kStringLowBackslash;
      else s.mode = kString;
      return true;
    }
    case kStringLowBackslash:
      return b == '\\' && (s.mode = kStringLowU, true);
    default:  // kStringLowU
      return b == 'u' && (s.mode = kStringHex, s.count = 0, s.code_unit = 0, true);
  }
}

bool step_number(ParseState& s, uint8_t b, const Limits& lim) {
  const bool digit = is_digit(b);
  const bool exp = b == 'e' || b == 'E';
  switch (s.mode) {
    case kNumMinus:
      if (!digit) return false;
      s.mode = b == '0' ? kNumZero : kNumInt, s.count = 1;
      return true;
    case kNumZero:
      if (b == '.') return s.mode = kNumFracStart, true;
      if (exp) return s.mode = kNumExpStart, true;
      return !digit && end_number(s, b, lim);  // no leading zeros
    case kNumInt:
      if (digit) return ++s.count <= kMaxIntDigits;
      if (b == '.') return s.mode = kNumFracStart, true;
      if (exp) return s.mode = kNumExpStart, true;
      return end_number(s, b, lim);
    case kNumFracStart:
      return digit && (s.mode = kNumFrac, s.count = 1, true);
    case kNumFrac:
      if (digit) return ++s.count <= kMaxFracDigits;
      if (exp) return s.mode = kNumExpStart, true;
      return end_number(s, b, lim);
    case kNumExpStart:
      if (b == '+' || b == '-') return s.mode = kNumExpSign, true;
      return digit && (s.mode = kNumExp, s.count = 1, true);
    case kNumExpSign:
      return digit && (s.mode = kNumExp, s.count = 1, true);
    default:  // kNumExp
      if (digit) return ++s.count <= kMaxExpDigits;
      return end_number(s, b, lim);
  }
}

// Advances s by one byte; false if the byte cannot come next (s is then unspecified).
bool step(ParseState& s, uint8_t b, const Limits& lim) {
  if (s.mode <= kDone) return step_structural(s, b, lim);
  if (s.mode <= kStringLowU) return step_string(s, b);
  if (s.mode <= kNumExp) return step_number(s, b, lim);
  const char* word = kLiterals[s.literal];  // kLiteral
  if (b != uint8_t(word[s.count])) return false;
  if (word[++s.count] == '\0') end_value(s);
  return true;
}

// ---------------------------------------------------------------------------------------------
// JSON-schema subset: the schema is compiled into a tree of nodes (objects with their key text,
// arrays, unions, typed value slots) that a fixed stack of frames walks byte by byte, so the
// output is compact JSON with every property in schema order. A value slot runs the automaton
// above from a lone value at depth 0. A union (anyOf / oneOf / a list of types) is decided by
// the value's first byte, so its branches must start with different bytes; as a JSON value's
// type shows in its first byte, exactly one branch then validates (oneOf holds too).

using Json = nlohmann::ordered_json;

struct SchemaNode {
  enum Kind : uint8_t { kStringSlot, kNumber, kInteger, kBoolean, kAny, kEnum, kObject, kArray, kUnion } kind;
  // kEnum: each allowed value as compact JSON. kObject: the text before each property
  // (`{"a":`, `,"b":`), then the closing `}` (`{}` alone for no properties).
  std::vector<std::string> texts;
  std::vector<uint16_t> children;  // kObject: property schemas; kArray: the item schema; kUnion: branches
  uint32_t min_items = 0, max_items = UINT32_MAX;  // kArray
  std::bitset<256> first;          // the bytes the value may start with
};

struct SchemaProgram {
  std::vector<SchemaNode> nodes;
  uint16_t root = 0;
};

constexpr size_t kMaxEnumChoices = 64;   // one bit each in State::alive
constexpr int kMaxSchemaDepth = 16;      // nested objects and arrays (one frame each)
constexpr int kMaxFrames = kMaxSchemaDepth + 1;  // ... and the value slot on top
constexpr size_t kMaxSchemaNodes = 20000;
constexpr int kMaxSchemaJsonDepth = 64;  // arrays and objects in the schema's JSON text
constexpr int kMaxInt64Digits = 18;      // "integer" values stay integers for 64-bit parsers
// Value slots: no whitespace (compact output); a free value ({} schema) nests at most this deep.
constexpr Limits kSlotLimits{kMaxSchemaDepth, 0, 0};

std::bitset<256> bytes_of(std::string_view chars) {
  std::bitset<256> set;
  for (char c : chars) set.set(uint8_t(c));
  return set;
}
const std::bitset<256> kNumberStart = bytes_of("-0123456789");

// Keywords that only describe (or, like additionalProperties, cannot be violated by output
// holding only the listed properties).
bool is_annotation(const std::string& k) {
  for (const char* a : {"title", "description", "$schema", "$id", "$comment", "default", "examples", "deprecated",
                        "readOnly", "writeOnly", "additionalProperties", "strict"})
    if (k == a) return true;
  return false;
}

bool value_has_type(const Json& v, const std::string& t) {
  if (t == "string") return v.is_string();
  if (t == "number") return v.is_number();
  if (t == "integer") return v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
  if (t == "boolean") return v.is_boolean();
  if (t == "null") return v.is_null();
  if (t == "object") return v.is_object();
  return t == "array" && v.is_array();
}

class SchemaCompiler {
 public:
  explicit SchemaCompiler(SchemaProgram& program) : p_(program) {}

  // `depth`: containers around this value.
  uint16_t compile(const Json& schema, int depth, const std::string& where) {
    if (schema.is_boolean() && schema.get<bool>()) return add({SchemaNode::kAny, {}, {}, 0, 0, any_start()}, where);
    if (!schema.is_object()) throw error(where + " must be an object");
    check_keywords(schema, where);
    for (const char* key : {"anyOf", "oneOf"})
      if (schema.contains(key)) return compile_any_of(schema, key, depth, where);
    if (schema.contains("enum") || schema.contains("const")) return compile_enum(schema, where);
    const Json type = schema.contains("type")         ? schema["type"]
                      : schema.contains("properties") ? Json("object")
                      : schema.contains("items")      ? Json("array")
                                                      : Json();
    if (type.is_null()) return add({SchemaNode::kAny, {}, {}, 0, 0, any_start()}, where);  // {}: any value
    if (type.is_string()) return compile_type(schema, type.get<std::string>(), depth, where);
    if (!type.is_array() || type.empty()) throw error("'type' at " + where + " must be a string or a list of strings");
    std::vector<std::string> types;
    for (const auto& t : type) {
      if (!t.is_string()) throw error("'type' at " + where + " must be a string or a list of strings");
      types.push_back(t.get<std::string>());
    }
    // ["integer", "number"]: every integer is a number, and the two cannot be told apart by
    // their first byte.
    if (std::count(types.begin(), types.end(), "number")) std::erase(types, std::string("integer"));
    std::vector<uint16_t> branches;
    for (const std::string& t : types) branches.push_back(compile_type(schema, t, depth, where));
    return make_union(branches, "type", where);
  }

 private:
  static std::invalid_argument error(const std::string& what) { return std::invalid_argument("JSON schema: " + what); }
  static std::bitset<256> any_start() { return bytes_of("{[\"-0123456789tfn"); }

  uint16_t add(SchemaNode node, const std::string& where) {
    if (p_.nodes.size() >= kMaxSchemaNodes)
      throw error("more than " + std::to_string(kMaxSchemaNodes) + " schemas (the limit) at " + where);
    p_.nodes.push_back(std::move(node));
    return uint16_t(p_.nodes.size() - 1);
  }

  static void check_keywords(const Json& schema, const std::string& where) {
    static const char* const kHandled[] = {"type", "properties", "required", "items", "minItems", "maxItems",
                                           "enum", "const", "anyOf", "oneOf"};
    for (auto it = schema.begin(); it != schema.end(); ++it) {
      const std::string& key = it.key();
      if (is_annotation(key) || std::find(std::begin(kHandled), std::end(kHandled), key) != std::end(kHandled)) continue;
      throw error("'" + key + "' at " + where +
                  " is not supported (supported: type, properties, required, items, minItems, maxItems, enum, "
                  "const, anyOf, oneOf)");
    }
    for (const char* key : {"anyOf", "oneOf"})
      if (schema.contains(key))
        for (const auto& [other, value] : schema.items())
          if (other != key && !is_annotation(other))
            throw error("'" + other + "' next to '" + key + "' at " + where + " is not supported (put it in each branch)");
  }

  uint16_t compile_any_of(const Json& schema, const char* key, int depth, const std::string& where) {
    const Json& list = schema[key];
    if (!list.is_array() || list.empty()) throw error("'" + std::string(key) + "' at " + where + " must be a non-empty array");
    std::vector<uint16_t> branches;
    for (size_t i = 0; i < list.size(); ++i)
      branches.push_back(compile(list[i], depth, where + "." + key + "[" + std::to_string(i) + "]"));
    return make_union(branches, key, where);
  }

  // Nested unions are flattened and enums merged; then every branch must own its first bytes.
  uint16_t make_union(const std::vector<uint16_t>& branches, const std::string& key, const std::string& where) {
    std::vector<uint16_t> flat;
    std::vector<std::string> enum_values;
    for (uint16_t b : branches) {
      const SchemaNode& n = p_.nodes[b];
      if (n.kind == SchemaNode::kUnion) flat.insert(flat.end(), n.children.begin(), n.children.end());
      else flat.push_back(b);
    }
    std::vector<uint16_t> kept;
    for (uint16_t b : flat) {
      if (p_.nodes[b].kind != SchemaNode::kEnum) {
        kept.push_back(b);
        continue;
      }
      for (const std::string& v : p_.nodes[b].texts)
        if (std::find(enum_values.begin(), enum_values.end(), v) == enum_values.end()) enum_values.push_back(v);
    }
    if (!enum_values.empty()) kept.push_back(enum_node(enum_values, where));
    if (kept.size() == 1) return kept[0];
    SchemaNode u{SchemaNode::kUnion, {}, kept, 0, 0, {}};
    for (uint16_t b : kept) {
      const std::bitset<256> shared = u.first & p_.nodes[b].first;
      if (shared.any()) {
        size_t c = 0;
        while (!shared.test(c)) ++c;
        throw error("the alternatives of '" + key + "' at " + where + " can both start with '" +
                    std::string(1, char(c)) +
                    "' (supported: alternatives of different JSON types, e.g. a string or null)");
      }
      u.first |= p_.nodes[b].first;
    }
    return add(std::move(u), where);
  }

  uint16_t enum_node(const std::vector<std::string>& values, const std::string& where) {
    if (values.empty() || values.size() > kMaxEnumChoices)
      throw error("'enum' at " + where + " must be an array of 1 to 64 values");
    SchemaNode n{SchemaNode::kEnum, values, {}, 0, 0, {}};
    for (const std::string& v : values) n.first.set(uint8_t(v[0]));
    return add(std::move(n), where);
  }

  uint16_t compile_enum(const Json& schema, const std::string& where) {
    const Json values = schema.contains("const") ? Json::array({schema["const"]}) : schema["enum"];
    if (!values.is_array() || values.empty() || values.size() > kMaxEnumChoices)
      throw error("'enum' at " + where + " must be an array of 1 to 64 values");
    std::vector<std::string> types;  // with a type, only the values of that type are allowed
    if (schema.contains("type"))
      for (const auto& t : schema["type"].is_array() ? schema["type"] : Json::array({schema["type"]}))
        if (t.is_string()) types.push_back(t.get<std::string>());
    std::vector<std::string> texts;
    for (const auto& v : values) {
      const bool typed = !schema.contains("type") ||
                         std::any_of(types.begin(), types.end(), [&](const std::string& t) { return value_has_type(v, t); });
      const std::string text = v.dump();
      if (typed && std::find(texts.begin(), texts.end(), text) == texts.end()) texts.push_back(text);
    }
    if (texts.empty()) throw error("no value of 'enum' at " + where + " has the schema's 'type'");
    return enum_node(texts, where);
  }

  uint16_t compile_type(const Json& schema, const std::string& t, int depth, const std::string& where) {
    if (t == "string") return add({SchemaNode::kStringSlot, {}, {}, 0, 0, bytes_of("\"")}, where);
    if (t == "number") return add({SchemaNode::kNumber, {}, {}, 0, 0, kNumberStart}, where);
    if (t == "integer") return add({SchemaNode::kInteger, {}, {}, 0, 0, kNumberStart}, where);
    if (t == "boolean") return add({SchemaNode::kBoolean, {}, {}, 0, 0, bytes_of("tf")}, where);
    if (t == "null") return enum_node({"null"}, where);
    if (t != "object" && t != "array") throw error("type '" + t + "' at " + where + " is not supported");
    if (depth >= kMaxSchemaDepth)
      throw error("objects and arrays nested deeper than " + std::to_string(kMaxSchemaDepth) + " levels at " + where);
    return t == "object" ? compile_object(schema, depth, where) : compile_array(schema, depth, where);
  }

  uint16_t compile_object(const Json& schema, int depth, const std::string& where) {
    const Json properties = schema.value("properties", Json::object());
    if (!properties.is_object()) throw error("'properties' at " + where + " must be an object");
    const Json required = schema.value("required", Json::array());
    if (!required.is_array()) throw error("'required' at " + where + " must be an array");
    for (const auto& name : required)
      if (!name.is_string() || !properties.contains(name.get<std::string>()))
        throw error("required property " + name.dump() + " at " + where + " is not in 'properties'");
    SchemaNode n{SchemaNode::kObject, {}, {}, 0, 0, bytes_of("{")};
    for (const auto& [name, sub] : properties.items()) {
      // Every listed property is written (a valid instance whether required or not).
      std::string text = std::string(n.texts.empty() ? "{" : ",") + Json(name).dump() + ":";
      if (text.size() > 60000) throw error("property name too long at " + where);
      n.texts.push_back(std::move(text));
      n.children.push_back(compile(sub, depth + 1, where + "." + name));
    }
    n.texts.push_back(n.texts.empty() ? "{}" : "}");
    return add(std::move(n), where);
  }

  static uint32_t count_of(const Json& schema, const char* key, uint32_t fallback, const std::string& where) {
    if (!schema.contains(key)) return fallback;
    const Json& v = schema[key];
    if (!v.is_number_unsigned() || v.get<uint64_t>() > 1000000)
      throw error("'" + std::string(key) + "' at " + where + " must be an integer in [0, 1000000]");
    return uint32_t(v.get<uint64_t>());
  }

  uint16_t compile_array(const Json& schema, int depth, const std::string& where) {
    SchemaNode n{SchemaNode::kArray, {}, {}, count_of(schema, "minItems", 0, where),
                 count_of(schema, "maxItems", UINT32_MAX, where), bytes_of("[")};
    if (n.min_items > n.max_items) throw error("'minItems' above 'maxItems' at " + where);
    n.children.push_back(compile(schema.value("items", Json::object()), depth + 1, where + "[]"));
    return add(std::move(n), where);
  }

  SchemaProgram& p_;
};

// Where a frame stands: the node, the text position (objects) or phase (arrays), the property
// index (objects) or items so far (arrays).
struct Frame {
  uint16_t node;
  uint16_t pos;
  uint32_t index;
};
enum ArrayPhase : uint16_t { kBeforeOpen, kAfterOpen, kAfterItem, kInItem };

// The automaton's whole state: the JSON state, plus the frames of a schema program.
struct State {
  ParseState json;       // the document without a schema; the value slot on top with one
  uint32_t pos = 0;      // schema value slot: bytes into an enum; 1 once another slot has started
  uint64_t alive = 0;    // kEnum: choices still matching
  uint8_t depth = 0;     // frames in use (0 with a schema: complete)
  std::array<Frame, kMaxFrames> frames;
};

enum class Took { kYes, kNo, kPassOn };  // kPassOn: the frames changed, the byte is still to take

bool is_number_end(uint8_t mode) { return mode == kNumZero || mode == kNumInt || mode == kNumFrac || mode == kNumExp; }

void push_frame(State& s, uint16_t node) {
  s.frames[s.depth++] = Frame{node, 0, 0};
  s.pos = 0, s.alive = 0;
  s.json = ParseState{};
  s.json.mode = kDone;  // outside value slots the in-string fast path must not apply
}

// The value on top is complete: its container goes on.
void pop_frame(const SchemaProgram& p, State& s) {
  --s.depth;
  s.json.mode = kDone;
  if (s.depth == 0) return;
  Frame& parent = s.frames[s.depth - 1];
  ++parent.index;
  parent.pos = p.nodes[parent.node].kind == SchemaNode::kArray ? uint16_t(kAfterItem) : uint16_t(0);
}

Took object_step(const SchemaProgram& p, const SchemaNode& n, State& s, Frame& f, uint8_t b) {
  const std::string& text = n.texts[f.index];
  if (b != uint8_t(text[f.pos])) return Took::kNo;
  if (++f.pos == text.size()) {
    if (f.index < n.children.size()) push_frame(s, n.children[f.index]);
    else pop_frame(p, s);
  }
  return Took::kYes;
}

Took array_step(const SchemaProgram& p, const SchemaNode& n, State& s, Frame& f, uint8_t b) {
  if (f.pos == kBeforeOpen) {
    if (b != '[') return Took::kNo;
    f.pos = kAfterOpen;
    return Took::kYes;
  }
  if (b == ']' && f.index >= n.min_items) {
    pop_frame(p, s);
    return Took::kYes;
  }
  if (f.index >= n.max_items) return Took::kNo;
  if (f.pos == kAfterItem) {
    if (b != ',') return Took::kNo;
    f.pos = kInItem;
    push_frame(s, n.children[0]);
    return Took::kYes;
  }
  f.pos = kInItem;  // the first item starts with this byte
  push_frame(s, n.children[0]);
  return Took::kPassOn;
}

Took enum_step(const SchemaProgram& p, const SchemaNode& n, State& s, uint8_t b) {
  if (s.pos == 0) s.alive = n.texts.size() == 64 ? ~uint64_t{0} : (uint64_t{1} << n.texts.size()) - 1;
  uint64_t alive = 0;
  bool one_complete = false;
  for (size_t i = 0; i < n.texts.size(); ++i) {
    if (!((s.alive >> i) & 1u)) continue;
    const std::string& c = n.texts[i];
    if (c.size() == s.pos) one_complete = true;
    else if (uint8_t(c[s.pos]) == b) alive |= uint64_t{1} << i;
  }
  if (alive == 0) {
    if (!one_complete) return Took::kNo;
    pop_frame(p, s);  // e.g. enum [1, 12] after "1": the byte belongs to what follows
    return Took::kPassOn;
  }
  s.alive = alive, ++s.pos;
  bool all_complete = true;
  for (size_t i = 0; i < n.texts.size(); ++i)
    if (((alive >> i) & 1u) && n.texts[i].size() != s.pos) all_complete = false;
  if (all_complete) pop_frame(p, s);
  return Took::kYes;
}

Took slot_step(const SchemaProgram& p, const SchemaNode& n, State& s, uint8_t b) {
  if (s.pos == 0) {  // the first byte decides the type
    if (!n.first.test(b)) return Took::kNo;
    s.json = ParseState{};
    s.json.mode = kValue, s.pos = 1;
  } else if (n.kind == SchemaNode::kInteger && (b == '.' || b == 'e' || b == 'E')) {
    return Took::kNo;
  }
  ParseState v = s.json;
  if (step(v, b, kSlotLimits)) {
    if (n.kind == SchemaNode::kInteger && v.mode == kNumInt && v.count > kMaxInt64Digits) return Took::kNo;
    s.json = v;
    if (v.mode == kDone) pop_frame(p, s);
    return Took::kYes;
  }
  if (!is_number_end(s.json.mode) || s.json.depth != 0) return Took::kNo;
  pop_frame(p, s);  // a number ends at the first byte that cannot continue it
  return Took::kPassOn;
}

Took union_step(const SchemaProgram& p, const SchemaNode& n, State& s, Frame& f, uint8_t b) {
  for (uint16_t c : n.children)
    if (p.nodes[c].first.test(b)) {
      f = Frame{c, 0, 0};  // branches are never unions (flattened) and own their first bytes
      s.pos = 0, s.alive = 0;
      return Took::kPassOn;
    }
  return Took::kNo;
}

bool schema_step(const SchemaProgram& p, State& s, uint8_t b) {
  while (s.depth > 0) {  // ends: every kPassOn moves to a frame that takes or refuses b
    Frame& f = s.frames[s.depth - 1];
    const SchemaNode& n = p.nodes[f.node];
    Took took;
    switch (n.kind) {
      case SchemaNode::kObject: took = object_step(p, n, s, f, b); break;
      case SchemaNode::kArray: took = array_step(p, n, s, f, b); break;
      case SchemaNode::kUnion: took = union_step(p, n, s, f, b); break;
      case SchemaNode::kEnum: took = enum_step(p, n, s, b); break;
      default: took = slot_step(p, n, s, b);
    }
    if (took != Took::kPassOn) return took == Took::kYes;
  }
  return false;  // complete: nothing may follow
}

bool step_state(const SchemaProgram* program, State& s, uint8_t b, const Limits& lim) {
  return program ? schema_step(*program, s, b) : step(s.json, b, lim);
}

bool step_all(const SchemaProgram* program, State& s, std::string_view bytes, const Limits& lim) {
  for (char c : bytes)
    if (!step_state(program, s, uint8_t(c), lim)) return false;
  return true;
}

State start_state(const SchemaProgram* program) {
  State s;
  if (program) push_frame(s, program->root);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Byte trie over the vocabulary, in preorder: a node's subtree is [index, subtree_end), its
// first child (if any) is index + 1 and a child's next sibling starts at the child's
// subtree_end. Token ids are sorted by their bytes, so a subtree's tokens are one range of ids.

struct TrieNode {
  uint32_t subtree_end;
  uint32_t tokens_begin;     // Trie::ids range of the subtree's tokens...
  uint32_t tokens_here_end;  // ... [tokens_begin, tokens_here_end) end exactly at this node
  uint32_t tokens_end;
  uint8_t byte;              // edge from the parent
  bool plain_suffixes;       // every token below continues with complete, plain string text
};

struct VocabTrie {
  std::vector<TrieNode> nodes;
  std::vector<int32_t> ids;  // non-empty tokens, sorted by bytes
  // Inside a string at a character boundary (most steps of a long answer) the trie is not
  // needed: tokens of plain text are allowed outright and only the others are stepped.
  std::vector<uint8_t> in_string;      // by id: allowed from any such state (text, escapes, ...)
  std::vector<int32_t> closing_string;  // tokens that close the string: the context decides
};

bool in_string_mode(const ParseState& s) { return s.mode >= kString && s.mode <= kStringLowU; }


// Whether `bytes` can appear inside a string as is, starting and ending at character boundaries.
bool is_plain_text(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size();) {
    const uint8_t b = uint8_t(bytes[i++]);
    if (is_plain_ascii(b)) continue;
    uint8_t lo, hi;
    int more = utf8_lead(b, lo, hi);
    if (more == 0) return false;
    for (; more > 0; --more, lo = 0x80, hi = 0xBF) {
      if (i == bytes.size() || uint8_t(bytes[i]) < lo || uint8_t(bytes[i]) > hi) return false;
      ++i;
    }
  }
  return true;
}

class TrieBuilder {
 public:
  TrieBuilder(const std::vector<std::string>& bytes, VocabTrie& trie) : bytes_(bytes), trie_(trie) {}

  void build() {
    for (size_t i = 0; i < bytes_.size(); ++i)
      if (!bytes_[i].empty()) trie_.ids.push_back(int32_t(i));
    std::stable_sort(trie_.ids.begin(), trie_.ids.end(),
                     [&](int32_t a, int32_t b) { return bytes_[size_t(a)] < bytes_[size_t(b)]; });
    add_node(0, uint32_t(trie_.ids.size()), 0, 0);
    // From inside a string at a character boundary, a token that does not reach the closing
    // quote is allowed or refused whatever the surrounding document is.
    const Limits any_limits{64, 0, 0};
    trie_.in_string.assign(bytes_.size(), 0);
    for (int32_t id : trie_.ids) {
      const std::string& token = bytes_[size_t(id)];
      if (is_plain_text(token)) {
        trie_.in_string[size_t(id)] = 1;
        continue;
      }
      ParseState s;
      s.mode = kString, s.depth = 1, s.objects = 1;
      bool ok = true, closes = false;
      for (size_t i = 0; ok && !closes && i < token.size(); ++i) {
        ok = step(s, uint8_t(token[i]), any_limits);
        closes = ok && !in_string_mode(s);
      }
      if (closes) trie_.closing_string.push_back(id);
      else trie_.in_string[size_t(id)] = ok;
    }
    std::sort(trie_.closing_string.begin(), trie_.closing_string.end());
    // Children have larger indices than their parent, so a reverse sweep sees them first.
    for (size_t i = trie_.nodes.size(); i-- > 0;) trie_.nodes[i].plain_suffixes = suffixes_plain(uint32_t(i));
  }

 private:
  uint8_t byte_at(uint32_t k, size_t depth) const { return uint8_t(bytes_[size_t(trie_.ids[k])][depth]); }

  // Iterative over siblings, recursive over depth (bounded by the longest token).
  void add_node(uint32_t lo, uint32_t hi, size_t depth, uint8_t byte) {
    const uint32_t index = uint32_t(trie_.nodes.size());
    trie_.nodes.push_back({0, lo, lo, hi, byte, false});
    uint32_t k = lo;
    while (k < hi && bytes_[size_t(trie_.ids[k])].size() == depth) ++k;
    trie_.nodes[index].tokens_here_end = k;
    while (k < hi) {
      const uint8_t b = byte_at(k, depth);
      uint32_t end = k;
      while (end < hi && byte_at(end, depth) == b) ++end;
      add_node(k, end, depth + 1, b);
      k = end;
    }
    trie_.nodes[index].subtree_end = uint32_t(trie_.nodes.size());
  }

  template <class F>
  void for_children(uint32_t node, F f) const {
    for (uint32_t c = node + 1; c < trie_.nodes[node].subtree_end; c = trie_.nodes[c].subtree_end) f(c);
  }

  // `node` is reached by a UTF-8 byte with `more` continuation bytes still due, the next in
  // [lo, hi]: no token may end here and every path must finish the character, then be plain.
  bool continuation_plain(uint32_t node, int more, uint8_t lo, uint8_t hi) const {
    const TrieNode& n = trie_.nodes[node];
    if (n.tokens_here_end != n.tokens_begin) return false;
    bool ok = true;
    for_children(node, [&](uint32_t c) {
      const uint8_t b = trie_.nodes[c].byte;
      if (!ok) return;
      if (b < lo || b > hi) ok = false;
      else if (more == 1) ok = trie_.nodes[c].plain_suffixes;
      else ok = continuation_plain(c, more - 1, 0x80, 0xBF);
    });
    return ok;
  }

  bool suffixes_plain(uint32_t node) const {
    bool ok = true;
    for_children(node, [&](uint32_t c) {
      if (!ok) return;
      const uint8_t b = trie_.nodes[c].byte;
      uint8_t lo, hi;
      if (is_plain_ascii(b)) ok = trie_.nodes[c].plain_suffixes;
      else if (int more = utf8_lead(b, lo, hi)) ok = continuation_plain(c, more, lo, hi);
      else ok = false;
    });
    return ok;
  }

  const std::vector<std::string>& bytes_;
  VocabTrie& trie_;
};

// One trie per token_bytes vector, shared by every constraint built from it (server slots).
std::shared_ptr<const VocabTrie> trie_for(const std::shared_ptr<const std::vector<std::string>>& token_bytes) {
  using Entry = std::pair<std::weak_ptr<const std::vector<std::string>>, std::weak_ptr<const VocabTrie>>;
  static std::mutex mutex;
  static std::vector<Entry> cache;
  std::lock_guard lock(mutex);
  std::erase_if(cache, [](const Entry& e) { return e.first.expired() || e.second.expired(); });
  for (const Entry& e : cache)
    if (!e.first.owner_before(token_bytes) && !token_bytes.owner_before(e.first))
      if (auto trie = e.second.lock()) return trie;
  auto trie = std::make_shared<VocabTrie>();
  TrieBuilder(*token_bytes, *trie).build();
  cache.emplace_back(token_bytes, trie);
  return trie;
}

}  // namespace

struct JsonConstraint::Impl {
  std::shared_ptr<const std::vector<std::string>> token_bytes;
  std::shared_ptr<const VocabTrie> trie;
  std::vector<int32_t> end_tokens;
  Limits limits{};
  std::shared_ptr<const SchemaProgram> schema;  // null: any JSON object
  State state;
  // apply() scratch, kept to avoid an allocation per step.
  mutable std::vector<uint8_t> allowed;
  mutable std::vector<std::pair<uint32_t, State>> stack;

  bool complete() const { return complete(state); }
  // Whether `s` (this automaton's state, or one stepped ahead of it) ends the document.
  bool complete(const State& s) const { return schema ? s.depth == 0 : s.json.mode == kDone; }

  void walk_trie() const;
  bool is_end(int32_t token) const {
    return std::find(end_tokens.begin(), end_tokens.end(), token) != end_tokens.end();
  }
};

JsonConstraint::JsonConstraint(std::shared_ptr<const std::vector<std::string>> token_bytes,
                               std::vector<int32_t> end_tokens)
    : JsonConstraint(std::move(token_bytes), std::move(end_tokens), Options{}) {}

JsonConstraint::JsonConstraint(std::shared_ptr<const std::vector<std::string>> token_bytes,
                               std::vector<int32_t> end_tokens, Options options)
    : impl_(std::make_unique<Impl>()) {
  if (!token_bytes) throw std::invalid_argument("JsonConstraint: token_bytes is null");
  if (options.max_depth < 1 || options.max_depth > 64)
    throw std::invalid_argument("JsonConstraint: max_depth must be in [1, 64], got " + std::to_string(options.max_depth));
  if (options.max_whitespace_run < 0 || options.max_whitespace_run > 200 || options.max_line_breaks_in_run < 0 ||
      options.max_line_breaks_in_run > 200)
    throw std::invalid_argument("JsonConstraint: whitespace limits must be in [0, 200]");
  impl_->trie = trie_for(token_bytes);
  impl_->token_bytes = std::move(token_bytes);
  impl_->end_tokens = std::move(end_tokens);
  impl_->limits = {options.max_depth, options.max_whitespace_run, options.max_line_breaks_in_run};
}

JsonConstraint::~JsonConstraint() = default;
JsonConstraint::JsonConstraint(JsonConstraint&&) noexcept = default;
JsonConstraint& JsonConstraint::operator=(JsonConstraint&&) noexcept = default;

void JsonConstraint::apply(std::span<float> logits) const {
  const Impl& m = *impl_;
  const VocabTrie& trie = *m.trie;
  const size_t n_vocab = m.token_bytes->size();
  if (m.state.json.mode == kString) {
    m.allowed = trie.in_string;
    for (int32_t id : trie.closing_string) {
      State s = m.state;
      if (step_all(m.schema.get(), s, (*m.token_bytes)[size_t(id)], m.limits)) m.allowed[size_t(id)] = 1;
    }
  } else {
    m.walk_trie();
  }
  const bool done = complete();
  for (int32_t e : m.end_tokens)
    if (e >= 0 && size_t(e) < n_vocab) m.allowed[size_t(e)] = done;

  constexpr float kBanned = -std::numeric_limits<float>::infinity();
  const size_t n = std::min(logits.size(), n_vocab);
  for (size_t i = 0; i < n; ++i) logits[i] = m.allowed[i] ? logits[i] : kBanned;  // branch-free
  for (size_t i = n; i < logits.size(); ++i) logits[i] = kBanned;
}

// Marks in m.allowed every token whose bytes the automaton takes from m.state, walking the
// vocabulary trie so a shared prefix is stepped once.
void JsonConstraint::Impl::walk_trie() const {
  const VocabTrie& t = *trie;
  allowed.assign(token_bytes->size(), 0);
  auto allow_range = [&](uint32_t begin, uint32_t end) {
    for (uint32_t k = begin; k < end; ++k) allowed[size_t(t.ids[k])] = 1;
  };

  stack.clear();
  stack.emplace_back(0, state);
  while (!stack.empty()) {
    const auto [node, at_node] = stack.back();
    stack.pop_back();
    for (uint32_t c = node + 1; c < t.nodes[node].subtree_end; c = t.nodes[c].subtree_end) {
      const TrieNode& child = t.nodes[c];
      State s = at_node;
      if (!step_state(schema.get(), s, child.byte, limits)) continue;
      if (s.json.mode == kString && child.plain_suffixes) {
        allow_range(child.tokens_begin, child.tokens_end);  // the whole subtree stays in the string
        continue;
      }
      allow_range(child.tokens_begin, child.tokens_here_end);
      if (child.subtree_end > c + 1) stack.emplace_back(c, s);
    }
  }
}

bool JsonConstraint::allows(int32_t token) const {
  const Impl& m = *impl_;
  if (m.is_end(token)) return complete();
  if (token < 0 || size_t(token) >= m.token_bytes->size()) return false;
  const std::string& bytes = (*m.token_bytes)[size_t(token)];
  State s = m.state;
  return !bytes.empty() && step_all(m.schema.get(), s, bytes, m.limits);
}

void JsonConstraint::accept(int32_t token) {
  Impl& m = *impl_;
  if (m.is_end(token)) {
    if (!complete())
      throw std::invalid_argument("JsonConstraint: end token " + std::to_string(token) +
                                  " before the JSON object is complete");
    return;
  }
  State s = m.state;
  if (token < 0 || size_t(token) >= m.token_bytes->size() || (*m.token_bytes)[size_t(token)].empty() ||
      !step_all(m.schema.get(), s, (*m.token_bytes)[size_t(token)], m.limits))
    throw std::invalid_argument("JsonConstraint: token " + std::to_string(token) +
                                " cannot continue the JSON document here (sample with apply() first)");
  m.state = s;
}

bool JsonConstraint::complete() const { return impl_->complete(); }

bool JsonConstraint::completed_by(std::string_view bytes) const {
  const Impl& m = *impl_;
  State s = m.state;
  if (!step_all(m.schema.get(), s, bytes, m.limits)) return false;
  return m.complete(s);
}

void JsonConstraint::accept_bytes(std::string_view bytes) {
  Impl& m = *impl_;
  State s = m.state;
  if (!step_all(m.schema.get(), s, bytes, m.limits)) throw std::invalid_argument("JsonConstraint: bytes cannot continue the document");
  m.state = s;
}

void JsonConstraint::reset() { impl_->state = start_state(impl_->schema.get()); }

JsonConstraint JsonConstraint::for_schema(std::shared_ptr<const std::vector<std::string>> token_bytes,
                                          std::vector<int32_t> end_tokens, std::string_view schema_json) {
  nlohmann::ordered_json schema;
  // Copies and dumps of a json value recurse per nesting level (enum and const values are
  // copied whole), so a schema nested thousands deep would overflow the stack: bounded here,
  // as the nlohmann parser itself does not recurse.
  const auto depth_guard = [](int depth, nlohmann::ordered_json::parse_event_t event, nlohmann::ordered_json&) {
    using Event = nlohmann::ordered_json::parse_event_t;
    if ((event == Event::object_start || event == Event::array_start) && depth >= kMaxSchemaJsonDepth)
      throw std::invalid_argument("JSON schema: nested deeper than " + std::to_string(kMaxSchemaJsonDepth) +
                                  " levels of arrays and objects (the limit)");
    return true;
  };
  try {
    schema = nlohmann::ordered_json::parse(schema_json, depth_guard);
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("JSON schema: not valid JSON: ") + e.what());
  }
  auto program = std::make_shared<SchemaProgram>();
  program->root = SchemaCompiler(*program).compile(schema, 0, "$");
  // Objects and arrays end themselves; a number at the top level would never be complete.
  if ((program->nodes[program->root].first & ~bytes_of("{[")).any())
    throw std::invalid_argument("JSON schema: the top level must be an object or an array (\"type\": \"object\" or \"array\")");
  JsonConstraint c(std::move(token_bytes), std::move(end_tokens));
  c.impl_->schema = std::move(program);
  c.reset();
  return c;
}

std::shared_ptr<const std::vector<std::string>> JsonConstraint::token_bytes_of(const Tokenizer& tokenizer) {
  auto bytes = std::make_shared<std::vector<std::string>>(size_t(tokenizer.n_vocab()));
  for (int32_t id = 0; id < tokenizer.n_vocab(); ++id) {
    const TokenType type = tokenizer.token_type(id);
    if (type == TokenType::Normal || type == TokenType::Byte || type == TokenType::Undefined)
      (*bytes)[size_t(id)] = tokenizer.token_bytes(id);
  }
  return bytes;
}

}  // namespace st
