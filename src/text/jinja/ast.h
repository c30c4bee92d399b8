// The parsed template: one node type with a kind and the fields each kind uses.
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace st::jinja {

enum class NodeKind {
  // statements
  kText,            // str
  kComment,
  kIf,              // a = test, body, alt
  kFor,             // a = loop variable (identifier or tuple), b = iterable, body, alt = else block
  kSet,             // a = target, b = value (null: block set with body)
  kMacro,           // str = name, args = parameters, body
  kCallBlock,       // a = call expression, args = caller parameters, body
  kFilterBlock,     // a = filter (identifier or call), body
  kBreak,
  kContinue,
  // expressions
  kIdentifier,      // str
  kInteger,         // number
  kFloat,           // number
  kString,          // str
  kArray,           // args = items
  kTuple,           // args = items
  kDict,            // args = keys, body = values
  kBinary,          // str = operator, a, b
  kUnary,           // str = operator, a
  kMember,          // a = object, b = property; flag = computed ([...])
  kSlice,           // a, b, c = start, stop, step (any may be null)
  kCall,            // a = callee, args
  kKeywordArg,      // str = name, a = value
  kSpread,          // a (*x)
  kKeywordSpread,   // a (**x)
  kFilter,          // a = operand, b = filter (identifier or call)
  kTest,            // a = operand, str = test name, flag = negated
  kSelect,          // a = value, b = condition ("x if c" without else: undefined when false)
  kTernary,         // a = condition, b = if true, c = if false
};

struct Node;
using NodePtr = std::unique_ptr<Node>;

struct Node {
  NodeKind kind;
  std::string str;
  double number = 0;
  bool flag = false;
  NodePtr a, b, c;
  std::vector<NodePtr> args;
  std::vector<NodePtr> body;
  std::vector<NodePtr> alt;

  explicit Node(NodeKind k) : kind(k) {}
};

}  // namespace st::jinja
