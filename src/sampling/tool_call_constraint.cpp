#include "sampling/tool_call_constraint.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "sampling/json_constraint.h"
#include "text/json_bounded.h"

namespace st {
namespace {

constexpr size_t kMaxWhitespaceRun = 4;  // bytes of whitespace between two pieces of a call

enum class Phase {
  free_text,  // automatic / none: until the open tag is spelled
  open_tag,   // spelling "<tool_call>" (position tag_pos)
  open_ws,    // after the open tag: whitespace or the JSON object
  json,       // inside the JSON object
  close_ws,   // after the object: whitespace or the close tag
  close_tag,  // spelling "</tool_call>"
  after,      // no further call: whitespace or an end token
};

bool is_whitespace(std::string_view bytes) {
  return !bytes.empty() &&
         std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; });
}

// {"type":"object","properties":{"name":{"const":NAME},"arguments":PARAMETERS}} for one tool:
// JsonConstraint writes every property in schema order, so the call is name first.
std::string call_schema(const ToolCallConstraint::Tool& tool, size_t index) {
  using ojson = nlohmann::ordered_json;
  ojson params = ojson::object();
  if (!tool.parameters.empty()) {
    // Bounded nesting: building and printing the schema below recurse once per level.
    try {
      params = parse_json_bounded<ojson>(tool.parameters, "the parameters of tool '" + tool.name + "'");
    } catch (const JsonTooDeep& e) {
      throw ToolCallConstraint::SchemaError(index, e.what());
    }
    if (params.is_discarded() || !params.is_object())
      throw ToolCallConstraint::SchemaError(index, "the parameters of tool '" + tool.name + "' are not a JSON object");
  }
  if (!params.contains("type")) params["type"] = "object";  // {"properties": ...} without a type
  if (params["type"] != "object")
    throw ToolCallConstraint::SchemaError(index, "the parameters of tool '" + tool.name + "' must be {\"type\": \"object\", ...}");
  if (!params.contains("properties")) params["properties"] = ojson::object();
  ojson schema = {{"type", "object"}, {"properties", {{"name", {{"const", tool.name}}}, {"arguments", std::move(params)}}}};
  return schema.dump();
}

// Messages of the JSON constraint name places as "$.arguments.x": the client knows them as the
// parameters' "$.x".
std::string client_message(std::string m) {
  for (size_t p; (p = m.find("$.arguments")) != std::string::npos;) m.replace(p, std::strlen("$.arguments"), "$");
  return m;
}

}  // namespace

struct ToolCallConstraint::Impl {
  std::shared_ptr<const std::vector<std::string>> bytes;
  std::vector<int32_t> end_tokens;
  std::vector<JsonConstraint> calls;  // one per tool
  std::vector<uint8_t> alive;         // calls still matching the call being written
  Mode mode = Mode::automatic;
  bool parallel = true;

  Phase phase = Phase::free_text;
  size_t tag_pos = 0;    // bytes of the tag spelled so far
  size_t ws_run = 0;     // whitespace bytes since the last piece
  int n_calls = 0;
  std::string tail;      // free text: its last bytes (a possible start of the open tag)

  // By vocabulary, computed once.
  std::vector<int32_t> whitespace, open_pieces, close_pieces, with_gt;
  // Tokens that may end the JSON and run on into the whitespace after it ("}}\n"): their
  // JSON part is the bytes up to json_part_end.
  std::vector<int32_t> json_then_space;
  std::vector<uint16_t> json_part_end;  // [n_vocab]
  std::vector<uint8_t> allowed;
  std::vector<float> scratch;

  size_t n_vocab() const { return bytes->size(); }
  const std::string& of(int32_t t) const { return (*bytes)[size_t(t)]; }
  bool is_end(int32_t t) const { return std::find(end_tokens.begin(), end_tokens.end(), t) != end_tokens.end(); }
  bool ends_allowed() const {
    return phase == Phase::free_text || phase == Phase::after || (phase == Phase::open_tag && tag_pos == 0 && n_calls > 0);
  }

  void classify_vocabulary() {
    const std::string_view open(kOpenTag), close(kCloseTag);
    json_part_end.assign(n_vocab(), 0);
    for (int32_t t = 0; t < int32_t(n_vocab()); ++t) {
      const std::string& b = of(t);
      if (b.empty()) continue;
      if (is_whitespace(b)) whitespace.push_back(t);
      if (open.find(b) != std::string_view::npos) open_pieces.push_back(t);
      if (close.find(b) != std::string_view::npos) close_pieces.push_back(t);
      if (b.find('>') != std::string::npos) with_gt.push_back(t);
      const size_t last = b.find_last_not_of(" \n\t\r");
      if (last != std::string::npos && last + 1 < b.size() && b.size() - last - 1 <= kMaxWhitespaceRun &&
          (b[last] == '}' || b[last] == '"')) {
        json_then_space.push_back(t);
        json_part_end[size_t(t)] = uint16_t(std::min<size_t>(last + 1, UINT16_MAX));
      }
    }
  }

  // Where the free text `tail + token` spells the open tag: npos if nowhere.
  size_t open_tag_at(int32_t t) const { return (tail + of(t)).find(kOpenTag); }

  void begin_call() {
    phase = Phase::open_ws, ws_run = 0, tag_pos = 0;
    tail.clear();
    for (auto& c : calls) c.reset();
    alive.assign(calls.size(), 1);
  }

  void allow_whitespace() {
    for (int32_t t : whitespace)
      if (ws_run + of(t).size() <= kMaxWhitespaceRun) allowed[size_t(t)] = 1;
  }
  void allow_tag_pieces(const std::vector<int32_t>& pieces, std::string_view tag) {
    for (int32_t t : pieces)
      if (tag.compare(tag_pos, of(t).size(), of(t)) == 0 && tag_pos + of(t).size() <= tag.size()) allowed[size_t(t)] = 1;
  }
  void allow_json() {
    for (size_t i = 0; i < calls.size(); ++i) {
      if (!alive[i]) continue;
      scratch.assign(n_vocab(), 0.0f);
      calls[i].apply(scratch);
      for (size_t t = 0; t < scratch.size(); ++t)
        if (scratch[t] == 0.0f) allowed[t] = 1;
      for (int32_t t : json_then_space)
        if (calls[i].completed_by(std::string_view(of(t)).substr(0, json_part_end[size_t(t)]))) allowed[size_t(t)] = 1;
    }
  }

  void mask(std::span<float> logits);
  void accept(int32_t token);
  void accept_tag_piece(const std::string& b, std::string_view tag);
  void accept_json(int32_t token);
  void accept_whitespace(const std::string& b);
};

void ToolCallConstraint::Impl::mask(std::span<float> logits) {
  constexpr float kBanned = -std::numeric_limits<float>::infinity();
  if (phase == Phase::free_text) {
    // A token that completes the open tag: in `none` never, in `automatic` only when the tag
    // ends with it (the call that follows is constrained from the next token on).
    for (int32_t t : with_gt) {
      const size_t at = open_tag_at(t);
      if (at == std::string::npos || size_t(t) >= logits.size()) continue;
      if (mode == Mode::none || at + std::strlen(kOpenTag) != tail.size() + of(t).size()) logits[size_t(t)] = kBanned;
    }
    return;
  }
  allowed.assign(n_vocab(), 0);
  switch (phase) {
    case Phase::open_tag:
      allow_tag_pieces(open_pieces, kOpenTag);
      if (tag_pos == 0 && n_calls > 0) allow_whitespace();
      break;
    case Phase::open_ws:
      allow_whitespace();
      allow_json();
      break;
    case Phase::json: allow_json(); break;
    case Phase::close_ws:
      allow_whitespace();
      allow_tag_pieces(close_pieces, kCloseTag);
      break;
    case Phase::close_tag: allow_tag_pieces(close_pieces, kCloseTag); break;
    default: allow_whitespace(); break;  // after
  }
  if (ends_allowed())
    for (int32_t e : end_tokens)
      if (e >= 0 && size_t(e) < allowed.size()) allowed[size_t(e)] = 1;
  const size_t n = std::min(logits.size(), allowed.size());
  for (size_t i = 0; i < n; ++i) logits[i] = allowed[i] ? logits[i] : kBanned;
  for (size_t i = n; i < logits.size(); ++i) logits[i] = kBanned;
}

void ToolCallConstraint::Impl::accept_whitespace(const std::string& b) {
  if (ws_run + b.size() > kMaxWhitespaceRun) throw std::invalid_argument("ToolCallConstraint: whitespace run too long");
  ws_run += b.size();
}

void ToolCallConstraint::Impl::accept_tag_piece(const std::string& b, std::string_view tag) {
  if (tag_pos + b.size() > tag.size() || tag.compare(tag_pos, b.size(), b) != 0)
    throw std::invalid_argument("ToolCallConstraint: token does not continue '" + std::string(tag) + "'");
  tag_pos += b.size();
  ws_run = 0;
}

void ToolCallConstraint::Impl::accept_json(int32_t token) {
  bool any = false, complete = false;
  if (json_part_end[size_t(token)] > 0) {  // the token may end the object and run on into whitespace
    const std::string_view part = std::string_view(of(token)).substr(0, json_part_end[size_t(token)]);
    for (size_t i = 0; i < calls.size(); ++i)
      if (alive[i] && !calls[i].allows(token) && calls[i].completed_by(part)) {
        calls[i].accept_bytes(part);
        phase = Phase::close_ws;
        ws_run = of(token).size() - part.size();
        return;
      }
  }
  for (size_t i = 0; i < calls.size(); ++i) {
    if (!alive[i]) continue;
    if (!calls[i].allows(token)) {
      alive[i] = 0;
      continue;
    }
    calls[i].accept(token);
    any = true;
    complete = complete || calls[i].complete();
  }
  if (!any) throw std::invalid_argument("ToolCallConstraint: token " + std::to_string(token) + " cannot continue the call");
  phase = complete ? Phase::close_ws : Phase::json;
  ws_run = 0;
}

void ToolCallConstraint::Impl::accept(int32_t token) {
  if (is_end(token)) {
    if (!ends_allowed()) throw std::invalid_argument("ToolCallConstraint: end token inside a tool call");
    return;
  }
  if (token < 0 || size_t(token) >= n_vocab()) throw std::invalid_argument("ToolCallConstraint: token out of range");
  const std::string& b = of(token);
  switch (phase) {
    case Phase::free_text: {
      const size_t at = open_tag_at(token);
      if (at == std::string::npos) {
        tail += b;
        const size_t keep = std::strlen(kOpenTag) - 1;
        if (tail.size() > keep) tail.erase(0, tail.size() - keep);
        return;
      }
      if (mode == Mode::none || at + std::strlen(kOpenTag) != tail.size() + b.size())
        throw std::invalid_argument("ToolCallConstraint: token runs on past the open tag");
      begin_call();
      return;
    }
    case Phase::open_tag:
      if (tag_pos == 0 && n_calls > 0 && is_whitespace(b)) return accept_whitespace(b);
      accept_tag_piece(b, kOpenTag);
      if (tag_pos == std::strlen(kOpenTag)) begin_call();
      return;
    case Phase::open_ws:
      if (is_whitespace(b)) return accept_whitespace(b);
      return accept_json(token);
    case Phase::json: return accept_json(token);
    case Phase::close_ws:
      if (is_whitespace(b)) return accept_whitespace(b);
      phase = Phase::close_tag, tag_pos = 0;
      [[fallthrough]];
    case Phase::close_tag:
      accept_tag_piece(b, kCloseTag);
      if (tag_pos == std::strlen(kCloseTag)) {
        ++n_calls;
        phase = parallel ? Phase::open_tag : Phase::after;
        tag_pos = 0;
      }
      return;
    default:  // after
      if (!is_whitespace(b)) throw std::invalid_argument("ToolCallConstraint: only an end token may follow the call");
      accept_whitespace(b);
  }
}

ToolCallConstraint::ToolCallConstraint(std::shared_ptr<const std::vector<std::string>> token_bytes,
                                       std::vector<int32_t> end_tokens, std::vector<Tool> tools, Mode mode, bool parallel)
    : impl_(std::make_unique<Impl>()) {
  if (!token_bytes) throw std::invalid_argument("ToolCallConstraint: token_bytes is null");
  if (tools.empty() && mode != Mode::none) throw std::invalid_argument("ToolCallConstraint: no tools to call");
  Impl& m = *impl_;
  m.bytes = token_bytes;
  m.end_tokens = std::move(end_tokens);
  m.mode = mode;
  m.parallel = parallel;
  if (mode != Mode::none) {
    for (size_t i = 0; i < tools.size(); ++i) {
      const std::string schema = call_schema(tools[i], i);
      try {
        m.calls.push_back(JsonConstraint::for_schema(token_bytes, {}, schema));
      } catch (const std::invalid_argument& e) {
        throw SchemaError(i, "tool '" + tools[i].name + "': " + client_message(e.what()));
      }
    }
  }
  m.classify_vocabulary();
  m.phase = mode == Mode::required ? Phase::open_tag : Phase::free_text;
}

ToolCallConstraint::~ToolCallConstraint() = default;
ToolCallConstraint::ToolCallConstraint(ToolCallConstraint&&) noexcept = default;
ToolCallConstraint& ToolCallConstraint::operator=(ToolCallConstraint&&) noexcept = default;

void ToolCallConstraint::apply(std::span<float> logits) { impl_->mask(logits); }
void ToolCallConstraint::accept(int32_t token) { impl_->accept(token); }
bool ToolCallConstraint::in_call() const {
  const Phase p = impl_->phase;
  return p == Phase::open_ws || p == Phase::json || p == Phase::close_ws || p == Phase::close_tag ||
         (p == Phase::open_tag && impl_->tag_pos > 0);
}
int ToolCallConstraint::calls() const { return impl_->n_calls; }

}  // namespace st
