#include "text/jinja/js_text.h"

#include <utf8proc.h>

#include <cmath>
#include <cstdlib>
#include <limits>

#include "text/utf8.h"

namespace st::jinja::js {

bool is_space(char32_t c) {
  if (c <= 32) return c == 32 || (c >= 9 && c <= 13);
  return c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

std::vector<char32_t> code_points(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    char32_t cp = 0;
    size_t n = utf8::valid_sequence_length(s, i, &cp);
    if (n == 0) {
      n = utf8::maximal_subpart_length(s, i);
      cp = utf8::kReplacement;
    }
    out.push_back(cp);
    i += n;
  }
  return out;
}

std::string from_code_points(const std::vector<char32_t>& cps, size_t begin, size_t end) {
  std::string out;
  for (size_t i = begin; i < end && i < cps.size(); ++i) utf8::append(out, cps[i]);
  return out;
}

size_t utf16_length(std::string_view s) {
  size_t n = 0;
  for (char32_t c : code_points(s)) n += c >= 0x10000 ? 2 : 1;
  return n;
}

bool char_at(std::string_view s, long long i, std::string& out) {
  // Index by UTF-16 unit; half of a surrogate pair cannot be UTF-8, so it reads as U+FFFD.
  std::vector<std::string> units;
  for (char32_t c : code_points(s)) {
    std::string one;
    utf8::append(one, c);
    if (c >= 0x10000) {
      units.emplace_back(utf8::kReplacementUtf8);
      units.emplace_back(utf8::kReplacementUtf8);
    } else {
      units.push_back(std::move(one));
    }
  }
  const long long n = static_cast<long long>(units.size());
  if (i < 0) i += n;
  if (i < 0 || i >= n) return false;
  out = units[static_cast<size_t>(i)];
  return true;
}

std::string trim(std::string_view s, bool start, bool end) {
  const auto cps = code_points(s);
  size_t b = 0, e = cps.size();
  if (start)
    while (b < e && is_space(cps[b])) ++b;
  if (end)
    while (e > b && is_space(cps[e - 1])) --e;
  return from_code_points(cps, b, e);
}

namespace {

template <typename Map>
std::string map_chars(std::string_view s, Map map) {
  if (utf8::is_ascii(s)) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(map(static_cast<char32_t>(static_cast<unsigned char>(c))));
    return out;
  }
  std::string out;
  for (char32_t c : code_points(s)) utf8::append(out, map(c));
  return out;
}

char32_t to_upper(char32_t c) { return static_cast<char32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(c))); }
char32_t to_lower(char32_t c) { return static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))); }
bool is_word(char32_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

}  // namespace

std::string upper(std::string_view s) { return map_chars(s, to_upper); }
std::string lower(std::string_view s) { return map_chars(s, to_lower); }

std::string title(std::string_view s) {
  std::string out(s);
  bool prev_word = false;
  for (char& c : out) {  // \w and \b are ASCII-only in JavaScript regexes without the u flag
    const auto u = static_cast<unsigned char>(c);
    const bool w = u < 0x80 && is_word(u);
    if (w && !prev_word && u >= 'a' && u <= 'z') c = static_cast<char>(u - 32);
    prev_word = w;
  }
  return out;
}

std::string capitalize(std::string_view s) {
  auto cps = code_points(s);
  if (cps.empty()) return "";
  if (cps[0] < 0x10000) cps[0] = to_upper(cps[0]);
  return from_code_points(cps, 0, cps.size());
}

std::vector<std::string> split(std::string_view s, std::string_view sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    const size_t hit = s.find(sep, pos);
    if (hit == std::string_view::npos) break;
    out.emplace_back(s.substr(pos, hit - pos));
    pos = hit + sep.size();
  }
  out.emplace_back(s.substr(pos));
  return out;
}

std::vector<std::string> split_whitespace(std::string_view s, long long maxsplit) {
  const auto cps = code_points(s);
  std::vector<std::string> out;
  size_t i = 0;
  while (i < cps.size() && is_space(cps[i])) ++i;
  while (i < cps.size()) {
    if (maxsplit >= 0 && static_cast<long long>(out.size()) >= maxsplit) {
      out.push_back(from_code_points(cps, i, cps.size()));
      break;
    }
    size_t j = i;
    while (j < cps.size() && !is_space(cps[j])) ++j;
    out.push_back(from_code_points(cps, i, j));
    i = j;
    while (i < cps.size() && is_space(cps[i])) ++i;
  }
  return out;
}

std::string replace(std::string_view s, std::string_view from, std::string_view to, long long count) {
  if (count == 0) return std::string(s);
  long long remaining = count < 0 ? std::numeric_limits<long long>::max() : count;
  std::string out;
  if (from.empty()) {  // matches before every code point and at the end
    const auto cps = code_points(s);
    for (size_t i = 0; i <= cps.size(); ++i) {
      if (remaining > 0) {
        out += to;
        --remaining;
      }
      if (i < cps.size()) utf8::append(out, cps[i]);
    }
    return out;
  }
  size_t pos = 0;
  while (remaining > 0) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(pos, hit - pos)).append(to);
    pos = hit + from.size();
    --remaining;
  }
  out.append(s.substr(pos));
  return out;
}

namespace {

// Skips JavaScript whitespace at the start; returns the rest as ASCII-relevant text.
std::string_view skip_space(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    char32_t cp = 0;
    const size_t n = utf8::valid_sequence_length(s, i, &cp);
    if (n == 0 || !is_space(cp)) break;
    i += n;
  }
  return s.substr(i);
}

// The longest prefix that is [+-](Infinity | digits[.digits][e[+-]digits] | .digits[e...]).
size_t decimal_prefix(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  if (s.substr(i, 8) == "Infinity") return i + 8;
  const size_t int_start = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  bool digits = i > int_start;
  if (i < s.size() && s[i] == '.') {
    size_t j = i + 1;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
    if (j > i + 1 || digits) {
      digits = digits || j > i + 1;
      i = j;
    }
  }
  if (!digits) return 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    size_t j = i + 1;
    if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
    const size_t exp_start = j;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
    if (j > exp_start) i = j;
  }
  return i;
}

double decimal_value(std::string_view text) {
  std::string t(text);
  bool neg = false;
  if (!t.empty() && (t[0] == '+' || t[0] == '-')) {
    neg = t[0] == '-';
    t.erase(0, 1);
  }
  const double v = t == "Infinity" ? std::numeric_limits<double>::infinity() : std::strtod(t.c_str(), nullptr);
  return neg ? -v : v;
}

}  // namespace

double parse_int(std::string_view s) {
  s = skip_space(s);
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  double v = 0;
  const size_t start = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') v = v * 10 + (s[i++] - '0');
  if (i == start) return std::numeric_limits<double>::quiet_NaN();
  return neg ? -v : v;
}

double parse_float(std::string_view s) {
  s = skip_space(s);
  const size_t n = decimal_prefix(s);
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  return decimal_value(s.substr(0, n));
}

double to_number(std::string_view s) {
  const std::string t = trim(s, true, true);
  if (t.empty()) return 0;
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X' || t[1] == 'o' || t[1] == 'O' || t[1] == 'b' || t[1] == 'B')) {
    const int base = (t[1] == 'x' || t[1] == 'X') ? 16 : (t[1] == 'o' || t[1] == 'O') ? 8 : 2;
    double v = 0;
    for (size_t i = 2; i < t.size(); ++i) {
      const char c = t[i];
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 99;
      if (d >= base) return std::numeric_limits<double>::quiet_NaN();
      v = v * base + d;
    }
    return v;
  }
  if (decimal_prefix(t) != t.size()) return std::numeric_limits<double>::quiet_NaN();
  return decimal_value(t);
}

}  // namespace st::jinja::js
