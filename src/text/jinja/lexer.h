// Template source -> tokens. Whitespace control follows what Hugging Face renders chat
// templates with (trim_blocks and lstrip_blocks on, the final newline dropped) as
// @huggingface/jinja implements it; `{% generation %}` markers are removed.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace st::jinja {

enum class Tok {
  kText,
  kNumber,
  kString,
  kIdentifier,
  kEquals,
  kOpenParen,
  kCloseParen,
  kOpenStatement,
  kCloseStatement,
  kOpenExpression,
  kCloseExpression,
  kOpenBracket,
  kCloseBracket,
  kOpenBrace,
  kCloseBrace,
  kComma,
  kDot,
  kColon,
  kPipe,
  kAdditive,        // + - ~
  kMultiplicative,  // * / // %
  kPower,           // **
  kComparison,      // < > <= >= == !=
  kUnary,           // a sign before something that is not a number
  kComment,
};

struct Token {
  Tok type;
  std::string value;
};

// The whitespace-control pass (exposed for tests).
std::string preprocess(std::string_view source);
// Throws TemplateError naming the problem.
std::vector<Token> tokenize(std::string_view source);

}  // namespace st::jinja
