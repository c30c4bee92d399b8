#include "text/jinja/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "text/jinja/js_text.h"
#include "text/utf8.h"

namespace st::jinja {

// Small objects (messages, loop variables) are searched linearly; an index is built once an
// object grows past a few keys, so large ones (hostile data) stay O(1) per lookup.
constexpr size_t kIndexFrom = 16;

size_t Object::position(std::string_view key) const {
  if (index_.empty()) {
    for (size_t i = 0; i < entries_.size(); ++i)
      if (entries_[i].first == key) return i;
    return entries_.size();
  }
  const auto it = index_.find(std::string(key));
  return it == index_.end() ? entries_.size() : it->second;
}

const Value* Object::find(std::string_view key) const {
  const size_t i = position(key);
  return i < entries_.size() ? &entries_[i].second : nullptr;
}

void Object::set(const std::string& key, Value value) {
  const size_t i = position(key);
  if (i < entries_.size()) {  // an existing key keeps its position
    entries_[i].second = std::move(value);
    return;
  }
  entries_.emplace_back(key, std::move(value));
  if (!index_.empty()) {
    index_.emplace(key, entries_.size() - 1);
  } else if (entries_.size() >= kIndexFrom) {
    for (size_t j = 0; j < entries_.size(); ++j) index_.emplace(entries_[j].first, j);
  }
}

const Value* CallArgs::keyword(std::string_view name) const {
  for (const auto& [k, v] : keywords)
    if (k == name) return &v;
  return nullptr;
}

Value Value::null() {
  Value v;
  v.kind_ = Kind::kNull;
  return v;
}
Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.b_ = b;
  return v;
}
Value Value::integer(double n) {
  Value v;
  v.kind_ = Kind::kInt;
  v.n_ = n;
  return v;
}
Value Value::number(double n) {
  Value v;
  v.kind_ = Kind::kFloat;
  v.n_ = n;
  return v;
}
Value Value::string(std::string s) {
  Value v;
  v.kind_ = Kind::kString;
  v.s_ = std::move(s);
  return v;
}

namespace {
void check_depth(int depth) {
  if (depth > Value::kMaxDepth)
    throw TemplateError("values nested deeper than " + std::to_string(Value::kMaxDepth) + " levels");
}
}  // namespace

Value Value::array(Array items, bool tuple) {
  Value v;
  v.kind_ = tuple ? Kind::kTuple : Kind::kArray;
  int d = 0;
  for (const Value& x : items) d = std::max(d, x.depth_);
  v.depth_ = d + 1;
  check_depth(v.depth_);
  v.array_ = std::make_shared<const Array>(std::move(items));
  return v;
}
Value Value::object(Object o) {
  Value v;
  v.kind_ = Kind::kObject;
  int d = 0;
  for (const auto& e : o.entries()) d = std::max(d, e.second.depth_);
  v.depth_ = d + 1;
  check_depth(v.depth_);
  v.object_ = std::make_shared<const Object>(std::move(o));
  return v;
}
Value Value::name_space(Object* ns) {
  Value v;
  v.kind_ = Kind::kNamespace;
  v.depth_ = 1;
  v.ns_ = ns;
  return v;
}
Value Value::function(Function f) {
  Value v;
  v.kind_ = Kind::kFunction;
  v.fn_ = std::make_shared<const Function>(std::move(f));
  return v;
}

const void* Value::identity() const {
  switch (kind_) {
    case Kind::kArray:
    case Kind::kTuple: return array_.get();
    case Kind::kObject: return object_.get();
    case Kind::kNamespace: return ns_;
    case Kind::kFunction: return fn_.get();
    default: return nullptr;
  }
}

const char* Value::type_name() const {
  switch (kind_) {
    case Kind::kUndefined: return "UndefinedValue";
    case Kind::kNull: return "NullValue";
    case Kind::kBool: return "BooleanValue";
    case Kind::kInt: return "IntegerValue";
    case Kind::kFloat: return "FloatValue";
    case Kind::kString: return "StringValue";
    case Kind::kArray: return "ArrayValue";
    case Kind::kTuple: return "TupleValue";
    case Kind::kObject: return "ObjectValue";
    case Kind::kNamespace: return "NamespaceValue";
    case Kind::kFunction: return "FunctionValue";
  }
  return "?";
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNull: return false;
    case Kind::kBool: return b_;
    case Kind::kInt:
    case Kind::kFloat: return n_ != 0 && !std::isnan(n_);
    case Kind::kString: return !s_.empty();
    case Kind::kArray:
    case Kind::kTuple: return !array_->empty();
    case Kind::kObject: return object_->size() > 0;
    case Kind::kNamespace:
    case Kind::kFunction: return true;
  }
  return false;
}

std::string js_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v < 0 ? "-Infinity" : "Infinity";
  if (v == 0) return "0";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  const std::string sci(buf, res.ptr);  // [-]d[.ddd]e(+|-)xx
  const size_t e = sci.find('e');
  std::string mant = sci.substr(0, e);
  const int exp10 = std::stoi(sci.substr(e + 1));
  std::string sign;
  if (mant[0] == '-') {
    sign = "-";
    mant.erase(0, 1);
  }
  std::string digits;
  for (char c : mant)
    if (c != '.') digits += c;
  const int k = static_cast<int>(digits.size());
  const int n = exp10 + 1;  // value = 0.digits x 10^n
  std::string out;
  if (k <= n && n <= 21) {
    out = digits + std::string(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out = digits.substr(0, static_cast<size_t>(n)) + "." + digits.substr(static_cast<size_t>(n));
  } else if (-6 < n && n <= 0) {
    out = "0." + std::string(static_cast<size_t>(-n), '0') + digits;
  } else {
    out = digits.substr(0, 1);
    if (k > 1) out += "." + digits.substr(1);
    out += "e";
    out += n - 1 >= 0 ? "+" : "-";
    out += std::to_string(std::abs(n - 1));
  }
  return sign + out;
}

namespace {

std::string float_display(double v) {
  if (v == 0 && std::signbit(v)) return "-0.0";
  if (std::isfinite(v) && std::fmod(v, 1.0) == 0) {
    std::string s = js_number(v);
    return std::fabs(v) < 1e21 ? s + ".0" : s;  // toFixed(1)
  }
  return js_number(v);
}

void append_hex4(std::string& out, unsigned u) {
  char b[16];
  std::snprintf(b, sizeof b, "\\u%04x", u & 0xFFFFu);
  out += b;
}

// JSON.stringify of a string, optionally with every char >= U+007F escaped as UTF-16 units.
std::string json_quote(const std::string& s, bool ensure_ascii) {
  std::string out = "\"";
  for (char32_t c : js::code_points(s)) {
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      default: break;
    }
    if (c < 0x20) {
      append_hex4(out, c);
    } else if (ensure_ascii && c >= 0x7F) {
      if (c >= 0x10000) {
        append_hex4(out, 0xD800 + ((c - 0x10000) >> 10));
        append_hex4(out, 0xDC00 + ((c - 0x10000) & 0x3FF));
      } else {
        append_hex4(out, c);
      }
    } else {
      utf8::append(out, c);
    }
  }
  return out + "\"";
}

void json_into(std::string& out, const Value& v, const JsonOptions& o, int depth, bool undefined_as_null);

void json_container(std::string& out, const Value& v, const JsonOptions& o, int depth, bool undefined_as_null) {
  if (depth > Value::kMaxDepth) throw TemplateError("tojson: values nested deeper than " + std::to_string(Value::kMaxDepth) + " levels (a namespace that contains itself?)");
  static const std::string kComma = ",", kCommaSpace = ", ", kColonSpace = ": ";
  const std::string& item_sep = o.item_separator ? *o.item_separator : o.indent > 0 ? kComma : kCommaSpace;
  const std::string& key_sep = o.key_separator ? *o.key_separator : kColonSpace;
  const std::string unit(static_cast<size_t>(std::max(o.indent, 0)), ' ');
  std::string base = "\n";
  for (int i = 0; i < depth; ++i) base += unit;
  const std::string child = base + unit;
  if (v.is_array()) {
    const Array& a = v.items();
    out += '[';
    for (size_t i = 0; i < a.size(); ++i) {
      if (i) out += item_sep;
      if (o.indent > 0) out += child;
      json_into(out, a[i], o, depth + 1, undefined_as_null);
    }
    if (o.indent > 0 && !a.empty()) out += base;
    out += ']';
    return;
  }
  std::vector<const std::pair<std::string, Value>*> entries;
  for (const auto& e : (v.is_namespace() ? v.name_space() : v.obj()).entries()) entries.push_back(&e);
  if (o.sort_keys) std::stable_sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->first < b->first; });
  out += '{';
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i) out += item_sep;
    if (o.indent > 0) out += child;
    out += json_quote(entries[i]->first, o.ensure_ascii);
    out += key_sep;
    json_into(out, entries[i]->second, o, depth + 1, undefined_as_null);
  }
  if (o.indent > 0 && !entries.empty()) out += base;
  out += '}';
}

void json_into(std::string& out, const Value& v, const JsonOptions& o, int depth, bool undefined_as_null) {
  switch (v.kind()) {
    case Value::Kind::kNull: out += "null"; return;
    case Value::Kind::kUndefined: out += undefined_as_null ? "null" : "undefined"; return;
    case Value::Kind::kInt:
    case Value::Kind::kFloat: out += std::isfinite(v.as_number()) ? js_number(v.as_number()) : "null"; return;
    case Value::Kind::kBool: out += v.as_bool() ? "true" : "false"; return;
    case Value::Kind::kString: out += json_quote(v.str(), o.ensure_ascii); return;
    case Value::Kind::kArray:
    case Value::Kind::kObject:
    case Value::Kind::kNamespace: json_container(out, v, o, depth, undefined_as_null); return;
    case Value::Kind::kTuple:  // the reference has no JSON form for tuples
    case Value::Kind::kFunction: break;
  }
  throw TemplateError(std::string("Cannot convert to JSON: ") + v.type_name());
}

std::string js_string_depth(const Value& v, int depth);

std::string display_depth(const Value& v, int depth) {
  switch (v.kind()) {
    case Value::Kind::kFloat: return float_display(v.as_number());
    case Value::Kind::kArray:
    case Value::Kind::kTuple:
    case Value::Kind::kObject:
    case Value::Kind::kNamespace: return to_json(v, JsonOptions{}, false);
    default: return js_string_depth(v, depth);
  }
}

std::string js_string_depth(const Value& v, int depth) {
  if (depth > Value::kMaxDepth) throw TemplateError("values nested deeper than " + std::to_string(Value::kMaxDepth) + " levels");
  switch (v.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNull: return "undefined";
    case Value::Kind::kBool: return v.as_bool() ? "true" : "false";
    case Value::Kind::kInt:
    case Value::Kind::kFloat: return js_number(v.as_number());
    case Value::Kind::kString: return v.str();
    case Value::Kind::kArray:
    case Value::Kind::kTuple: {  // Array.prototype.toString over the runtime values
      std::string out;
      for (size_t i = 0; i < v.items().size(); ++i) {
        if (i) out += ',';
        out += display_depth(v.items()[i], depth + 1);
      }
      return out;
    }
    case Value::Kind::kObject:
    case Value::Kind::kNamespace: return "[object Map]";
    case Value::Kind::kFunction: return "[function]";
  }
  return "";
}

}  // namespace

std::string to_json(const Value& v, const JsonOptions& options, bool undefined_as_null) {
  std::string out;
  json_into(out, v, options, 0, undefined_as_null);
  return out;
}

std::string display(const Value& v) { return display_depth(v, 0); }
std::string js_string(const Value& v) { return js_string_depth(v, 0); }

namespace {

// The JavaScript primitive a value's .value is for ==: numbers, strings, booleans, undefined.
enum class Prim { kUndef, kNum, kStr, kBool, kRef };

Prim prim(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNull: return Prim::kUndef;  // NullValue's value is undefined in the reference
    case Value::Kind::kInt:
    case Value::Kind::kFloat: return Prim::kNum;
    case Value::Kind::kString: return Prim::kStr;
    case Value::Kind::kBool: return Prim::kBool;
    default: return Prim::kRef;
  }
}

double num_of(const Value& v) {
  if (v.kind() == Value::Kind::kBool) return v.as_bool() ? 1 : 0;
  if (v.is_string()) return js::to_number(v.str());
  return v.as_number();
}

}  // namespace

bool strict_equal(const Value& a, const Value& b) {
  const Prim pa = prim(a), pb = prim(b);
  if (pa != pb) return false;
  switch (pa) {
    case Prim::kUndef: return true;
    case Prim::kNum: return a.as_number() == b.as_number();
    case Prim::kStr: return a.str() == b.str();
    case Prim::kBool: return a.as_bool() == b.as_bool();
    case Prim::kRef: return a.identity() == b.identity();
  }
  return false;
}

bool loose_equal(const Value& a, const Value& b) {
  const Prim pa = prim(a), pb = prim(b);
  if (pa == pb) return strict_equal(a, b);
  if (pa == Prim::kUndef || pb == Prim::kUndef) return false;
  if (pa == Prim::kRef || pb == Prim::kRef) {
    // An object against a primitive compares its string form (arrays join with ",").
    const Value& obj = pa == Prim::kRef ? a : b;
    const Value& other = pa == Prim::kRef ? b : a;
    if (obj.is_function()) return false;
    return loose_equal(Value::string(js_string(obj)), other);
  }
  if (pa == Prim::kStr && pb == Prim::kStr) return a.str() == b.str();
  return num_of(a) == num_of(b);  // numbers, booleans and numeric strings compare as numbers
}

}  // namespace st::jinja
