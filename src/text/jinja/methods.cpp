// The methods of strings and dicts, attribute access, tests and the global functions, with
// the behaviour of @huggingface/jinja.
#include <algorithm>
#include <cmath>
#include <ctime>

#include "text/jinja/builtin_helpers.h"
#include "text/jinja/builtins.h"
#include "text/jinja/js_text.h"

namespace st::jinja {
namespace {

using K = Value::Kind;

Value pair(const std::string& k, const Value& v) { return Value::array({Value::string(k), v}); }

Value dictsort(const Object& o, const CallArgs& a) {
  const bool case_sensitive = flag(arg(a, 0, "case_sensitive"), "case_sensitive");
  const Value* by = arg(a, 1, "by");
  if (by && !by->is_string()) fail("by must be a string");
  const std::string by_s = by ? by->str() : "key";
  if (by_s != "key" && by_s != "value") fail("by must be either 'key' or 'value'");
  const bool reverse = flag(arg(a, 2, "reverse"), "reverse");
  Array items = object_items(o).items();
  const size_t idx = by_s == "key" ? 0 : 1;
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    const int r = compare(x.items()[idx], y.items()[idx], case_sensitive);
    return reverse ? r > 0 : r < 0;
  });
  return Value::array(std::move(items));
}

// Method arguments as the reference passes them: keywords as one trailing mapping.
std::vector<Value> method_args(const CallArgs& a) {
  std::vector<Value> v = a.positional;
  if (!a.keywords.empty()) {
    Object kw;
    for (const auto& [k, x] : a.keywords) kw.set(k, x);
    v.push_back(Value::object(std::move(kw)));
  }
  return v;
}

bool starts_or_ends(const std::string& s, const std::vector<Value>& argv, bool start, const char* name) {
  if (argv.empty()) fail(std::string(name) + "() requires at least one argument");
  auto test = [&](const std::string& p) {
    return start ? s.compare(0, p.size(), p) == 0 && s.size() >= p.size()
                 : s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
  };
  if (argv[0].is_string()) return test(argv[0].str());
  if (argv[0].is_array()) {
    for (const Value& x : argv[0].items()) {
      if (!x.is_string()) fail(std::string(name) + "() tuple elements must be strings");
      if (test(x.str())) return true;
    }
    return false;
  }
  fail(std::string(name) + "() argument must be a string or tuple of strings");
}

Value string_split(const std::string& s, const std::vector<Value>& argv) {
  const Value sep = argv.size() > 0 ? argv[0] : Value::null();
  if (!sep.is_string() && !sep.is_null()) fail("sep argument must be a string or null");
  const Value maxsplit = argv.size() > 1 ? argv[1] : Value::integer(-1);
  if (maxsplit.kind() != K::kInt) fail("maxsplit argument must be a number");
  const auto max = clamp_count(maxsplit.as_number(), -1, 1000000000000000LL);
  std::vector<std::string> parts;
  if (sep.is_null()) {
    parts = js::split_whitespace(s, max);
  } else {
    if (sep.str().empty()) fail("empty separator");
    parts = js::split(s, sep.str());
    if (max >= 0 && static_cast<long long>(parts.size()) > max) {
      std::string rest;
      for (size_t i = static_cast<size_t>(max); i < parts.size(); ++i) {
        if (i > static_cast<size_t>(max)) rest += sep.str();
        rest += parts[i];
      }
      parts.resize(static_cast<size_t>(max));
      parts.push_back(rest);
    }
  }
  Array out;
  for (auto& p : parts) out.push_back(Value::string(std::move(p)));
  return Value::array(std::move(out));
}

const char* const kStringMethods[] = {"upper", "lower", "strip", "title", "capitalize", "rstrip",
                                      "lstrip", "startswith", "endswith", "split", "replace"};

std::string strftime_now(const std::string& format) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  static const char* const kShort[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  static const char* const kLong[] = {"January", "February", "March",     "April",   "May",      "June",
                                      "July",    "August",   "September", "October", "November", "December"};
  auto pad2 = [](int n) {
    std::string s = n < 10 ? "0" : "";
    s += std::to_string(n);
    return s;
  };
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%' || i + 1 >= format.size()) {
      out += format[i];
      continue;
    }
    const char c = format[i + 1];
    switch (c) {
      case 'Y': out += std::to_string(tm.tm_year + 1900); break;
      case 'm': out += pad2(tm.tm_mon + 1); break;
      case 'd': out += pad2(tm.tm_mday); break;
      case 'b': out += kShort[tm.tm_mon]; break;
      case 'B': out += kLong[tm.tm_mon]; break;
      case 'H': out += pad2(tm.tm_hour); break;
      case 'M': out += pad2(tm.tm_min); break;
      case '%': out += '%'; break;
      default: out += format[i]; continue;  // not a directive: keep the '%' and read on
    }
    ++i;
  }
  return out;
}

Value range(const CallArgs& a) {
  for (const Value& v : a.positional)
    if (!v.is_number()) fail(std::string("range() arguments must be numbers, got ") + v.type_name());
  double start = 0, stop = 0, step = 1;
  if (a.positional.size() == 1) {
    stop = a.positional[0].as_number();
  } else if (a.positional.size() >= 2) {
    start = a.positional[0].as_number();
    stop = a.positional[1].as_number();
    if (a.positional.size() >= 3) step = a.positional[2].as_number();
  } else {
    fail("range() expects at least one argument");
  }
  if (step == 0) fail("range() step must not be zero");
  const double count = std::ceil((stop - start) / step);
  if (count > static_cast<double>(kMaxListLength))  // refused before allocating
    fail("range() would make more than " + std::to_string(kMaxListLength) + " items");
  Array out;
  for (double i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (out.size() >= kMaxListLength) fail("range() would make more than " + std::to_string(kMaxListLength) + " items");
    out.push_back(std::floor(i) == i ? Value::integer(i) : Value::number(i));
  }
  return Value::array(std::move(out));
}

Value make_namespace(const CallArgs& a, Object* ns) {
  if (a.positional.size() > 1)
    fail("namespace expected at most 1 argument, got " + std::to_string(a.positional.size()));
  if (a.positional.size() == 1) {
    const Value& src = a.positional[0];
    if (src.is_object()) {
      for (const auto& [k, v] : src.obj().entries()) ns->set(k, v);
    } else if (src.is_array()) {
      for (const Value& p : src.items()) {
        if (!p.is_array() || p.items().size() != 2)
          fail("namespace expected an object or an iterable of [key, value] pairs");
        if (!p.items()[0].is_string()) fail("namespace keys must be strings");
        ns->set(p.items()[0].str(), p.items()[1]);
      }
    } else {
      fail(std::string("'") + src.type_name() + "' object is not iterable");
    }
  }
  for (const auto& [k, v] : a.keywords) ns->set(k, v);
  return Value::name_space(ns);
}

}  // namespace

const Value* arg(const CallArgs& a, size_t i, const char* keyword) {
  if (i < a.positional.size()) return &a.positional[i];
  return keyword ? a.keyword(keyword) : nullptr;
}

std::string join_piece(const Value& v) { return v.is_null() || v.is_undefined() ? "" : js_string(v); }

std::string join(const Array& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += join_piece(items[i]);
  }
  return out;
}

int compare(const Value& a, const Value& b, bool case_sensitive) {
  if (a.is_null() && b.is_null()) return 0;
  if (a.is_null() || b.is_null()) fail(std::string("Cannot compare ") + a.type_name() + " with " + b.type_name());
  if (a.is_undefined() && b.is_undefined()) return 0;
  if (a.is_undefined() || b.is_undefined()) fail(std::string("Cannot compare ") + a.type_name() + " with " + b.type_name());
  auto numeric = [](const Value& v) { return v.is_number() || v.kind() == K::kBool; };
  auto num = [](const Value& v) { return v.kind() == K::kBool ? (v.as_bool() ? 1.0 : 0.0) : v.as_number(); };
  if (numeric(a) && numeric(b)) return num(a) < num(b) ? -1 : num(a) > num(b) ? 1 : 0;
  if (a.kind() != b.kind()) fail(std::string("Cannot compare different types: ") + a.type_name() + " and " + b.type_name());
  if (!a.is_string()) fail(std::string("Cannot compare type: ") + a.type_name());
  const std::string x = case_sensitive ? a.str() : js::lower(a.str());
  const std::string y = case_sensitive ? b.str() : js::lower(b.str());
  return x < y ? -1 : x > y ? 1 : 0;
}

Value object_items(const Object& o) {
  Array out;
  for (const auto& [k, v] : o.entries()) out.push_back(pair(k, v));
  return Value::array(std::move(out));
}

bool flag(const Value* v, const char* what) {
  if (!v) return false;
  if (v->kind() != K::kBool) fail(std::string(what) + " must be a boolean");
  return v->as_bool();
}

bool is_object_method(const std::string& name) {
  return name == "get" || name == "items" || name == "keys" || name == "values" || name == "dictsort";
}

Value object_method(const Value& self, const std::string& name, const CallArgs& a) {
  const Object& o = self.obj();
  if (name == "get") {
    const Value* key = arg(a, 0);
    if (!key || !key->is_string()) fail(std::string("Object key must be a string: got ") + (key ? key->type_name() : "undefined"));
    if (const Value* v = o.find(key->str())) return *v;
    const Value* def = arg(a, 1);
    return def ? *def : Value::null();
  }
  if (name == "items") return object_items(o);
  if (name == "keys" || name == "values") {
    Array out;
    for (const auto& [k, v] : o.entries()) out.push_back(name == "keys" ? Value::string(k) : v);
    return Value::array(std::move(out));
  }
  if (name == "dictsort") return dictsort(o, a);
  fail("Unknown ObjectValue filter: " + name);
}

Value string_replace(const std::string& s, const std::vector<Value>& argv) {
  if (argv.size() < 2) fail("replace() requires at least two arguments");
  if (!argv[0].is_string() || !argv[1].is_string()) fail("replace() arguments must be strings");
  Value count = Value::null();
  if (argv.size() > 2) {
    if (argv[2].is_object()) {
      const Value* c = argv[2].obj().find("count");
      if (c) count = *c;
    } else {
      count = argv[2];
    }
  }
  if (count.kind() != K::kInt && !count.is_null()) fail("replace() count argument must be a number or null");
  const long long n = count.is_null() ? -1 : clamp_count(count.as_number(), -1, 1000000000000000LL);
  return Value::string(js::replace(s, argv[0].str(), argv[1].str(), n));
}

Value string_method(const std::string& s, const std::string& name, const CallArgs& a) {
  const std::vector<Value> argv = method_args(a);
  if (name == "upper") return Value::string(js::upper(s));
  if (name == "lower") return Value::string(js::lower(s));
  if (name == "strip") return Value::string(js::trim(s, true, true));
  if (name == "lstrip") return Value::string(js::trim(s, true, false));
  if (name == "rstrip") return Value::string(js::trim(s, false, true));
  if (name == "title") return Value::string(js::title(s));
  if (name == "capitalize") return Value::string(js::capitalize(s));
  if (name == "startswith" || name == "endswith")
    return Value::boolean(starts_or_ends(s, argv, name == "startswith", name.c_str()));
  if (name == "split") return string_split(s, argv);
  if (name == "replace") return string_replace(s, argv);
  fail("Unknown StringValue method: " + name);
}

Value string_member(const Value& self, const std::string& name) {
  if (name == "length") return Value::integer(static_cast<double>(js::utf16_length(self.str())));
  for (const char* m : kStringMethods) {
    if (name == m) {
      std::string s = self.str();
      return Value::function([s = std::move(s), name](CallArgs& a) { return string_method(s, name, a); });
    }
  }
  return Value();
}

bool apply_test(const std::string& name, const Value& v) {
  const K k = v.kind();
  if (name == "boolean") return k == K::kBool;
  if (name == "callable") return k == K::kFunction;
  if (name == "odd" || name == "even") {
    if (k != K::kInt) fail("cannot " + name + " on " + v.type_name());
    const bool odd = std::fmod(v.as_number(), 2) != 0;
    return name == "odd" ? odd : !odd;
  }
  if (name == "false") return k == K::kBool && !v.as_bool();
  if (name == "true") return k == K::kBool && v.as_bool();
  if (name == "none") return k == K::kNull;
  if (name == "string") return k == K::kString;
  if (name == "number") return v.is_number();
  if (name == "integer") return k == K::kInt;
  if (name == "iterable") return k == K::kArray || k == K::kString;
  if (name == "mapping") return k == K::kObject;
  if (name == "sequence") return v.is_array() || k == K::kObject || k == K::kString;
  if (name == "lower") return k == K::kString && v.str() == js::lower(v.str());
  if (name == "upper") return k == K::kString && v.str() == js::upper(v.str());
  if (name == "defined") return k != K::kUndefined;
  if (name == "undefined") return k == K::kUndefined;
  if (name == "equalto" || name == "eq") return strict_equal(v, Value());
  fail("Unknown test: " + name);
}

Value get_member(const Value& object, const Value& key) {
  if (is_container(object)) {
    if (!key.is_string()) fail(std::string("Cannot access property with non-string: got ") + key.type_name());
    if (const Value* v = entries_of(object).find(key.str())) return *v;
    if (object.is_object() && is_object_method(key.str())) {
      const std::string name = key.str();
      return Value::function([object, name](CallArgs& a) { return object_method(object, name, a); });
    }
    return Value();
  }
  if (object.is_array() || object.is_string()) {
    if (key.kind() == K::kInt) {
      const double i = key.as_number();
      if (!(std::fabs(i) < 1e15)) return Value();  // also NaN and infinities: no such index
      if (object.is_string()) {
        std::string c;
        return js::char_at(object.str(), static_cast<long long>(i), c) ? Value::string(c) : Value();
      }
      const auto n = static_cast<long long>(object.items().size());
      long long idx = static_cast<long long>(i);
      if (idx < 0) idx += n;
      return idx >= 0 && idx < n ? object.items()[static_cast<size_t>(idx)] : Value();
    }
    if (key.is_string()) {
      if (object.is_string()) return string_member(object, key.str());
      return key.str() == "length" ? Value::integer(static_cast<double>(object.items().size())) : Value();
    }
    fail(std::string("Cannot access property with non-string/non-number: got ") + key.type_name());
  }
  if (!key.is_string()) fail(std::string("Cannot access property with non-string: got ") + key.type_name());
  return Value();
}

Value attribute_path(const Value& item, const std::string& path) {
  Value v = item;
  for (const std::string& part : js::split(path, ".")) {
    if (is_container(v)) {
      const Value* x = entries_of(v).find(part);
      v = x ? *x : Value();
    } else if (v.is_array()) {
      const double i = js::parse_int(part);
      if (std::isnan(i) || i < 0 || i >= static_cast<double>(v.items().size())) return Value();
      v = Value(v.items()[static_cast<size_t>(i)]);
    } else {
      return Value();
    }
  }
  return v;
}

Value global_function(const std::string& name, const std::function<Object*()>& new_namespace) {
  if (name == "raise_exception")
    return Value::function([](CallArgs& a) -> Value {
      std::string msg;
      for (size_t i = 0; i < a.positional.size(); ++i) {
        if (i) msg += ',';
        msg += join_piece(a.positional[i]);
      }
      throw TemplateError("the template raised an exception: " + msg);
    });
  if (name == "range") return Value::function([](CallArgs& a) { return range(a); });
  if (name == "strftime_now")
    return Value::function([](CallArgs& a) {
      if (a.positional.empty() || !a.positional[0].is_string()) fail("strftime_now() expects a format string");
      return Value::string(strftime_now(a.positional[0].str()));
    });
  if (name == "namespace")
    return Value::function([new_namespace](CallArgs& a) { return make_namespace(a, new_namespace()); });
  return Value();
}

}  // namespace st::jinja
