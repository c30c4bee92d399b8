// libFuzzer target: arbitrary bytes as the body of both OpenAI endpoints of `smallthinker
// serve`, checking invariants rather than only "no crash":
//  - parse_request either returns a request or throws ApiError with a 4xx status (never any
//    other exception);
//  - an accepted request respects the limits (max_tokens in [1, cap], stop strings bounded,
//    sampling knobs in range) and has its endpoint's input (messages / prompt);
//  - the reply bodies built from the accepted fields serialise, and the error object of a
//    rejection has message/type;
//  - the stop-string matcher, fed the input split at arbitrary points, emits exactly the text
//    before the first stop string (or all of it).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "apps/server/protocol.h"

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
      check(m.role == "system" || m.role == "user" || m.role == "assistant", "known roles only");
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  check_request(body, st::server::Endpoint::chat);
  check_request(body, st::server::Endpoint::completion);
  check_stop_matcher(body);
  return 0;
}
