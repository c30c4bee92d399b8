#include "text/jinja/lexer.h"

#include <array>
#include <utility>

#include "text/jinja/js_text.h"
#include "text/jinja/value.h"
#include "text/utf8.h"

namespace st::jinja {
namespace {

// Byte length of the JavaScript whitespace character at s[pos], 0 if there is none.
size_t space_at(std::string_view s, size_t pos) {
  if (pos >= s.size()) return 0;
  const auto c = static_cast<unsigned char>(s[pos]);
  if (c < 0x80) return js::is_space(c) ? 1 : 0;
  char32_t cp = 0;
  const size_t n = utf8::valid_sequence_length(s, pos, &cp);
  return n > 0 && js::is_space(cp) ? n : 0;
}

bool is_line_break(std::string_view s, size_t pos, size_t* len) {
  if (s[pos] == '\n' || s[pos] == '\r') {
    *len = 1;
    return true;
  }
  if (s.substr(pos, 3) == "\xE2\x80\xA8" || s.substr(pos, 3) == "\xE2\x80\xA9") {  // U+2028, U+2029
    *len = 3;
    return true;
  }
  return false;
}

// lstrip_blocks: blanks between a line start and "{%", "{#" (or "{-") go.
std::string lstrip_blocks(std::string_view s) {
  std::string out;
  size_t pos = 0;
  bool line_start = true;
  while (pos < s.size()) {
    if (line_start) {
      size_t e = pos;
      while (e < s.size() && (s[e] == ' ' || s[e] == '\t')) ++e;
      if (e + 1 < s.size() && s[e] == '{' && (s[e + 1] == '#' || s[e + 1] == '%' || s[e + 1] == '-')) pos = e;
      line_start = false;
      continue;
    }
    size_t n = 0;
    if (is_line_break(s, pos, &n)) {
      out.append(s.substr(pos, n));
      pos += n;
      line_start = true;
      continue;
    }
    out += s[pos++];
  }
  return out;
}

// trim_blocks: the newline right after "%}", "#}" (or "-}") goes.
std::string trim_blocks(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    out += s[i];
    if (s[i] == '}' && i > 0 && (s[i - 1] == '#' || s[i - 1] == '%' || s[i - 1] == '-') && i + 1 < s.size() &&
        s[i + 1] == '\n')
      ++i;
  }
  return out;
}

// Matches "{%-? *(end)?generation *-?%}" at pos; returns its length (0: none) and the dashes.
size_t generation_tag(std::string_view s, size_t pos, bool* lstrip, bool* rstrip) {
  if (s.substr(pos, 2) != "{%") return 0;
  size_t i = pos + 2;
  *lstrip = i < s.size() && s[i] == '-';
  if (*lstrip) ++i;
  while (size_t n = space_at(s, i)) i += n;
  if (s.substr(i, 3) == "end") i += 3;
  if (s.substr(i, 10) != "generation") return 0;
  i += 10;
  while (size_t n = space_at(s, i)) i += n;
  *rstrip = i < s.size() && s[i] == '-';
  if (*rstrip) ++i;
  if (s.substr(i, 2) != "%}") return 0;
  return i + 2 - pos;
}

std::string strip_generation_tags(std::string_view s) {
  std::string out;
  size_t last = 0;
  for (size_t pos = s.find("{%"); pos != std::string_view::npos; pos = s.find("{%", pos + 1)) {
    if (pos < last) continue;
    bool lstrip = false, rstrip = false;
    const size_t len = generation_tag(s, pos, &lstrip, &rstrip);
    if (len == 0) continue;
    std::string before(s.substr(last, pos - last));
    if (lstrip) before = js::trim(before, false, true);
    out += before;
    size_t after = pos + len;
    while (size_t n = space_at(s, after)) after += n;
    if (!rstrip) out.append(s.substr(pos + len, after - pos - len));
    last = after;
    pos = after - 1;
  }
  out.append(s.substr(last));
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_word(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_'; }

class Lexer {
 public:
  explicit Lexer(std::string src) : src_(std::move(src)) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) step();
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw TemplateError("template syntax error at byte " + std::to_string(pos_) + ": " + what);
  }
  char at(size_t i) const { return i < src_.size() ? src_[i] : '\0'; }
  bool last_is(Tok t) const { return !tokens_.empty() && tokens_.back().type == t; }
  void push(Tok t, std::string v) { tokens_.push_back({t, std::move(v)}); }

  void skip_space_or_fail() {
    while (size_t n = space_at(src_, pos_)) {
      pos_ += n;
      if (pos_ >= src_.size()) fail("unexpected end of input");
    }
  }
  void skip_space() {
    while (size_t n = space_at(src_, pos_)) pos_ += n;
  }
  void strip_trailing_text() {
    if (!last_is(Tok::kText)) return;
    tokens_.back().value = js::trim(tokens_.back().value, false, true);
    if (tokens_.back().value.empty()) tokens_.pop_back();
  }
  std::string digits() {
    const size_t start = pos_;
    while (is_digit(at(pos_))) {
      if (++pos_ >= src_.size()) fail("unexpected end of input");
    }
    return src_.substr(start, pos_ - start);
  }

  bool text() {
    size_t end = pos_;
    for (;;) {
      end = src_.find('{', end);
      if (end == std::string::npos) {
        end = src_.size();
        break;
      }
      const char next = at(end + 1);
      if (next == '%' || next == '{' || next == '#') break;
      ++end;
    }
    if (end <= pos_) return false;
    push(Tok::kText, src_.substr(pos_, end - pos_));
    pos_ = end;
    return true;
  }

  void comment() {
    pos_ += 2;
    const bool strip_before = at(pos_) == '-';
    if (strip_before) ++pos_;
    const size_t end = src_.find("#}", pos_);
    if (end == std::string::npos) fail("missing end of comment tag '#}'");
    std::string body = src_.substr(pos_, end - pos_);
    const bool strip_after = !body.empty() && body.back() == '-';
    if (strip_after) body.pop_back();
    if (strip_before) strip_trailing_text();
    push(Tok::kComment, std::move(body));
    pos_ = end + 2;
    if (strip_after) skip_space();
  }

  std::string quoted(char quote) {
    std::string out;
    for (;;) {
      if (pos_ >= src_.size()) fail("unexpected end of input in a string literal");
      const char c = src_[pos_];
      if (c == quote) break;
      ++pos_;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= src_.size()) fail("unexpected end of input in a string literal");
      const char e = src_[pos_++];
      if (e == 'x' || e == 'u') {
        const size_t len = e == 'x' ? 2 : 4;
        const std::string hex = src_.substr(pos_, len);
        if (hex.size() != len || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
          fail("invalid hexadecimal escape sequence \\" + std::string(1, e) + hex);
        utf8::append(out, static_cast<char32_t>(std::stoul(hex, nullptr, 16)));
        pos_ += len;
        continue;
      }
      static constexpr std::array<std::pair<char, char>, 9> kEscapes = {
          {{'n', '\n'}, {'t', '\t'}, {'r', '\r'}, {'b', '\b'}, {'f', '\f'}, {'v', '\v'}, {'\'', '\''}, {'"', '"'}, {'\\', '\\'}}};
      bool known = false;
      for (const auto& [k, v] : kEscapes) {
        if (k == e) {
          out += v;
          known = true;
        }
      }
      if (!known) fail(std::string("unexpected escaped character '") + e + "'");
    }
    ++pos_;  // the closing quote
    return out;
  }

  bool sign_literal(char c) {
    if (tokens_.empty() || last_is(Tok::kText)) fail(std::string("unexpected character '") + c + "'");
    const Tok last = tokens_.back().type;
    if (last == Tok::kIdentifier || last == Tok::kNumber || last == Tok::kString || last == Tok::kCloseParen ||
        last == Tok::kCloseBracket)
      return false;  // a binary operator
    ++pos_;
    std::string num = digits();
    if (!num.empty() && at(pos_) == '.' && is_digit(at(pos_ + 1))) {
      ++pos_;
      num += '.';
      num += digits();
    }
    push(num.empty() ? Tok::kUnary : Tok::kNumber, std::string(1, c) + num);
    return true;
  }

  bool symbol() {
    struct Rule {
      const char* text;
      Tok type;
    };
    static constexpr Rule kRules[] = {
        {"{%", Tok::kOpenStatement}, {"%}", Tok::kCloseStatement}, {"{{", Tok::kOpenExpression},
        {"}}", Tok::kCloseExpression}, {"(", Tok::kOpenParen},     {")", Tok::kCloseParen},
        {"{", Tok::kOpenBrace},        {"}", Tok::kCloseBrace},      {"[", Tok::kOpenBracket},
        {"]", Tok::kCloseBracket},     {",", Tok::kComma},           {".", Tok::kDot},
        {":", Tok::kColon},            {"|", Tok::kPipe},            {"<=", Tok::kComparison},
        {">=", Tok::kComparison},      {"==", Tok::kComparison},     {"!=", Tok::kComparison},
        {"<", Tok::kComparison},       {">", Tok::kComparison},      {"+", Tok::kAdditive},
        {"-", Tok::kAdditive},         {"~", Tok::kAdditive},        {"**", Tok::kPower},
        {"*", Tok::kMultiplicative},   {"//", Tok::kMultiplicative}, {"/", Tok::kMultiplicative},
        {"%", Tok::kMultiplicative},   {"=", Tok::kEquals}};
    for (const Rule& r : kRules) {
      const std::string_view t = r.text;
      if (t == "}}" && brace_depth_ > 0) continue;
      if (src_.compare(pos_, t.size(), t) != 0) continue;
      push(r.type, std::string(t));
      if (r.type == Tok::kOpenExpression) brace_depth_ = 0;
      else if (r.type == Tok::kOpenBrace) ++brace_depth_;
      else if (r.type == Tok::kCloseBrace) --brace_depth_;
      pos_ += t.size();
      return true;
    }
    return false;
  }

  void step() {
    if (tokens_.empty() || last_is(Tok::kCloseStatement) || last_is(Tok::kCloseExpression) || last_is(Tok::kComment)) {
      if (text()) return;
    }
    if (at(pos_) == '{') {
      const char next = at(pos_ + 1);
      if (next == '#') return comment();
      if (at(pos_ + 2) == '-' && (next == '%' || next == '{')) {
        strip_trailing_text();
        push(next == '%' ? Tok::kOpenStatement : Tok::kOpenExpression, next == '%' ? "{%" : "{{");
        if (next == '{') brace_depth_ = 0;
        pos_ += 3;
        return;
      }
    }
    skip_space_or_fail();
    const char c = at(pos_);
    if (c == '-' && at(pos_ + 2) == '}' && (at(pos_ + 1) == '%' || at(pos_ + 1) == '}')) {
      push(at(pos_ + 1) == '%' ? Tok::kCloseStatement : Tok::kCloseExpression, at(pos_ + 1) == '%' ? "%}" : "}}");
      pos_ += 3;
      skip_space();
      return;
    }
    if ((c == '-' || c == '+') && sign_literal(c)) return;
    if (symbol()) return;
    if (c == '\'' || c == '"') {
      ++pos_;
      push(Tok::kString, quoted(c));
      return;
    }
    if (is_digit(c)) {
      std::string num = digits();
      if (!last_is(Tok::kDot) && at(pos_) == '.' && is_digit(at(pos_ + 1))) {
        ++pos_;
        num += '.';
        num += digits();
      }
      push(Tok::kNumber, std::move(num));
      return;
    }
    if (is_word(c)) {
      const size_t start = pos_;
      while (is_word(at(pos_))) {
        if (++pos_ >= src_.size()) fail("unexpected end of input");
      }
      push(Tok::kIdentifier, src_.substr(start, pos_ - start));
      return;
    }
    fail(std::string("unexpected character '") + c + "'");
  }

  std::string src_;
  size_t pos_ = 0;
  int brace_depth_ = 0;
  std::vector<Token> tokens_;
};

}  // namespace

std::string preprocess(std::string_view source) {
  if (!source.empty() && source.back() == '\n') source.remove_suffix(1);
  return strip_generation_tags(trim_blocks(lstrip_blocks(source)));
}

std::vector<Token> tokenize(std::string_view source) { return Lexer(preprocess(source)).run(); }

}  // namespace st::jinja
