#include "text/jinja/parser.h"

#include <cstdlib>
#include <set>
#include <string>

#include "text/jinja/value.h"

namespace st::jinja {
namespace {

NodePtr make(NodeKind k) { return std::make_unique<Node>(k); }
NodePtr make(NodeKind k, std::string s) {
  auto n = make(k);
  n->str = std::move(s);
  return n;
}

class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : t_(tokens) {}

  std::vector<NodePtr> program() {
    std::vector<NodePtr> body;
    while (cur_ < t_.size()) body.push_back(any());
    return body;
  }

 private:
  struct DepthGuard {
    explicit DepthGuard(Parser& p) : p_(p) {
      if (++p_.depth_ > kMaxParseDepth)
        throw TemplateError("template nests statements or expressions deeper than " + std::to_string(kMaxParseDepth) +
                            " levels");
    }
    ~DepthGuard() { --p_.depth_; }
    Parser& p_;
  };

  [[noreturn]] void fail(const std::string& what) const {
    throw TemplateError("template syntax error at token " + std::to_string(cur_) + ": " + what);
  }
  const Token& peek() const {
    if (cur_ >= t_.size()) fail("unexpected end of template");
    return t_[cur_];
  }
  bool is(Tok type, size_t ahead = 0) const { return cur_ + ahead < t_.size() && t_[cur_ + ahead].type == type; }
  bool is_ident(const char* name, size_t ahead = 0) const {
    return is(Tok::kIdentifier, ahead) && t_[cur_ + ahead].value == name;
  }
  bool is_statement(std::initializer_list<const char*> names) const {
    if (!is(Tok::kOpenStatement) || !is(Tok::kIdentifier, 1)) return false;
    for (const char* n : names)
      if (t_[cur_ + 1].value == n) return true;
    return false;
  }
  const Token& expect(Tok type, const char* what) {
    if (!is(type)) fail(std::string("expected ") + what);
    return t_[cur_++];
  }
  void expect_ident(const char* name) {
    if (!is_ident(name)) fail(std::string("expected '") + name + "'");
    ++cur_;
  }
  void end_tag(const char* name) {
    expect(Tok::kOpenStatement, "'{%'");
    expect_ident(name);
    expect(Tok::kCloseStatement, "'%}'");
  }
  // Statements until one of `names` opens; fails at the end of the template.
  std::vector<NodePtr> block_until(std::initializer_list<const char*> names, const char* opened) {
    std::vector<NodePtr> body;
    while (!is_statement(names)) {
      if (cur_ >= t_.size()) fail(std::string("'") + opened + "' is never closed");
      body.push_back(any());
    }
    return body;
  }

  NodePtr any() {
    DepthGuard g(*this);
    const Token& tok = peek();
    switch (tok.type) {
      case Tok::kComment: ++cur_; return make(NodeKind::kComment);
      case Tok::kText: ++cur_; return make(NodeKind::kText, tok.value);
      case Tok::kOpenStatement: return statement();
      case Tok::kOpenExpression: {
        ++cur_;
        NodePtr e = expression();
        expect(Tok::kCloseExpression, "'}}'");
        return e;
      }
      default: fail("unexpected '" + tok.value + "'");
    }
  }

  NodePtr statement() {
    ++cur_;
    if (!is(Tok::kIdentifier)) fail("expected a statement name after '{%'");
    const std::string name = t_[cur_++].value;
    if (name == "set") return set_statement();
    if (name == "if") {
      NodePtr n = if_statement();
      end_tag("endif");
      return n;
    }
    if (name == "for") return for_statement();
    if (name == "macro") return macro_statement();
    if (name == "call") return call_statement();
    if (name == "filter") return filter_statement();
    if (name == "break" || name == "continue") {
      expect(Tok::kCloseStatement, "'%}'");
      return make(name == "break" ? NodeKind::kBreak : NodeKind::kContinue);
    }
    fail("unknown statement '" + name + "'");
  }

  NodePtr set_statement() {
    auto n = make(NodeKind::kSet);
    n->a = sequence(false);
    if (is(Tok::kEquals)) {
      ++cur_;
      n->b = sequence(false);
    } else {
      expect(Tok::kCloseStatement, "'%}'");
      n->body = block_until({"endset"}, "set");
      expect(Tok::kOpenStatement, "'{%'");
      expect_ident("endset");
    }
    expect(Tok::kCloseStatement, "'%}'");
    return n;
  }

  NodePtr if_statement() {
    DepthGuard g(*this);
    auto n = make(NodeKind::kIf);
    n->a = expression();
    expect(Tok::kCloseStatement, "'%}'");
    n->body = block_until({"elif", "else", "endif"}, "if");
    if (is_statement({"elif"})) {
      cur_ += 2;
      n->alt.push_back(if_statement());
    } else if (is_statement({"else"})) {
      cur_ += 2;
      expect(Tok::kCloseStatement, "'%}'");
      n->alt = block_until({"endif"}, "if");
    }
    return n;
  }

  NodePtr for_statement() {
    auto n = make(NodeKind::kFor);
    n->a = sequence(true);
    if (n->a->kind != NodeKind::kIdentifier && n->a->kind != NodeKind::kTuple)
      fail("expected a name or a tuple of names after 'for'");
    if (!is_ident("in")) fail("expected 'in' after the loop variable");
    ++cur_;
    n->b = expression();
    expect(Tok::kCloseStatement, "'%}'");
    n->body = block_until({"endfor", "else"}, "for");
    if (is_statement({"else"})) {
      cur_ += 2;
      expect(Tok::kCloseStatement, "'%}'");
      n->alt = block_until({"endfor"}, "for");
    }
    end_tag("endfor");
    return n;
  }

  NodePtr macro_statement() {
    NodePtr name = primary();
    if (name->kind != NodeKind::kIdentifier) fail("expected a name after 'macro'");
    auto n = make(NodeKind::kMacro, name->str);
    n->args = arguments(true);
    expect(Tok::kCloseStatement, "'%}'");
    n->body = block_until({"endmacro"}, "macro");
    end_tag("endmacro");
    return n;
  }

  NodePtr call_statement() {
    auto n = make(NodeKind::kCallBlock);
    if (is(Tok::kOpenParen)) n->args = arguments(true);
    NodePtr callee = primary();
    if (callee->kind != NodeKind::kIdentifier) fail("expected a macro name after 'call'");
    auto call = make(NodeKind::kCall);
    call->a = std::move(callee);
    call->args = arguments(false);
    n->a = std::move(call);
    expect(Tok::kCloseStatement, "'%}'");
    n->body = block_until({"endcall"}, "call");
    end_tag("endcall");
    return n;
  }

  NodePtr filter_statement() {
    auto n = make(NodeKind::kFilterBlock);
    n->a = primary();
    if (n->a->kind == NodeKind::kIdentifier && is(Tok::kOpenParen)) n->a = call(std::move(n->a));
    expect(Tok::kCloseStatement, "'%}'");
    n->body = block_until({"endfilter"}, "filter");
    end_tag("endfilter");
    return n;
  }

  // a, b, c -> a tuple; a -> a.
  NodePtr sequence(bool primary_only) {
    std::vector<NodePtr> items;
    items.push_back(primary_only ? primary() : expression());
    const bool tuple = is(Tok::kComma);
    while (tuple) {
      ++cur_;
      items.push_back(primary_only ? primary() : expression());
      if (!is(Tok::kComma)) break;
    }
    if (!tuple) return std::move(items[0]);
    auto n = make(NodeKind::kTuple);
    n->args = std::move(items);
    return n;
  }

  NodePtr expression() {
    DepthGuard g(*this);
    NodePtr a = logical_or();
    if (!is_ident("if")) return a;
    ++cur_;
    NodePtr test = logical_or();
    if (is_ident("else")) {
      ++cur_;
      auto n = make(NodeKind::kTernary);
      n->a = std::move(test);
      n->b = std::move(a);
      n->c = expression();
      return n;
    }
    auto n = make(NodeKind::kSelect);
    n->a = std::move(a);
    n->b = std::move(test);
    return n;
  }

  NodePtr binary(std::string op, NodePtr l, NodePtr r) {
    auto n = make(NodeKind::kBinary, std::move(op));
    n->a = std::move(l);
    n->b = std::move(r);
    return n;
  }

  NodePtr logical_or() {
    NodePtr l = logical_and();
    while (is_ident("or")) {
      ++cur_;
      l = binary("or", std::move(l), logical_and());
    }
    return l;
  }
  NodePtr logical_and() {
    NodePtr l = logical_not();
    while (is_ident("and")) {
      ++cur_;
      l = binary("and", std::move(l), logical_not());
    }
    return l;
  }
  NodePtr logical_not() {
    if (!is_ident("not")) return comparison();
    DepthGuard g(*this);
    ++cur_;
    auto n = make(NodeKind::kUnary, "not");
    n->a = logical_not();
    return n;
  }
  NodePtr comparison() {
    NodePtr l = additive();
    for (;;) {
      std::string op;
      if (is_ident("not") && is_ident("in", 1)) {
        op = "not in";
        cur_ += 2;
      } else if (is_ident("in")) {
        op = "in";
        ++cur_;
      } else if (is(Tok::kComparison)) {
        op = t_[cur_++].value;
      } else {
        return l;
      }
      l = binary(op, std::move(l), additive());
    }
  }
  NodePtr additive() {
    NodePtr l = multiplicative();
    while (is(Tok::kAdditive)) {
      std::string op = t_[cur_++].value;
      l = binary(op, std::move(l), multiplicative());
    }
    return l;
  }
  NodePtr multiplicative() {
    NodePtr l = power();
    while (is(Tok::kMultiplicative)) {
      std::string op = t_[cur_++].value;
      l = binary(op, std::move(l), power());
    }
    return l;
  }
  NodePtr power() {
    NodePtr l = test();
    while (is(Tok::kPower)) {
      ++cur_;
      l = binary("**", std::move(l), test());
    }
    return l;
  }
  NodePtr test() {
    NodePtr operand = filter();
    while (is_ident("is")) {
      ++cur_;
      const bool negate = is_ident("not");
      if (negate) ++cur_;
      NodePtr name = primary();
      if (name->kind != NodeKind::kIdentifier) fail("expected a test name after 'is'");
      auto n = make(NodeKind::kTest, name->str);
      n->flag = negate;
      n->a = std::move(operand);
      operand = std::move(n);
    }
    return operand;
  }
  NodePtr filter() {
    NodePtr operand = unary_sign();
    while (is(Tok::kPipe)) {
      ++cur_;
      NodePtr f = primary();
      if (f->kind != NodeKind::kIdentifier) fail("expected a filter name after '|'");
      if (is(Tok::kOpenParen)) f = call(std::move(f));
      auto n = make(NodeKind::kFilter);
      n->a = std::move(operand);
      n->b = std::move(f);
      operand = std::move(n);
    }
    return operand;
  }
  NodePtr unary_sign() {
    if ((is(Tok::kUnary) || is(Tok::kAdditive)) && (peek().value == "-" || peek().value == "+")) {
      DepthGuard g(*this);
      auto n = make(NodeKind::kUnary, t_[cur_++].value);
      n->a = unary_sign();
      return n;
    }
    NodePtr m = member(primary());
    return is(Tok::kOpenParen) ? call(std::move(m)) : std::move(m);
  }

  NodePtr call(NodePtr callee) {
    DepthGuard g(*this);
    auto n = make(NodeKind::kCall);
    n->a = std::move(callee);
    n->args = arguments(false);
    NodePtr m = member(std::move(n));
    return is(Tok::kOpenParen) ? call(std::move(m)) : std::move(m);
  }

  std::vector<NodePtr> arguments(bool parameters) {
    expect(Tok::kOpenParen, "'('");
    std::vector<NodePtr> args;
    std::set<std::string> names;
    bool keyword_seen = false, spread_seen = false;
    while (!is(Tok::kCloseParen)) {
      if (cur_ >= t_.size()) fail("unexpected end of template in an argument list");
      const bool kw_spread = is(Tok::kPower);
      const bool spread = is(Tok::kMultiplicative) && peek().value == "*";
      if (parameters && (kw_spread || spread)) fail("argument unpacking is not allowed in parameter declarations");
      if (kw_spread) {
        ++cur_;
        auto n = make(NodeKind::kKeywordSpread);
        n->a = expression();
        args.push_back(std::move(n));
        if (is(Tok::kComma)) ++cur_;
        if (!is(Tok::kCloseParen)) fail("'**' must be applied to the final argument");
        break;
      }
      NodePtr arg;
      if (spread) {
        if (spread_seen) fail("only one '*' argument unpacking is allowed");
        spread_seen = true;
        ++cur_;
        arg = make(NodeKind::kSpread);
        arg->a = expression();
      } else {
        arg = expression();
        if (is(Tok::kEquals)) {
          ++cur_;
          if (arg->kind != NodeKind::kIdentifier) fail("expected a name before '=' in an argument list");
          auto kw = make(NodeKind::kKeywordArg, arg->str);
          kw->a = expression();
          arg = std::move(kw);
        }
        if (parameters) {
          if (arg->kind != NodeKind::kIdentifier && arg->kind != NodeKind::kKeywordArg)
            fail("expected a parameter name");
          if (!names.insert(arg->str).second) fail("duplicate parameter name '" + arg->str + "'");
        }
        if (arg->kind == NodeKind::kKeywordArg) keyword_seen = true;
        else if (keyword_seen) fail(parameters ? "non-default parameter follows a default one" : "positional argument follows a keyword argument");
        else if (spread_seen) fail("positional argument follows '*' unpacking");
      }
      args.push_back(std::move(arg));
      if (is(Tok::kComma)) ++cur_;
    }
    ++cur_;  // ')'
    return args;
  }

  NodePtr subscript() {
    std::vector<NodePtr> parts;
    bool slice = false;
    while (!is(Tok::kCloseBracket)) {
      if (cur_ >= t_.size()) fail("unexpected end of template in '[...]'");
      if (is(Tok::kColon)) {
        parts.push_back(nullptr);
        ++cur_;
        slice = true;
      } else {
        parts.push_back(expression());
        if (is(Tok::kColon)) {
          ++cur_;
          slice = true;
        }
      }
    }
    if (parts.empty()) fail("expected an index or a slice in '[]'");
    if (!slice) return std::move(parts[0]);
    if (parts.size() > 3) fail("a slice has at most 3 parts");
    auto n = make(NodeKind::kSlice);
    parts.resize(3);
    n->a = std::move(parts[0]);
    n->b = std::move(parts[1]);
    n->c = std::move(parts[2]);
    return n;
  }

  NodePtr member(NodePtr object) {
    while (is(Tok::kDot) || is(Tok::kOpenBracket)) {
      const bool computed = is(Tok::kOpenBracket);
      ++cur_;
      auto n = make(NodeKind::kMember);
      n->flag = computed;
      n->a = std::move(object);
      if (computed) {
        n->b = subscript();
        expect(Tok::kCloseBracket, "']'");
      } else {
        n->b = primary();
        if (n->b->kind != NodeKind::kIdentifier && n->b->kind != NodeKind::kInteger)
          fail("expected a name or an integer after '.'");
      }
      object = std::move(n);
    }
    return object;
  }

  NodePtr primary() {
    DepthGuard g(*this);
    const Token& tok = peek();
    ++cur_;
    switch (tok.type) {
      case Tok::kNumber: {
        auto n = make(tok.value.find('.') != std::string::npos ? NodeKind::kFloat : NodeKind::kInteger);
        n->number = std::strtod(tok.value.c_str(), nullptr);
        return n;
      }
      case Tok::kString: {
        std::string s = tok.value;
        while (is(Tok::kString)) s += t_[cur_++].value;  // adjacent literals concatenate
        return make(NodeKind::kString, std::move(s));
      }
      case Tok::kIdentifier: return make(NodeKind::kIdentifier, tok.value);
      case Tok::kOpenParen: {
        NodePtr e = sequence(false);
        expect(Tok::kCloseParen, "')'");
        return e;
      }
      case Tok::kOpenBracket: {
        auto n = make(NodeKind::kArray);
        while (!is(Tok::kCloseBracket)) {
          if (cur_ >= t_.size()) fail("unexpected end of template in a list");
          n->args.push_back(expression());
          if (is(Tok::kComma)) ++cur_;
        }
        ++cur_;
        return n;
      }
      case Tok::kOpenBrace: {
        auto n = make(NodeKind::kDict);
        while (!is(Tok::kCloseBrace)) {
          if (cur_ >= t_.size()) fail("unexpected end of template in a dict");
          n->args.push_back(expression());
          expect(Tok::kColon, "':' between a key and its value");
          n->body.push_back(expression());
          if (is(Tok::kComma)) ++cur_;
        }
        ++cur_;
        return n;
      }
      default: fail("unexpected '" + tok.value + "'");
    }
  }

  const std::vector<Token>& t_;
  size_t cur_ = 0;
  int depth_ = 0;
};

}  // namespace

std::vector<NodePtr> parse(const std::vector<Token>& tokens) { return Parser(tokens).program(); }

}  // namespace st::jinja
