#include "text/jinja/template.h"

#include <algorithm>
#include <cmath>

#include "text/jinja/interpreter.h"
#include "text/jinja/parser.h"

namespace st::jinja {
namespace {

// A key JavaScript treats as an array index (canonical decimal below 2^32 - 1).
bool index_key(const std::string& k, double* value) {
  if (k.empty() || k.size() > 10 || (k.size() > 1 && k[0] == '0')) return false;
  double v = 0;
  for (char c : k) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *value = v;
  return v < 4294967295.0;
}

Value from_json_depth(const nlohmann::ordered_json& j, int depth) {
  if (depth > Value::kMaxDepth)
    throw TemplateError("template data nested deeper than " + std::to_string(Value::kMaxDepth) + " levels");
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::null();
    case nlohmann::ordered_json::value_t::boolean: return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value::integer(static_cast<double>(j.get<int64_t>()));
    case nlohmann::ordered_json::value_t::number_unsigned: return Value::integer(static_cast<double>(j.get<uint64_t>()));
    case nlohmann::ordered_json::value_t::number_float: {
      const double d = j.get<double>();
      return std::isfinite(d) && std::floor(d) == d ? Value::integer(d) : Value::number(d);
    }
    case nlohmann::ordered_json::value_t::string: return Value::string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      Array items;
      items.reserve(j.size());
      for (const auto& x : j) items.push_back(from_json_depth(x, depth + 1));
      return Value::array(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      // Object.entries order: integer-like keys ascending, then the rest as written.
      std::vector<std::pair<double, const std::string*>> indexed;
      for (const auto& [k, v] : j.items()) {
        double idx = 0;
        if (index_key(k, &idx)) indexed.emplace_back(idx, &k);
      }
      std::sort(indexed.begin(), indexed.end());
      Object o;
      for (const auto& [idx, k] : indexed) o.set(*k, from_json_depth(j.at(*k), depth + 1));
      for (const auto& [k, v] : j.items()) {
        double idx = 0;
        if (!index_key(k, &idx)) o.set(k, from_json_depth(v, depth + 1));
      }
      return Value::object(std::move(o));
    }
    default: throw TemplateError("template data holds a JSON value of an unsupported type");
  }
}

}  // namespace

Value from_json(const nlohmann::ordered_json& j) { return from_json_depth(j, 0); }

Template::Template(std::string_view source)
    : program_(std::make_shared<const std::vector<NodePtr>>(parse(tokenize(source)))) {}

Template::~Template() = default;

std::string Template::render(const nlohmann::ordered_json& context, const Limits& limits) const {
  if (!context.is_object()) throw TemplateError("the template context must be a JSON object");
  Interpreter in(limits);
  Env* globals = in.globals();
  for (const auto& [k, v] : context.items()) globals->vars[k] = from_json(v);
  return in.run(*program_);
}

}  // namespace st::jinja
