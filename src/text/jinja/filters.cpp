// The filters (`value | name`, `value | name(args)`), with the behaviour of @huggingface/jinja.
#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "text/jinja/builtin_helpers.h"
#include "text/jinja/builtins.h"
#include "text/jinja/js_text.h"

namespace st::jinja {
namespace {

using K = Value::Kind;

// Deduplicates like a JavaScript Set over the runtime values' .value.
Value unique(const Array& items) {
  std::unordered_set<std::string> seen;
  Array out;
  for (const Value& v : items) {
    // One key per JavaScript Set element: a type letter, then the value (or the identity).
    std::string key(1, 'u');
    switch (v.kind()) {
      case K::kUndefined:
      case K::kNull: break;
      case K::kBool: key[0] = v.as_bool() ? 't' : 'f'; break;
      case K::kInt:
      case K::kFloat:
        key[0] = 'n';
        key += js_number(v.as_number() == 0 ? 0.0 : v.as_number());
        break;
      case K::kString:
        key[0] = 's';
        key += v.str();
        break;
      default:
        key[0] = 'r';
        key += std::to_string(reinterpret_cast<uintptr_t>(v.identity()));
    }
    if (seen.insert(key).second) out.push_back(v);
  }
  return Value::array(std::move(out));
}

Value sort_array(const Array& items, const CallArgs* a) {
  bool reverse = false, case_sensitive = false;
  Value attribute = Value::null();
  if (a) {
    reverse = flag(arg(*a, 0, "reverse"), "reverse");
    case_sensitive = flag(arg(*a, 1, "case_sensitive"), "case_sensitive");
    if (const Value* at = arg(*a, 2, "attribute")) attribute = *at;
    if (!attribute.is_string() && attribute.kind() != K::kInt && !attribute.is_null())
      fail("attribute must be a string, integer, or null");
  }
  auto key = [&](const Value& v) {
    if (attribute.is_null()) return v;
    return attribute_path(v, attribute.is_string() ? attribute.str() : js_number(attribute.as_number()));
  };
  Array out = items;
  std::stable_sort(out.begin(), out.end(), [&](const Value& x, const Value& y) {
    const int r = compare(key(x), key(y), case_sensitive);
    return reverse ? r > 0 : r < 0;
  });
  return Value::array(std::move(out));
}

std::string indent(const std::string& s, const std::string& pad, bool first, bool blank) {
  const auto lines = js::split(s, "\n");
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) out += '\n';
    const bool keep = (!first && i == 0) || (!blank && lines[i].empty());
    out += keep ? lines[i] : pad + lines[i];
  }
  return out;
}

Value filter_bare(const Value& v, const std::string& name) {
  if (v.is_array()) {
    const Array& a = v.items();
    if (name == "list") return v;
    if (name == "first") return a.empty() ? Value() : a.front();
    if (name == "last") return a.empty() ? Value() : a.back();
    if (name == "length") return Value::integer(static_cast<double>(a.size()));
    if (name == "reverse") return Value::array(Array(a.rbegin(), a.rend()));
    if (name == "sort") return sort_array(a, nullptr);
    if (name == "join") return Value::string(join(a, ""));
    if (name == "string") return Value::string(to_json(v, JsonOptions{}, false));
    if (name == "unique") return unique(a);
    fail("Unknown ArrayValue filter: " + name);
  }
  if (v.is_string()) {
    const std::string& s = v.str();
    if (name == "length") return string_member(v, "length");
    if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") return string_method(s, name, CallArgs{});
    if (name == "trim") return Value::string(js::trim(s, true, true));
    if (name == "indent") return Value::string(indent(s, "    ", false, false));
    if (name == "join" || name == "string") return v;
    if (name == "int") {
      const double n = js::parse_int(s);
      return Value::integer(std::isnan(n) ? 0 : n);
    }
    if (name == "float") {
      const double n = js::parse_float(s);
      return Value::number(std::isnan(n) ? 0 : n);
    }
    fail("Unknown StringValue filter: " + name);
  }
  if (v.is_number()) {
    const double n = v.as_number();
    if (name == "abs") return v.kind() == K::kInt ? Value::integer(std::fabs(n)) : Value::number(std::fabs(n));
    if (name == "int") return Value::integer(std::trunc(n) + 0.0);
    if (name == "float") return Value::number(n);
    if (name == "string") return Value::string(display(v));
    fail("Unknown NumericValue filter: " + name);
  }
  if (v.is_object()) {
    if (name == "items") return object_items(v.obj());
    if (name == "length") return Value::integer(static_cast<double>(v.obj().size()));
    if (is_object_method(name)) return object_method(v, name, CallArgs{});
    fail("Unknown ObjectValue filter: " + name);
  }
  if (v.kind() == K::kBool) {
    const bool b = v.as_bool();
    if (name == "bool") return v;
    if (name == "int") return Value::integer(b ? 1 : 0);
    if (name == "float") return Value::number(b ? 1 : 0);
    if (name == "string") return Value::string(b ? "true" : "false");
    fail("Unknown BooleanValue filter: " + name);
  }
  fail("Cannot apply filter \"" + name + "\" to type: " + v.type_name());
}

Value select_attr(const Value& v, const std::string& name, const CallArgs& a, const Node* call) {
  const bool select = name == "selectattr";
  for (const Value& item : v.items())
    if (!is_container(item)) fail("`" + name + "` can only be applied to array of objects");
  if (call)
    for (const auto& n : call->args)
      if (n->kind != NodeKind::kString) fail("arguments of `" + name + "` must be strings");
  const Value attr = a.positional.size() > 0 ? a.positional[0] : Value();
  const Value* test = a.positional.size() > 1 ? &a.positional[1] : nullptr;
  const Value expected = a.positional.size() > 2 ? a.positional[2] : Value();
  Array out;
  for (const Value& item : v.items()) {
    const Value* x = attr.is_string() ? entries_of(item).find(attr.str()) : nullptr;
    bool r = false;
    if (x) {
      if (!test) r = x->truthy();
      else if (test->str() == "equalto" || test->str() == "eq") r = strict_equal(*x, expected);
      else r = apply_test(test->str(), *x);
    }
    if (r == select) out.push_back(item);
  }
  return Value::array(std::move(out));
}

Value map_attr(const Value& v, const CallArgs& a) {
  const Value* attr = a.keyword("attribute");
  if (!attr) fail("`map` expressions without `attribute` set are not currently supported.");
  if (!attr->is_string()) fail("attribute must be a string");
  const Value* def = a.keyword("default");
  Array out;
  for (const Value& item : v.items()) {
    if (!is_container(item)) fail("items in map must be an object");
    Value x = attribute_path(item, attr->str());
    out.push_back(x.is_undefined() && def ? *def : x);
  }
  return Value::array(std::move(out));
}

Value tojson_call(const Value& v, const CallArgs& a) {
  JsonOptions o;
  if (const Value* i = a.keyword("indent")) {
    if (i->kind() != K::kInt && !i->is_null()) fail("If set, indent must be a number");
    if (i->kind() == K::kInt) o.indent = static_cast<int>(clamp_count(i->as_number(), -1, 64));
  }
  o.ensure_ascii = flag(a.keyword("ensure_ascii"), "If set, ensure_ascii");
  o.sort_keys = flag(a.keyword("sort_keys"), "If set, sort_keys");
  std::string item_sep, key_sep;
  if (const Value* s = a.keyword("separators"); s && !s->is_null()) {
    if (!s->is_array() || s->items().size() != 2 || !s->items()[0].is_string() || !s->items()[1].is_string())
      fail("separators must be a tuple of two strings");
    item_sep = s->items()[0].str();
    key_sep = s->items()[1].str();
    o.item_separator = &item_sep;
    o.key_separator = &key_sep;
  }
  return Value::string(to_json(v, o));
}

Value filter_call(const Value& v, const std::string& name, CallArgs& a, const Node* call) {
  if (name == "tojson") return tojson_call(v, a);
  if (name == "join") {
    const Value* sep = arg(a, 0, "separator");
    if (sep && !sep->is_string()) fail("separator must be a string");
    const std::string s = sep ? sep->str() : "";
    if (v.is_array()) return Value::string(join(v.items(), s));
    if (v.is_string()) {
      Array chars;
      const auto cps = js::code_points(v.str());
      for (size_t i = 0; i < cps.size(); ++i) chars.push_back(Value::string(js::from_code_points(cps, i, i + 1)));
      return Value::string(join(chars, s));
    }
    fail(std::string("Cannot apply filter \"join\" to type: ") + v.type_name());
  }
  if (name == "int" || name == "float") {
    const bool is_int = name == "int";
    const Value* d = arg(a, 0, "default");
    const Value def = d ? *d : is_int ? Value::integer(0) : Value::number(0);
    if (v.is_string()) {
      const double n = is_int ? js::parse_int(v.str()) : js::parse_float(v.str());
      return std::isnan(n) ? def : is_int ? Value::integer(n) : Value::number(n);
    }
    if (v.is_number()) return is_int ? Value::integer(std::trunc(v.as_number()) + 0.0) : Value::number(v.as_number());
    if (v.kind() == K::kBool) return is_int ? Value::integer(v.as_bool()) : Value::number(v.as_bool());
    fail("Cannot apply filter \"" + name + "\" to type: " + v.type_name());
  }
  if (name == "default") {
    const Value def = a.positional.size() > 0 ? a.positional[0] : Value::string("");
    const bool boolean = flag(a.positional.size() > 1 ? &a.positional[1] : a.keyword("boolean"), "`default` filter flag");
    return v.is_undefined() || (boolean && !v.truthy()) ? def : v;
  }
  if (v.is_array()) {
    if (name == "sort") return sort_array(v.items(), &a);
    if (name == "selectattr" || name == "rejectattr") return select_attr(v, name, a, call);
    if (name == "map") return map_attr(v, a);
    fail("Unknown ArrayValue filter: " + name);
  }
  if (v.is_string()) {
    if (name == "indent") {
      const Value* w = arg(a, 0, "width");
      if (w && w->kind() != K::kInt && !w->is_string()) fail("width must be an integer or a string");
      const std::string pad = !w ? "    " : w->is_string() ? w->str() : std::string(static_cast<size_t>(clamp_count(w->as_number(), 0, 1024)), ' ');
      const Value* first = arg(a, 1, "first");
      const Value* blank = arg(a, 2, "blank");
      return Value::string(indent(v.str(), pad, first && first->truthy(), blank && blank->truthy()));
    }
    if (name == "replace") {
      std::vector<Value> argv = a.positional;
      Object kw;
      for (const auto& [k, x] : a.keywords) kw.set(k, x);
      argv.push_back(Value::object(std::move(kw)));
      return string_replace(v.str(), argv);
    }
    fail("Unknown StringValue filter: " + name);
  }
  if (v.is_object()) {
    if (is_object_method(name)) return object_method(v, name, a);
    fail("Unknown ObjectValue filter: " + name);
  }
  fail("Cannot apply filter \"" + name + "\" to type: " + v.type_name());
}

}  // namespace

Value apply_filter(const Value& operand, const std::string& name, CallArgs* args, const Node* call) {
  if (!args) {
    if (name == "safe") return operand;
    if (name == "tojson") return Value::string(to_json(operand, JsonOptions{}));
    return filter_bare(operand, name);
  }
  return filter_call(operand, name, *args, call);
}

}  // namespace st::jinja
