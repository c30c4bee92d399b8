// Runtime values of the chat-template interpreter.
//
// The semantics follow @huggingface/jinja (the reference the tests compare against byte for
// byte), which models Jinja's Python values on JavaScript ones: every number is a double, and
// an "integer" is a number that was written or computed as one (it prints as "3", a float
// prints as "3.0"); objects keep their insertion order; arrays and objects are immutable once
// built, so they are shared (and compared by identity, like JavaScript's ==); a namespace is
// the one mutable value and lives in the render's arena (Heap), so reference cycles through
// it cannot leak.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace st::jinja {

// Any error while lexing, parsing or rendering a template; the message names the problem.
class TemplateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Value;
struct CallArgs;
using Array = std::vector<Value>;

// An insertion-ordered string-keyed map (JavaScript's Map).
class Object {
 public:
  const Value* find(std::string_view key) const;
  void set(const std::string& key, Value value);  // an existing key keeps its position
  const std::vector<std::pair<std::string, Value>>& entries() const { return entries_; }
  size_t size() const;  // defined after Value: a vector of pairs needs Value complete (clang)

 private:
  size_t position(std::string_view key) const;  // size() if absent

  std::vector<std::pair<std::string, Value>> entries_;
  std::unordered_map<std::string, size_t> index_;  // built once the object has 16 keys
};

using Function = std::function<Value(CallArgs&)>;

class Value {
 public:
  enum class Kind { kUndefined, kNull, kBool, kInt, kFloat, kString, kArray, kTuple, kObject, kNamespace, kFunction };

  Value() = default;  // undefined
  static Value null();
  static Value boolean(bool b);
  static Value integer(double v);
  static Value number(double v);  // a float
  static Value string(std::string s);
  static Value array(Array items, bool tuple = false);
  static Value object(Object o);
  static Value name_space(Object* ns);  // owned by the render's Heap
  static Value function(Function f);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat; }
  bool is_array() const { return kind_ == Kind::kArray || kind_ == Kind::kTuple; }
  bool is_object() const { return kind_ == Kind::kObject; }
  bool is_namespace() const { return kind_ == Kind::kNamespace; }
  bool is_function() const { return kind_ == Kind::kFunction; }

  bool as_bool() const { return b_; }
  double as_number() const { return n_; }
  const std::string& str() const { return s_; }
  const Array& items() const { return *array_; }
  const Object& obj() const { return *object_; }
  Object& name_space() const { return *ns_; }
  const Function& fn() const { return *fn_; }
  // Identity of the shared payload (arrays, objects, namespaces, functions).
  const void* identity() const;

  const char* type_name() const;  // as the reference names types in errors ("StringValue", ...)
  bool truthy() const;
  // Nesting of arrays and objects (0 for scalars); building one deeper than kMaxDepth throws,
  // so printing and destroying values never recurse without bound.
  int depth() const { return depth_; }
  static constexpr int kMaxDepth = 200;

 private:
  Kind kind_ = Kind::kUndefined;
  int depth_ = 0;
  bool b_ = false;
  double n_ = 0;
  std::string s_;
  std::shared_ptr<const Array> array_;
  std::shared_ptr<const Object> object_;
  Object* ns_ = nullptr;
  std::shared_ptr<const Function> fn_;
};

inline size_t Object::size() const { return entries_.size(); }

// Positional arguments, then keyword arguments (in call order) if any were given.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keywords;
  Value caller;  // the body of a {% call %} block, for the macro it calls
  const Value* keyword(std::string_view name) const;
};

// --- JavaScript-compatible text conversions -------------------------------------------------

// Number.prototype.toString: shortest round-trip digits, "1e+21", "NaN", "Infinity".
std::string js_number(double v);
// How {{ value }} prints a value (floats keep ".0", arrays and objects print as JSON).
std::string display(const Value& v);
// JavaScript's String(value.value): what `~`, `+` and join use (3.0 prints "3", arrays "a,b").
std::string js_string(const Value& v);

struct JsonOptions {
  int indent = 0;  // 0: one line
  bool ensure_ascii = false;
  bool sort_keys = false;
  const std::string* item_separator = nullptr;  // null: ", " (or "," with indent)
  const std::string* key_separator = nullptr;   // null: ": "
};
// tojson. undefined_as_null = false prints undefined as "undefined" (display of containers).
std::string to_json(const Value& v, const JsonOptions& options, bool undefined_as_null = true);

// JavaScript's == and === on the values (objects by identity).
bool loose_equal(const Value& a, const Value& b);
bool strict_equal(const Value& a, const Value& b);

}  // namespace st::jinja
