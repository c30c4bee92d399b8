#include "text/jinja/interpreter.h"

#include <algorithm>
#include <cmath>

#include "text/jinja/builtins.h"
#include "text/jinja/js_text.h"

namespace st::jinja {
namespace {

using K = Value::Kind;

struct BreakSignal {};
struct ContinueSignal {};

// Expression and block recursion (macros included) deeper than this is refused.
constexpr int kMaxEvalDepth = 512;

[[noreturn]] void fail(const std::string& what) { throw TemplateError(what); }

// Identifiers a macro body reads that make it take extra arguments (caller, kwargs, varargs).
void find_special_names(const Node& n, std::vector<std::string>& out) {
  if (n.kind == NodeKind::kIdentifier && (n.str == "caller" || n.str == "kwargs" || n.str == "varargs")) {
    if (std::find(out.begin(), out.end(), n.str) == out.end()) out.push_back(n.str);
  }
  for (const Node* c : {n.a.get(), n.b.get(), n.c.get()})
    if (c) find_special_names(*c, out);
  for (const auto* list : {&n.args, &n.body, &n.alt})
    for (const auto& c : *list)
      if (c) find_special_names(*c, out);
}

bool special_used(const Node& owner, const std::vector<NodePtr>& params, const std::string& name) {
  for (const auto& p : params)
    if (p->str == name) return false;  // a declared parameter of that name is an ordinary one
  std::vector<std::string> found;
  for (const auto& b : owner.body) find_special_names(*b, found);
  for (const auto& p : params)
    if (p->a) find_special_names(*p->a, found);
  return std::find(found.begin(), found.end(), name) != found.end();
}

Value loop_object(size_t i, const Array& items) {
  const double n = static_cast<double>(items.size());
  const double d = static_cast<double>(i);
  Object o;
  o.set("index", Value::integer(d + 1));
  o.set("index0", Value::integer(d));
  o.set("revindex", Value::integer(n - d));
  o.set("revindex0", Value::integer(n - d - 1));
  o.set("first", Value::boolean(i == 0));
  o.set("last", Value::boolean(i + 1 == items.size()));
  o.set("length", Value::integer(n));
  o.set("previtem", i > 0 ? items[i - 1] : Value());
  o.set("nextitem", i + 1 < items.size() ? items[i + 1] : Value());
  return Value::object(std::move(o));
}

}  // namespace

Value Env::lookup(const std::string& name) const {
  for (const Env* e = this; e; e = e->parent) {
    const auto it = e->vars.find(name);
    if (it != e->vars.end()) return it->second;
  }
  return Value();
}

Env* Interpreter::new_env(Env* parent) {
  envs_.push_back(std::make_unique<Env>());
  envs_.back()->parent = parent;
  return envs_.back().get();
}

Object* Interpreter::new_namespace() {
  namespaces_.push_back(std::make_unique<Object>());
  return namespaces_.back().get();
}

Env* Interpreter::globals() {
  Env* g = new_env(nullptr);
  g->vars["true"] = g->vars["True"] = Value::boolean(true);
  g->vars["false"] = g->vars["False"] = Value::boolean(false);
  g->vars["none"] = g->vars["None"] = Value::null();
  for (const char* f : {"raise_exception", "range", "strftime_now", "namespace"})
    g->vars[f] = global_function(f, [this] { return new_namespace(); });
  return g;
}

std::string Interpreter::run(const std::vector<NodePtr>& program) { return render_block(program, envs_.front().get()); }

void Interpreter::step(size_t bytes) {
  steps_ += 1 + bytes / 64;
  if (steps_ > limits_.max_steps)
    fail("the template exceeded " + std::to_string(limits_.max_steps) + " evaluation steps");
  if (bytes > limits_.max_output_bytes)
    fail("the template built a string of more than " + std::to_string(limits_.max_output_bytes) + " bytes");
}

std::string Interpreter::render_block(const std::vector<NodePtr>& nodes, Env* env) {
  std::string out;
  for (const auto& node : nodes) {
    const Node& n = *node;
    switch (n.kind) {
      case NodeKind::kText: out += n.str; break;
      case NodeKind::kIf: out += render_if(n, env); break;
      case NodeKind::kFor: out += render_for(n, env); break;
      case NodeKind::kSet: exec_set(n, env); break;
      case NodeKind::kComment: break;
      default: {
        const Value v = eval(n, env);
        if (!v.is_null() && !v.is_undefined()) out += display(v);
      }
    }
    if (out.size() > limits_.max_output_bytes)
      fail("the template's output exceeded " + std::to_string(limits_.max_output_bytes) + " bytes");
  }
  step(out.size());
  return out;
}

std::string Interpreter::render_if(const Node& n, Env* env) {
  return render_block(eval(*n.a, env).truthy() ? n.body : n.alt, env);
}

void Interpreter::bind_loop_variable(const Node& target, const Value& item, Env* scope) {
  if (target.kind == NodeKind::kIdentifier) {
    scope->vars[target.str] = item;
    return;
  }
  for (size_t j = 0; j < target.args.size(); ++j) {
    if (target.args[j]->kind != NodeKind::kIdentifier) fail("Cannot unpack non-identifier type in a for loop");
    scope->vars[target.args[j]->str] = j < item.items().size() ? item.items()[j] : Value();
  }
}

std::string Interpreter::render_for(const Node& n, Env* env) {
  Env* scope = new_env(env);
  const Node* test = nullptr;
  Value iterable;
  if (n.b->kind == NodeKind::kSelect) {
    iterable = eval(*n.b->a, scope);
    test = n.b->b.get();
  } else {
    iterable = eval(*n.b, scope);
  }
  if (iterable.is_object()) {  // a dict iterates over its keys
    Array keys;
    for (const auto& e : iterable.obj().entries()) keys.push_back(Value::string(e.first));
    iterable = Value::array(std::move(keys));
  }
  if (!iterable.is_array()) fail(std::string("Expected iterable or object type in for loop: got ") + iterable.type_name());
  const Node& target = *n.a;
  Array items;
  for (const Value& item : iterable.items()) {
    if (test && ++iterations_ > limits_.max_loop_iterations)  // each candidate evaluates the condition
      fail("the template ran more than " + std::to_string(limits_.max_loop_iterations) + " loop iterations");
    if (target.kind == NodeKind::kTuple) {
      if (item.kind() != K::kArray) fail(std::string("Cannot unpack non-iterable type: ") + item.type_name());
      if (item.items().size() != target.args.size())
        fail(std::string("Too ") + (target.args.size() > item.items().size() ? "few" : "many") + " items to unpack");
    }
    if (test) {
      Env* loop_scope = new_env(scope);
      bind_loop_variable(target, item, loop_scope);
      if (!eval(*test, loop_scope).truthy()) continue;
    }
    items.push_back(item);
  }
  std::string out;
  bool none = true;
  for (size_t i = 0; i < items.size(); ++i) {
    if (++iterations_ > limits_.max_loop_iterations)
      fail("the template ran more than " + std::to_string(limits_.max_loop_iterations) + " loop iterations");
    scope->vars["loop"] = loop_object(i, items);
    bind_loop_variable(target, items[i], scope);
    try {
      out += render_block(n.body, scope);
    } catch (const ContinueSignal&) {
      continue;  // what this iteration rendered is dropped, as in the reference
    } catch (const BreakSignal&) {
      break;
    }
    none = false;
    if (out.size() > limits_.max_output_bytes)
      fail("the template's output exceeded " + std::to_string(limits_.max_output_bytes) + " bytes");
  }
  if (none) out += render_block(n.alt, scope);
  return out;
}

void Interpreter::exec_set(const Node& n, Env* env) {
  const Value rhs = n.b ? eval(*n.b, env) : Value::string(render_block(n.body, env));
  const Node& target = *n.a;
  if (target.kind == NodeKind::kIdentifier) {
    env->vars[target.str] = rhs;
  } else if (target.kind == NodeKind::kTuple) {
    if (!rhs.is_array()) fail(std::string("Cannot unpack non-iterable type in set: ") + rhs.type_name());
    if (rhs.items().size() != target.args.size())
      fail(std::string("Too ") + (target.args.size() > rhs.items().size() ? "few" : "many") + " items to unpack in set");
    for (size_t i = 0; i < target.args.size(); ++i) {
      if (target.args[i]->kind != NodeKind::kIdentifier) fail("Cannot unpack to non-identifier in set");
      env->vars[target.args[i]->str] = rhs.items()[i];
    }
  } else if (target.kind == NodeKind::kMember) {
    const Value object = eval(*target.a, env);
    if (!object.is_namespace()) fail("cannot assign attribute on non-namespace object");
    if (target.b->kind != NodeKind::kIdentifier || target.flag) fail("Cannot assign to member with non-identifier property");
    object.name_space().set(target.b->str, rhs);
  } else {
    fail("invalid target on the left of '=' in a set statement");
  }
}

Value Interpreter::eval(const Node& n, Env* env) {
  if (++eval_depth_ > kMaxEvalDepth) {
    --eval_depth_;
    fail("the template nests expressions or macro calls deeper than " + std::to_string(kMaxEvalDepth) + " levels");
  }
  struct Exit {
    int& d;
    ~Exit() { --d; }
  } exit{eval_depth_};
  Value v = eval_node(n, env);
  if (v.is_string()) step(v.str().size());
  else if (v.is_array()) step(v.items().size() * 8);
  else step();
  return v;
}

Value Interpreter::eval_node(const Node& n, Env* env) {
  switch (n.kind) {
    case NodeKind::kIdentifier: return env->lookup(n.str);
    case NodeKind::kInteger: return Value::integer(n.number);
    case NodeKind::kFloat: return Value::number(n.number);
    case NodeKind::kString:
    case NodeKind::kText: return Value::string(n.str);
    case NodeKind::kBinary: return eval_binary(n, env);
    case NodeKind::kUnary: return eval_unary(n, env);
    case NodeKind::kMember: return eval_member(n, env);
    case NodeKind::kCall: return eval_call(n, env);
    case NodeKind::kFilter: return eval_filter(eval(*n.a, env), *n.b, env);
    case NodeKind::kTest: return Value::boolean(apply_test(n.str, eval(*n.a, env)) != n.flag);
    case NodeKind::kSelect: return eval(*n.b, env).truthy() ? eval(*n.a, env) : Value();
    case NodeKind::kTernary: return eval(*n.a, env).truthy() ? eval(*n.b, env) : eval(*n.c, env);
    case NodeKind::kArray:
    case NodeKind::kTuple: {
      Array items;
      for (const auto& x : n.args) items.push_back(eval(*x, env));
      return Value::array(std::move(items), n.kind == NodeKind::kTuple);
    }
    case NodeKind::kDict: {
      Object o;
      for (size_t i = 0; i < n.args.size(); ++i) {
        const Value key = eval(*n.args[i], env);
        if (!key.is_string()) fail(std::string("Object keys must be strings: got ") + key.type_name());
        o.set(key.str(), eval(*n.body[i], env));
      }
      return Value::object(std::move(o));
    }
    case NodeKind::kIf: return Value::string(render_if(n, env));
    case NodeKind::kFor: return Value::string(render_for(n, env));
    case NodeKind::kSet: exec_set(n, env); return Value::null();
    case NodeKind::kComment: return Value::null();
    case NodeKind::kMacro: return define_macro(n, env);
    case NodeKind::kCallBlock: return call_block(n, env);
    case NodeKind::kFilterBlock: return eval_filter(Value::string(render_block(n.body, env)), *n.a, env);
    case NodeKind::kBreak: throw BreakSignal{};
    case NodeKind::kContinue: throw ContinueSignal{};
    default: fail("this expression cannot be evaluated here");
  }
}

Value Interpreter::eval_arithmetic(const std::string& op, const Value& l, const Value& r) {
  const double a = l.as_number(), b = r.as_number();
  const bool f = l.kind() == K::kFloat || r.kind() == K::kFloat;
  auto num = [f](double x) { return f ? Value::number(x) : Value::integer(x); };
  if (op == "+") return num(a + b);
  if (op == "-") return num(a - b);
  if (op == "*") return num(a * b);
  if (op == "/") return Value::number(a / b);
  if (op == "//") return num(std::floor(a / b));
  if (op == "%") return num(std::fmod(a, b));
  if (op == "<") return Value::boolean(a < b);
  if (op == ">") return Value::boolean(a > b);
  if (op == "<=") return Value::boolean(a <= b);
  if (op == ">=") return Value::boolean(a >= b);
  fail("Unknown operator \"" + op + "\" between " + l.type_name() + " and " + r.type_name());
}

Value Interpreter::eval_binary(const Node& n, Env* env) {
  const std::string& op = n.str;
  const Value l = eval(*n.a, env);
  if (op == "and") return l.truthy() ? eval(*n.b, env) : l;
  if (op == "or") return l.truthy() ? l : eval(*n.b, env);
  const Value r = eval(*n.b, env);
  if (op == "==") return Value::boolean(loose_equal(l, r));
  if (op == "!=") return Value::boolean(!loose_equal(l, r));
  const bool in = op == "in" || op == "not in";
  auto numeric_like = [](const Value& v) { return v.is_number() || v.kind() == K::kBool; };
  auto num = [](const Value& v) { return v.kind() == K::kBool ? (v.as_bool() ? 1.0 : 0.0) : v.as_number(); };
  if (l.is_number() && r.is_number() && op != "~" && op != "**") {
    if (!in) return eval_arithmetic(op, l, r);
  } else if (l.is_undefined() || r.is_undefined()) {
    if (r.is_undefined() && in) return Value::boolean(op == "not in");
    if (op == "~" && !l.is_null() && !r.is_null())
      return Value::string((l.is_undefined() ? "" : js_string(l)) + (r.is_undefined() ? "" : js_string(r)));
    fail("Cannot perform operation " + op + " on undefined values");
  } else if (l.is_null() || r.is_null()) {
    fail("Cannot perform operation on null values");
  } else if (op == "~") {
    return Value::string(js_string(l) + js_string(r));
  } else if (op == "**" && numeric_like(l) && numeric_like(r)) {
    const double a = num(l), b = num(r);
    if (a == 0 && b < 0) fail("0.0 cannot be raised to a negative power");
    const double p = std::pow(a, b);
    if (!std::isfinite(p)) fail("Exponentiation result is not a finite real number");
    return l.kind() == K::kFloat || r.kind() == K::kFloat || b < 0 ? Value::number(p) : Value::integer(p);
  } else if (l.is_array() && r.is_array()) {
    if (op == "+") {
      if (l.items().size() + r.items().size() > kMaxListLength)
        fail("a list would have more than " + std::to_string(kMaxListLength) + " items");
      Array out = l.items();
      out.insert(out.end(), r.items().begin(), r.items().end());
      return Value::array(std::move(out));
    }
  } else if (r.is_array()) {
    if (in) {
      const bool found = std::any_of(r.items().begin(), r.items().end(), [&](const Value& x) { return strict_equal(x, l); });
      return Value::boolean(found == (op == "in"));
    }
  }
  if ((l.is_string() || r.is_string()) && op == "+") return Value::string(js_string(l) + js_string(r));
  if (l.is_string() && r.is_string() && in) return Value::boolean((r.str().find(l.str()) != std::string::npos) == (op == "in"));
  if (l.is_string() && r.is_object() && in) return Value::boolean((r.obj().find(l.str()) != nullptr) == (op == "in"));
  fail("Unknown operator \"" + op + "\" between " + l.type_name() + " and " + r.type_name());
}

Value Interpreter::eval_unary(const Node& n, Env* env) {
  const Value v = eval(*n.a, env);
  if (n.str == "not") return Value::boolean(!v.truthy());
  const double sign = n.str == "-" ? -1 : 1;
  if (v.is_number()) return v.kind() == K::kFloat ? Value::number(sign * v.as_number()) : Value::integer(sign * v.as_number());
  if (v.kind() == K::kBool) return Value::integer(sign * (v.as_bool() ? 1 : 0));
  fail("Unknown operator \"" + n.str + "\" for " + v.type_name());
}

Value Interpreter::eval_member(const Node& n, Env* env) {
  const Value object = eval(*n.a, env);
  if (n.flag) {
    if (n.b->kind == NodeKind::kSlice) return eval_slice(object, *n.b, env);
    return get_member(object, eval(*n.b, env));
  }
  if (n.b->kind == NodeKind::kInteger) return get_member(object, Value::integer(n.b->number));
  return get_member(object, Value::string(n.b->str));
}

Value Interpreter::eval_slice(const Value& object, const Node& s, Env* env) {
  if (!object.is_array() && !object.is_string()) fail("Slice object must be an array or string");
  double part[3];
  bool given[3];
  const Node* nodes[3] = {s.a.get(), s.b.get(), s.c.get()};
  for (int i = 0; i < 3; ++i) {
    const Value v = nodes[i] ? eval(*nodes[i], env) : Value();
    if (!v.is_undefined() && v.kind() != K::kInt) fail("Slice start, stop and step must be integers or undefined");
    given[i] = !v.is_undefined();
    part[i] = given[i] ? v.as_number() : 0;
  }
  const std::vector<char32_t> cps = object.is_string() ? js::code_points(object.str()) : std::vector<char32_t>{};
  const double len = static_cast<double>(object.is_string() ? cps.size() : object.items().size());
  const double step = given[2] ? part[2] : 1;
  const double dir = step > 0 ? 1 : step < 0 ? -1 : 0;
  double start, stop;
  if (dir >= 0) {
    start = !given[0] ? 0 : part[0] < 0 ? std::max(len + part[0], 0.0) : std::min(part[0], len);
    stop = !given[1] ? len : part[1] < 0 ? std::max(len + part[1], 0.0) : std::min(part[1], len);
  } else {
    start = !given[0] ? len - 1 : part[0] < 0 ? std::max(len + part[0], -1.0) : std::min(part[0], len - 1);
    stop = !given[1] ? -1 : part[1] < -1 ? std::max(len + part[1], -1.0) : std::min(part[1], len - 1);
  }
  Array items;
  std::string text;
  for (double i = start; dir * i < dir * stop; i += step) {
    const auto k = static_cast<size_t>(i);
    if (object.is_string()) text += js::from_code_points(cps, k, k + 1);
    else items.push_back(object.items()[k]);
  }
  return object.is_string() ? Value::string(std::move(text)) : Value::array(std::move(items));
}

CallArgs Interpreter::eval_args(const std::vector<NodePtr>& args, Env* env) {
  CallArgs out;
  auto add_keyword = [&](const std::string& k, Value v) {
    if (out.keyword(k)) fail("Got multiple values for keyword argument '" + k + "'");
    out.keywords.emplace_back(k, std::move(v));
  };
  for (const auto& a : args) {
    if (a->kind == NodeKind::kSpread) {
      const Value v = eval(*a->a, env);
      if (!v.is_array()) fail(std::string("Cannot unpack non-iterable type: ") + v.type_name());
      out.positional.insert(out.positional.end(), v.items().begin(), v.items().end());
    } else if (a->kind != NodeKind::kKeywordArg && a->kind != NodeKind::kKeywordSpread) {
      out.positional.push_back(eval(*a, env));
    }
  }
  for (const auto& a : args) {
    if (a->kind == NodeKind::kKeywordArg) {
      add_keyword(a->str, eval(*a->a, env));
    } else if (a->kind == NodeKind::kKeywordSpread) {
      const Value v = eval(*a->a, env);
      if (!v.is_object()) fail(std::string("Argument after ** must be a mapping, not ") + v.type_name());
      for (const auto& [k, x] : v.obj().entries()) add_keyword(k, x);
    }
  }
  return out;
}

Value Interpreter::eval_call(const Node& n, Env* env) {
  CallArgs args = eval_args(n.args, env);
  const Value fn = eval(*n.a, env);
  if (!fn.is_function()) fail(std::string("Cannot call something that is not a function: got ") + fn.type_name());
  return fn.fn()(args);
}

Value Interpreter::eval_filter(const Value& operand, const Node& filter, Env* env) {
  if (filter.kind == NodeKind::kIdentifier) return apply_filter(operand, filter.str, nullptr, nullptr);
  if (filter.kind == NodeKind::kCall && filter.a->kind == NodeKind::kIdentifier) {
    CallArgs args = eval_args(filter.args, env);
    return apply_filter(operand, filter.a->str, &args, &filter);
  }
  fail("Unknown filter expression");
}

void Interpreter::bind_arguments(const std::string& name, const std::vector<NodePtr>& params, const Node& owner,
                                 CallArgs& args, Env* scope) {
  auto keywords = args.keywords;
  std::vector<std::pair<std::string, const Node*>> pending;
  for (size_t i = 0; i < params.size(); ++i) {
    const Node& p = *params[i];
    Value v;
    bool have = i < args.positional.size();
    if (have) v = args.positional[i];
    if (!have) {
      for (auto it = keywords.begin(); it != keywords.end(); ++it) {
        if (it->first == p.str) {
          v = it->second;
          keywords.erase(it);
          have = true;
          break;
        }
      }
    }
    if (!have && p.kind == NodeKind::kKeywordArg) pending.emplace_back(p.str, p.a.get());
    scope->vars[p.str] = v;
  }
  if (special_used(owner, params, "kwargs")) {
    Object kw;
    for (const auto& [k, v] : keywords) kw.set(k, v);
    scope->vars["kwargs"] = Value::object(std::move(kw));
  } else if (!keywords.empty()) {
    fail("macro " + name + " takes no keyword argument '" + keywords.front().first + "'");
  }
  if (special_used(owner, params, "varargs")) {
    Array rest;
    for (size_t i = params.size(); i < args.positional.size(); ++i) rest.push_back(args.positional[i]);
    scope->vars["varargs"] = Value::array(std::move(rest));
  } else if (args.positional.size() > params.size()) {
    fail("macro " + name + " takes not more than " + std::to_string(params.size()) + " argument(s)");
  }
  for (const auto& [p, def] : pending) scope->vars[p] = eval(*def, scope);
}

Value Interpreter::define_macro(const Node& n, Env* env) {
  const bool uses_caller = special_used(n, n.args, "caller");
  env->vars[n.str] = Value::function([this, &n, env, uses_caller](CallArgs& args) {
    if (++call_depth_ > limits_.max_call_depth) {
      --call_depth_;
      fail("macro calls nested deeper than " + std::to_string(limits_.max_call_depth) + " levels");
    }
    struct Exit {
      int& d;
      ~Exit() { --d; }
    } exit{call_depth_};
    Env* parent = env;
    if (uses_caller) {
      parent = new_env(env);
      parent->vars["caller"] = args.caller;
    }
    Env* scope = new_env(parent);
    bind_arguments("'" + n.str + "'", n.args, n, args, scope);
    return Value::string(render_block(n.body, scope));
  });
  return Value::null();
}

Value Interpreter::call_block(const Node& n, Env* env) {
  const Value caller = Value::function([this, &n, env](CallArgs& args) {
    Env* scope = new_env(env);
    bind_arguments("None", n.args, n, args, scope);
    return Value::string(render_block(n.body, scope));
  });
  CallArgs args = eval_args(n.a->args, env);
  const Value fn = eval(*n.a->a, env);
  if (!fn.is_function()) fail(std::string("Cannot call something that is not a function: got ") + fn.type_name());
  args.caller = caller;
  return fn.fn()(args);
}

}  // namespace st::jinja
