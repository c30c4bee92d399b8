// Request framing with limits (src/apps/server/http_framing.h): pipelined requests come out one
// by one in order, a chunked body is refused as soon as it passes the body limit (not once
// buffered), the header has its own limit, and splitting the bytes anywhere changes nothing.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "apps/server/http_framing.h"

namespace st::server {
namespace {

struct Result {
  std::vector<std::string> targets, bodies;
  int error = 0;
  size_t consumed = 0;  // bytes consumed before the reader stopped
  bool saw_header = false;
};

// Feeds `bytes` in pieces of `piece` bytes, as a connection's reads would deliver them.
Result run(const std::string& bytes, FramingLimits limits, size_t piece = 1 << 20) {
  RequestReader reader(limits);
  Result r;
  std::string buffered;
  size_t next = 0;
  for (;;) {
    size_t used = 0;
    const auto p = reader.feed(buffered, used);
    buffered.erase(0, used);
    r.consumed += used;
    if (p == RequestReader::Progress::complete) {
      Request req = reader.take();
      r.targets.emplace_back(req.target());
      r.bodies.push_back(req.body());
      continue;
    }
    if (p == RequestReader::Progress::header) {
      r.saw_header = true;
      continue;
    }
    if (p == RequestReader::Progress::failed) {
      r.error = reader.error().status;
      return r;
    }
    if (next >= bytes.size()) return r;
    buffered += bytes.substr(next, piece);
    next += piece;
  }
}

std::string chunked(const std::string& path, size_t chunk, size_t count) {
  std::string s = "POST " + path + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", chunk);
  for (size_t i = 0; i < count; ++i) s += size + std::string(chunk, 'a') + "\r\n";
  return s + "0\r\n\r\n";
}

TEST(HttpFraming, PipelinedRequestsComeOutInOrder) {
  const std::string three = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
                            "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
  for (size_t piece : {size_t{1}, size_t{7}, size_t{1000}}) {
    const Result r = run(three, {}, piece);
    EXPECT_EQ(r.targets, (std::vector<std::string>{"/a", "/b", "/c"})) << piece;
    EXPECT_EQ(r.bodies.back(), "hello");
    EXPECT_EQ(r.error, 0);
  }
}

TEST(HttpFraming, ChunkedBodiesWithinTheLimitAreJoined) {
  const Result r = run(chunked("/c", 1000, 10), {16 << 10, 10000}, 333);
  ASSERT_EQ(r.bodies.size(), 1u);
  EXPECT_EQ(r.bodies[0], std::string(10000, 'a'));
}

TEST(HttpFraming, ChunkedBodyOverTheLimitFailsAsItArrives) {
  // 160 chunks of 64 KiB against a 1 MiB limit: refused with 413 within the bytes of the
  // 17th chunk, the rest never read.
  const std::string big = chunked("/c", 64 << 10, 160);
  const Result r = run(big, {16 << 10, 1 << 20}, 16 << 10);
  EXPECT_EQ(r.error, 413);
  EXPECT_TRUE(r.bodies.empty());
  EXPECT_LT(r.consumed, size_t{(1 << 20) + (64 << 10) + 1024});
  // Content-Length over the limit: refused right after the header.
  const Result declared = run("POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", {16 << 10, 1 << 20});
  EXPECT_EQ(declared.error, 413);
}

TEST(HttpFraming, HeaderLimitAndMalformedRequests) {
  const std::string huge = "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'b') + "\r\n\r\n";
  EXPECT_EQ(run(huge, {16 << 10, 1 << 20}, 512).error, 431);
  EXPECT_EQ(run("GARBAGE\r\n\r\n", {}).error, 400);
  // Request smuggling shapes: both lengths, or a bad chunk size.
  EXPECT_EQ(run("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", {}).error, 400);
  EXPECT_EQ(run("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", {}).error, 400);
}

TEST(HttpFraming, HeaderIsReportedBeforeAnIncompleteBody) {
  RequestReader reader({});
  const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n";
  size_t used = 0;
  EXPECT_EQ(reader.feed(head, used), RequestReader::Progress::header);
  EXPECT_EQ(used, head.size());
  EXPECT_TRUE(reader.expects_continue());
  EXPECT_EQ(reader.feed("ab", used), RequestReader::Progress::need_more);
  EXPECT_EQ(reader.feed("cd", used), RequestReader::Progress::complete);
  EXPECT_EQ(reader.take().body(), "abcd");
  EXPECT_FALSE(reader.started());
}

}  // namespace
}  // namespace st::server
