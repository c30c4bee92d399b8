// String operations with the results JavaScript gives (the reference interpreter is written in
// it): lengths and indexes count UTF-16 code units, "whitespace" is JavaScript's set (Unicode
// space separators, line terminators and U+FEFF), case mapping is Unicode's simple mapping.
// Strings are UTF-8 throughout.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace st::jinja::js {

bool is_space(char32_t c);
std::vector<char32_t> code_points(std::string_view s);
std::string from_code_points(const std::vector<char32_t>& cps, size_t begin, size_t end);

size_t utf16_length(std::string_view s);
// s.at(i) (negative from the end); false when out of range.
bool char_at(std::string_view s, long long i, std::string& out);

std::string trim(std::string_view s, bool start, bool end);
std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string title(std::string_view s);       // /\b\w/ to upper case
std::string capitalize(std::string_view s);  // the first character to upper case, the rest as is

// str.split(sep) for a non-empty separator; split on runs of whitespace when sep is null.
std::vector<std::string> split(std::string_view s, std::string_view sep);
std::vector<std::string> split_whitespace(std::string_view s, long long maxsplit);
// Replaces at most `count` occurrences (count < 0: all); an empty `from` matches between code points.
std::string replace(std::string_view s, std::string_view from, std::string_view to, long long count);

// parseInt(s, 10) and parseFloat(s); NaN when no number starts the text.
double parse_int(std::string_view s);
double parse_float(std::string_view s);
// Number(s): the whole trimmed text must be a number ("" is 0).
double to_number(std::string_view s);

}  // namespace st::jinja::js
