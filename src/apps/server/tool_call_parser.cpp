#include "apps/server/tool_call_parser.h"
#include "apps/server/tag_scan.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace st::server {
namespace {

using json = nlohmann::json;

constexpr std::string_view kOpenTag = "<tool_call>";
constexpr std::string_view kCloseTag = "</tool_call>";

enum class Match { more, fail, ok };

// `{"name": "<string>", "arguments":` at the start of a call's body (whitespace anywhere
// between): on ok, `name` is the decoded name and `end` where the arguments' value may begin.
Match match_header(std::string_view body, std::string& name, size_t& end) {
  size_t i = 0;
  auto skip_space = [&] {
    while (i < body.size() && is_space(body[i])) ++i;
  };
  auto literal = [&](std::string_view lit) {
    skip_space();
    for (char c : lit) {
      if (i == body.size()) return Match::more;
      if (body[i++] != c) return Match::fail;
    }
    return Match::ok;
  };
  for (std::string_view lit : {"{", "\"name\"", ":"})
    if (const Match m = literal(lit); m != Match::ok) return m;
  skip_space();
  if (i == body.size()) return Match::more;
  if (body[i] != '"') return Match::fail;
  size_t j = i + 1;
  for (bool escaped = false; j < body.size(); ++j) {
    if (escaped) escaped = false;
    else if (body[j] == '\\') escaped = true;
    else if (body[j] == '"') break;
  }
  if (j == body.size()) return Match::more;
  const json decoded = json::parse(body.substr(i, j + 1 - i), nullptr, false);
  if (!decoded.is_string()) return Match::fail;
  i = j + 1;
  for (std::string_view lit : {",", "\"arguments\"", ":"})
    if (const Match m = literal(lit); m != Match::ok) return m;
  name = decoded.get<std::string>();
  end = i;
  return Match::ok;
}

}  // namespace

ToolCallParser::Output ToolCallParser::push(std::string_view text) {
  Output out;
  buffer_ += text;
  for (;;) {
    if (!in_call_) {
      content_step(out);
      if (!in_call_) return out;
    }
    if (!call_step(out)) return out;
  }
}

// Content up to an open tag (then in_call_), holding back what may be the start of one and
// trailing whitespace (dropped if a call follows).
void ToolCallParser::content_step(Output& out) {
  const size_t tag = buffer_.find(kOpenTag);
  size_t emit = tag;
  if (tag == std::string::npos) {
    emit = buffer_.size() - partial_tag_tail(buffer_, kOpenTag);
    while (emit > 0 && is_space(buffer_[emit - 1])) --emit;
  } else {
    while (emit > 0 && is_space(buffer_[emit - 1])) --emit;
  }
  size_t from = 0;
  if (after_call_) {  // whitespace after a call is not content
    while (from < emit && is_space(buffer_[from])) ++from;
    if (from < emit) after_call_ = false;
  }
  out.content.append(buffer_, from, emit - from);
  if (tag == std::string::npos) {
    buffer_.erase(0, from < emit ? emit : from);
    return;
  }
  held_space_ = buffer_.substr(std::max(emit, from), tag - std::max(emit, from));  // restored if the block is no call
  buffer_.erase(0, tag + kOpenTag.size());
  in_call_ = true;
  opened_ = header_failed_ = args_done_ = args_started_ = in_string_ = escaped_ = false;
  depth_ = 0;
}

// Passes on the arguments' value as it arrives; false when it needs more text.
bool ToolCallParser::scan_arguments(Output& out) {
  std::string fragment;
  size_t i = 0;
  for (; i < buffer_.size() && !args_done_; ++i) {
    const char c = buffer_[i];
    if (!args_started_) {
      if (is_space(c)) continue;
      args_started_ = true;
    }
    if (in_string_) {
      if (escaped_) escaped_ = false;
      else if (c == '\\') escaped_ = true;
      else if (c == '"') in_string_ = false, args_done_ = depth_ == 0;
    } else if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if (c == '}' || c == ']') {
      if (depth_ == 0) {  // closes the call's object: a scalar value ended before it
        args_done_ = true;
        break;
      }
      args_done_ = --depth_ == 0;
    } else if (depth_ == 0 && (c == ',' || c == '<' || is_space(c))) {
      args_done_ = true;  // a scalar value ended
      break;
    } else if (c == '<') {  // not JSON: the call is cut short (its close tag follows)
      args_done_ = true;
      break;
    }
    fragment += c;
  }
  buffer_.erase(0, i);
  if (!fragment.empty()) out.calls.push_back({n_calls_ - 1, false, "", std::move(fragment)});
  return args_done_;
}

bool ToolCallParser::call_step(Output& out) {
  if (!opened_ && !header_failed_) {
    std::string name;
    size_t end = 0;
    switch (match_header(buffer_, name, end)) {
      case Match::more: return false;
      case Match::fail: header_failed_ = true; break;
      case Match::ok:
        out.calls.push_back({n_calls_++, true, std::move(name), ""});
        opened_ = true;
        buffer_.erase(0, end);
        break;
    }
  }
  if (opened_ && !args_done_ && !scan_arguments(out)) return false;
  const size_t close = buffer_.find(kCloseTag);
  if (close == std::string::npos) return false;
  close_call(out, close);
  return true;
}

// The close tag is at `close`: a call whose header did not match is parsed whole here.
void ToolCallParser::close_call(Output& out, size_t close) {
  if (!opened_) parse_whole(out, buffer_.substr(0, close), true);
  buffer_.erase(0, close + kCloseTag.size());
  in_call_ = false;
  after_call_ = n_calls_ > 0;
}

void ToolCallParser::parse_whole(Output& out, const std::string& body, bool closed) {
  const json j = json::parse(body, nullptr, false);
  const auto name = j.is_object() ? j.find("name") : j.end();
  if (j.is_object() && name != j.end() && name->is_string()) {
    const auto args = j.find("arguments");
    std::string arguments = "{}";
    if (args != j.end()) arguments = args->is_string() ? args->get<std::string>() : args->dump();
    out.calls.push_back({n_calls_, true, name->get<std::string>(), ""});
    out.calls.push_back({n_calls_++, false, "", std::move(arguments)});
    return;
  }
  out.content += held_space_ + std::string(kOpenTag) + body + (closed ? std::string(kCloseTag) : std::string());
}

ToolCallParser::Output ToolCallParser::finish() {
  Output out;
  if (in_call_) {
    if (!opened_) parse_whole(out, buffer_, false);
    in_call_ = false;
  } else {
    std::string rest = std::move(buffer_);
    if (n_calls_ > 0) {
      size_t b = 0, e = rest.size();
      while (b < e && is_space(rest[b]) && after_call_) ++b;
      while (e > b && is_space(rest[e - 1])) --e;
      rest = rest.substr(b, e - b);
    }
    out.content += rest;
  }
  buffer_.clear();
  return out;
}

}  // namespace st::server
