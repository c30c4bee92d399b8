// Filters, tests, the methods of strings and dicts, and the global functions, with the
// behaviour of @huggingface/jinja (what it does not support is an error here too).
#pragma once
#include <string>

#include "text/jinja/ast.h"
#include "text/jinja/value.h"

namespace st::jinja {

inline constexpr size_t kMaxListLength = 100'000;  // range(), list concatenation

// `value | name` (args == nullptr) or `value | name(args)`; `call` is the filter's call node
// (selectattr/rejectattr accept only string-literal arguments).
Value apply_filter(const Value& operand, const std::string& name, CallArgs* args, const Node* call);
// `value is name`; throws for an unknown test.
bool apply_test(const std::string& name, const Value& v);
// object.name / object[key], including the methods of strings and dicts; undefined if absent.
Value get_member(const Value& object, const Value& key);
// The attribute path "a.b.0" of map(attribute=) and sort(attribute=).
Value attribute_path(const Value& item, const std::string& path);
// raise_exception, range, strftime_now, namespace: `new_namespace` allocates in the render's heap.
Value global_function(const std::string& name, const std::function<Object*()>& new_namespace);

}  // namespace st::jinja
