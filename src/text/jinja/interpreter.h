// Evaluates a parsed template. One Interpreter serves one render: it owns every scope and
// namespace created on the way (so closures and namespaces may refer to each other freely)
// and counts the work against the Limits.
#pragma once
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "text/jinja/ast.h"
#include "text/jinja/template.h"
#include "text/jinja/value.h"

namespace st::jinja {

struct Env {
  Env* parent = nullptr;
  std::unordered_map<std::string, Value> vars;
  Value lookup(const std::string& name) const;
};

class Interpreter {
 public:
  explicit Interpreter(const Limits& limits) : limits_(limits) {}

  Env* globals();  // with the built-in names; the caller adds the context's variables
  std::string run(const std::vector<NodePtr>& program);

 private:
  Env* new_env(Env* parent);
  Object* new_namespace();
  void step(size_t bytes = 0);

  std::string render_block(const std::vector<NodePtr>& nodes, Env* env);
  std::string render_if(const Node& n, Env* env);
  std::string render_for(const Node& n, Env* env);
  void bind_loop_variable(const Node& target, const Value& item, Env* scope);
  void exec_set(const Node& n, Env* env);

  Value eval(const Node& n, Env* env);
  Value eval_node(const Node& n, Env* env);
  Value eval_binary(const Node& n, Env* env);
  Value eval_arithmetic(const std::string& op, const Value& l, const Value& r);
  Value eval_unary(const Node& n, Env* env);
  Value eval_member(const Node& n, Env* env);
  Value eval_slice(const Value& object, const Node& slice, Env* env);
  Value eval_call(const Node& n, Env* env);
  Value eval_filter(const Value& operand, const Node& filter, Env* env);
  CallArgs eval_args(const std::vector<NodePtr>& args, Env* env);

  Value define_macro(const Node& n, Env* env);
  Value call_block(const Node& n, Env* env);
  void bind_arguments(const std::string& name, const std::vector<NodePtr>& params, const Node& owner,
                      CallArgs& args, Env* scope);

  Limits limits_;
  uint64_t steps_ = 0;
  uint64_t iterations_ = 0;
  int call_depth_ = 0;
  int eval_depth_ = 0;
  std::vector<std::unique_ptr<Env>> envs_;
  std::vector<std::unique_ptr<Object>> namespaces_;
};

}  // namespace st::jinja
