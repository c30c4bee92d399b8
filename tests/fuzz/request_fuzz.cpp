// libFuzzer target: arbitrary bytes as the body of both OpenAI endpoints of `smallthinker
// serve`, and as the bytes of a connection, checking invariants rather than only "no crash":
//  - parse_request either returns a request or throws ApiError with a 4xx status (never any
//    other exception);
//  - an accepted request respects the limits (max_tokens in [1, cap], stop strings bounded,
//    sampling knobs in range) and has its endpoint's input (messages / prompt);
//  - the reply bodies built from the accepted fields serialise, and the error object of a
//    rejection has message/type;
//  - a body nested deeper than the JSON depth limit (up to 200,000 levels, built from the input)
//    is a 400 naming the limit wherever the nesting sits (stop, response_format's schema,
//    message content), never a stack overflow;
//  - the request framing (RequestReader) gives the same requests and the same error however
//    the bytes are split into reads, never a body over the limit, only 400/413/431 errors; a
//    chunked body built from the input with chunk sizes from the input comes out whole, or as
//    a 413 exactly when it is over the limit;
//  - the stop-string matcher, fed the input split at arbitrary points, emits exactly the text
//    before the first stop string (or all of it).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "apps/server/http_framing.h"
#include "apps/server/anthropic_protocol.h"
#include "apps/server/ollama_protocol.h"
#include "apps/server/protocol.h"
#include "apps/server/reasoning.h"
#include "apps/server/tool_call_parser.h"

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

void check_request(std::string_view body, st::server::Endpoint endpoint) {
  using namespace st::server;
  Limits limits;
  limits.max_body_bytes = 1 << 16;
  limits.max_tokens_cap = 64;
  limits.default_max_tokens = 16;
  try {
    const CompletionRequest r = parse_request(body, endpoint, limits);
    check(r.max_tokens >= 1 && r.max_tokens <= limits.max_tokens_cap, "max_tokens within the cap");
    check(r.stop.size() <= limits.max_stop_strings, "stop count bounded");
    for (const auto& s : r.stop) check(!s.empty() && s.size() <= limits.max_stop_bytes, "stop string bounded");
    check(r.sampling.temperature >= 0 && r.sampling.top_p >= 0 && r.sampling.top_p <= 1, "sampling knobs in range");
    check(r.sampling.min_p >= 0 && r.sampling.min_p <= 1 && r.sampling.top_k >= 0, "min_p, top_k in range");
    if (endpoint == Endpoint::chat) check(!r.messages.empty(), "chat requests have messages");
    for (const auto& m : r.messages)
      check(m.role == "system" || m.role == "user" || m.role == "assistant" || m.role == "tool", "known roles only");
    if (r.tool_choice == ToolChoice::named) check(r.tool_choice_index < r.tools.size(), "a named tool is one of the tools");
    if (r.tool_choice == ToolChoice::required) check(!r.tools.empty(), "required needs tools");
    ReplyHead head{endpoint, "id", 0, r.model};
    const std::string text = endpoint == Endpoint::chat ? r.messages.back().content : r.prompt;
    const json reply = full_reply(head, text, "stop", {1, 2}, {});
    check(!reply.dump(-1, ' ', false, json::error_handler_t::replace).empty(), "reply serialises");
    check(!sse_event(text_chunk(head, text, true)).empty(), "chunk serialises");
  } catch (const ApiError& e) {
    check(e.status >= 400 && e.status < 500, "rejections are 4xx");
    const json j = error_body(e);
    check(j["error"]["message"].is_string() && j["error"]["type"].is_string(), "error object has message and type");
  }
}

void check_stop_matcher(std::string_view data) {
  if (data.size() < 2) return;
  // First byte: stop-string length; the next bytes the stop string; the rest the text, pushed
  // in pieces whose sizes come from the text's own bytes.
  const size_t n = 1 + static_cast<uint8_t>(data[0]) % 4;
  if (data.size() < 1 + n) return;
  const std::string stop(data.substr(1, n));
  const std::string_view text = data.substr(1 + n);
  st::server::StopMatcher m({stop});
  std::string out;
  size_t i = 0;
  while (i < text.size() && !m.stopped()) {
    const size_t piece = 1 + static_cast<uint8_t>(text[i]) % 5;
    out += m.push(text.substr(i, piece));
    i += piece;
  }
  out += m.finish();
  const size_t cut = std::string(text).find(stop);
  const std::string expected(text.substr(0, cut == std::string::npos ? text.size() : cut));
  check(out == expected, "stop matcher emits exactly the text before the first stop string");
}

// The tool-call parser, fed the input whole and in pieces whose sizes come from its own bytes,
// passes on the same content and the same calls (names, reassembled arguments).
std::pair<std::string, std::vector<std::pair<std::string, std::string>>> parse_calls(std::string_view text, bool pieces) {
  st::server::ToolCallParser p;
  std::string content;
  std::vector<std::pair<std::string, std::string>> calls;
  auto add = [&](const st::server::ToolCallParser::Output& o) {
    content += o.content;
    for (const auto& e : o.calls) {
      if (e.opens) {
        check(static_cast<size_t>(e.index) == calls.size(), "calls open in order");
        calls.push_back({e.name, ""});
      }
      check(static_cast<size_t>(e.index) < calls.size(), "arguments of an opened call");
      calls[static_cast<size_t>(e.index)].second += e.arguments;
    }
  };
  for (size_t i = 0; i < text.size();) {
    const size_t piece = pieces ? 1 + static_cast<uint8_t>(text[i]) % 7 : text.size();
    add(p.push(text.substr(i, piece)));
    i += piece;
  }
  add(p.finish());
  return {content, calls};
}

void check_tool_call_parser(std::string_view data) {
  check(parse_calls(data, false) == parse_calls(data, true), "tool-call parsing does not depend on the pieces");
}

// The <think> splitter, fed whole and in pieces, gives the same reasoning and content; nothing
// but whitespace and the two tags is ever dropped.
std::pair<std::string, std::string> split_thinking(std::string_view text, bool open, bool pieces) {
  st::server::ReasoningSplitter s(open);
  std::pair<std::string, std::string> out;
  auto add = [&](const st::server::ReasoningSplitter::Output& o) {
    out.first += o.reasoning;
    out.second += o.content;
  };
  for (size_t i = 0; i < text.size();) {
    const size_t piece = pieces ? 1 + static_cast<uint8_t>(text[i]) % 5 : text.size();
    add(s.push(text.substr(i, piece)));
    i += piece;
  }
  add(s.finish());
  return out;
}

void check_reasoning_splitter(std::string_view data) {
  for (const bool open : {false, true}) {
    const auto whole = split_thinking(data, open, false);
    check(whole == split_thinking(data, open, true), "the thinking split does not depend on the pieces");
    check(whole.first.size() + whole.second.size() <= data.size(), "the split adds nothing");
  }
}

// Nesting of `depth` arrays put where a client controls it; the parse must stop at the limit.
void check_deep_nesting(std::string_view data) {
  using namespace st::server;
  if (data.size() < 3) return;
  const size_t depth = 1 + (static_cast<uint8_t>(data[0]) | static_cast<size_t>(static_cast<uint8_t>(data[1])) << 8) * 3;
  const std::string open(depth, '['), close(depth, ']');
  std::string body;
  size_t enclosing = 0;  // containers around the nesting
  switch (static_cast<uint8_t>(data[2]) % 3) {
    case 0:
      body = R"({"prompt":"x","stop":)" + open + close + "}";
      enclosing = 1;
      break;
    case 1:
      body = R"({"prompt":"x","response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object","x":)" +
             open + close + "}}}}";
      enclosing = 4;
      break;
    default:
      body = R"({"messages":[{"role":"user","content":)" + open + close + "}]}";
      enclosing = 3;
      break;
  }
  Limits limits;
  limits.max_body_bytes = 1 << 20;
  const bool too_deep = depth + enclosing > static_cast<size_t>(limits.max_json_depth);
  try {
    (void)parse_request(body, Endpoint::completion, limits);
    check(!too_deep, "a body nested deeper than the limit was accepted");
  } catch (const ApiError& e) {
    check(e.status == 400, "nesting errors are 400s");
    check((e.code == "json_too_deep") == too_deep, "exactly the bodies nested deeper than the limit are refused as such");
  }
}

struct Framed {
  std::vector<std::string> requests;  // target + body of each complete request
  int error = 0;
};

// The bytes of a connection through RequestReader, delivered in reads whose sizes come from
// `split` (0: all at once), as HttpConnection feeds it.
Framed frame(std::string_view bytes, const st::server::FramingLimits& limits, std::string_view split) {
  using st::server::RequestReader;
  RequestReader reader(limits);
  Framed out;
  std::string buffered;
  size_t next = 0, k = 0;
  for (int guard = 0; guard < 1 << 20; ++guard) {
    size_t used = 0;
    const auto p = reader.feed(buffered, used);
    check(used <= buffered.size(), "the reader consumes only what it was given");
    buffered.erase(0, used);
    if (p == RequestReader::Progress::complete) {
      const st::server::Request r = reader.take();
      check(r.body().size() <= limits.body_bytes, "no body over the limit");
      out.requests.push_back(std::string(r.target()) + "\n" + r.body());
      continue;
    }
    if (p == RequestReader::Progress::header) continue;
    if (p == RequestReader::Progress::failed) {
      out.error = reader.error().status;
      check(out.error == 400 || out.error == 413 || out.error == 431, "framing errors are 400, 413 or 431");
      return out;
    }
    if (next >= bytes.size()) return out;
    const size_t piece = split.empty() ? bytes.size() : 1 + static_cast<uint8_t>(split[k++ % split.size()]) % 64;
    buffered.append(bytes.substr(next, piece));
    next += piece;
  }
  check(false, "the reader made no progress");
  return out;
}

void check_framing(std::string_view data) {
  const st::server::FramingLimits limits{512, 256};
  const Framed whole = frame(data, limits, {});
  const Framed split = frame(data, limits, data);
  check(whole.requests == split.requests && whole.error == split.error, "framing does not depend on how bytes are split");
}

// The input as a chunked body, chunk sizes taken from its own bytes.
void check_chunked(std::string_view data) {
  const st::server::FramingLimits limits{512, 256};
  std::string bytes = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (size_t i = 0; i < data.size();) {
    const size_t n = std::min<size_t>(1 + static_cast<uint8_t>(data[i]) % 97, data.size() - i);
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", n);
    bytes += size;
    bytes.append(data.substr(i, n));
    bytes += "\r\n";
    i += n;
  }
  bytes += "0\r\n\r\n";
  const Framed f = frame(bytes, limits, data);
  if (data.size() > limits.body_bytes) {
    check(f.error == 413 && f.requests.empty(), "a chunked body over the limit is a 413");
  } else {
    check(f.error == 0 && f.requests.size() == 1, "a chunked body within the limit is one request");
    check(f.requests[0] == "/v1/completions\n" + std::string(data), "the chunked body comes out whole");
  }
}

// The Ollama and Anthropic translations: the same contract (a request within the limits, or an
// ApiError with a 4xx status naming a field), and their reply bodies serialise.
void check_compat_requests(std::string_view body) {
  using namespace st::server;
  Limits limits;
  limits.max_body_bytes = 1 << 16;
  limits.max_tokens_cap = 64;
  limits.default_max_tokens = 16;
  auto within_limits = [&](const CompletionRequest& r) {
    check(r.max_tokens >= 1 && r.max_tokens <= limits.max_tokens_cap, "compat: max_tokens within the cap");
    check(r.stop.size() <= limits.max_stop_strings, "compat: stop count bounded");
    check(r.sampling.temperature >= 0 && r.sampling.top_p >= 0 && r.sampling.top_p <= 1, "compat: sampling knobs in range");
  };
  for (const auto route : {ollama::Route::chat, ollama::Route::generate}) {
    try {
      const ollama::Request r = ollama::parse_request(body, route, limits);
      if (!r.load_only) within_limits(r.completion);
      (void)ollama::ndjson(ollama::reply_line(route, r.model, "t", r.completion.prompt, "stop"));
    } catch (const ApiError& e) {
      check(e.status >= 400 && e.status < 500, "compat: ollama errors are 4xx");
      (void)ollama::ndjson(ollama::error_body(e));
    }
  }
  try {
    const anthropic::Request r = anthropic::parse_request(body, limits);
    within_limits(r.completion);
    check(!r.completion.messages.empty(), "anthropic: a request has a message");
    (void)anthropic::event(anthropic::message_json({"msg", r.completion.model}, r.prefill, "end_turn", "", {}));
  } catch (const ApiError& e) {
    check(e.status >= 400 && e.status < 500, "compat: anthropic errors are 4xx");
    (void)anthropic::event(anthropic::error_body(e));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  check_request(body, st::server::Endpoint::chat);
  check_request(body, st::server::Endpoint::completion);
  check_compat_requests(body);
  check_stop_matcher(body);
  check_tool_call_parser(body);
  check_reasoning_splitter(body);
  check_deep_nesting(body);
  check_framing(body);
  check_chunked(body);
  return 0;
}
