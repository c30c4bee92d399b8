// Tokens -> syntax tree, with the operator precedence of @huggingface/jinja (the reference the
// tests compare against): ternary < or < and < not < comparisons and `in` < + - ~ < * / // % <
// ** < `is` tests < | filters < unary signs < calls, attributes and subscripts.
#pragma once
#include <vector>

#include "text/jinja/ast.h"
#include "text/jinja/lexer.h"

namespace st::jinja {

// Statements and expressions nested deeper than this are refused (bounded recursion).
inline constexpr int kMaxParseDepth = 128;

// Throws TemplateError naming the problem.
std::vector<NodePtr> parse(const std::vector<Token>& tokens);

}  // namespace st::jinja
