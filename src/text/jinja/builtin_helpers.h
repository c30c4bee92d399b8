// Internal to the interpreter: what the filters (filters.cpp) and the methods, tests and
// global functions (methods.cpp) share.
#pragma once
#include <string>
#include <vector>

#include "text/jinja/value.h"

namespace st::jinja {

[[noreturn]] inline void fail(const std::string& what) { throw TemplateError(what); }

// A number used as a count or width, clamped into [lo, hi] (NaN counts as lo).
inline long long clamp_count(double v, long long lo, long long hi) {
  if (!(v > static_cast<double>(lo))) return lo;
  return v < static_cast<double>(hi) ? static_cast<long long>(v) : hi;
}

inline bool is_container(const Value& v) { return v.is_object() || v.is_namespace(); }
inline const Object& entries_of(const Value& v) { return v.is_namespace() ? v.name_space() : v.obj(); }

// Positional argument i, else the keyword argument of that name; null if neither was given.
const Value* arg(const CallArgs& a, size_t i, const char* keyword = nullptr);
// A boolean option (absent: false); throws "<what> must be a boolean" for anything else.
bool flag(const Value* v, const char* what);
// String(x.value) inside Array.prototype.join: null and undefined join as "".
std::string join_piece(const Value& v);
std::string join(const Array& items, const std::string& sep);
// compareRuntimeValues of the reference (sort, dictsort): numbers, booleans, strings.
int compare(const Value& a, const Value& b, bool case_sensitive);

Value object_items(const Object& o);
bool is_object_method(const std::string& name);  // get, items, keys, values, dictsort
// The methods of dicts (also reachable as filters: `d | items`, `d | dictsort`).
Value object_method(const Value& self, const std::string& name, const CallArgs& a);
Value string_method(const std::string& s, const std::string& name, const CallArgs& a);
Value string_member(const Value& self, const std::string& name);  // a bound method, or length
// str.replace(old, new[, count]): count positional, or in a trailing keyword mapping.
Value string_replace(const std::string& s, const std::vector<Value>& argv);

}  // namespace st::jinja
