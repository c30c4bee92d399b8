// HTTP/1.1 request framing with limits, over bytes already read: the one place where a
// connection's bytes become requests. Beast's parser does the grammar (Content-Length and
// chunked bodies, header fields); this layer sets the limits on every request, counts a chunked
// body against the body limit as it arrives (not once buffered whole), reports when the header
// is complete (for Expect: 100-continue and the switch from the header to the body timeout),
// and leaves the bytes after a request where they are, so pipelined requests are answered in
// order. No sockets: tests/fuzz/request_fuzz.cpp drives it with arbitrary bytes.
#pragma once
#include <boost/beast/http.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace st::server {

using Request = boost::beast::http::request<boost::beast::http::string_body>;

struct FramingLimits {
  size_t header_bytes = 16 << 10;  // request line + header fields
  size_t body_bytes = 1 << 20;     // --max-body, also for chunked bodies
};

// Why a connection's request could not be read: the status to answer with (then close).
struct FramingError {
  int status = 0;  // 400 malformed, 413 body too large, 431 header too large
  std::string message;
};

class RequestReader {
 public:
  explicit RequestReader(FramingLimits limits) : limits_(limits) {}

  enum class Progress {
    need_more,  // every byte given was consumed (or is an incomplete header): read more
    header,     // the header is complete, the body is not yet: reported once per request
    complete,   // a whole request: take() it
    failed,     // error(): answer it and close the connection
  };
  // Parses from the front of `data`; `consumed` says how many bytes were used (the caller drops
  // them; an incomplete header is not consumed until it is whole).
  Progress feed(std::string_view data, size_t& consumed);

  // After `header` or `complete`: the request's header fields.
  const Request& request() const { return parser_->get(); }
  bool expects_continue() const;  // the header asked for "Expect: 100-continue"
  // Bytes of the current request seen so far (0: none; a keep-alive connection is idle).
  bool started() const { return started_; }
  // After `complete`: the request; the reader is ready for the next one.
  Request take();
  const FramingError& error() const { return error_; }

 private:
  void start();
  FramingLimits limits_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  bool header_reported_ = false;
  bool started_ = false;
  FramingError error_;
};

}  // namespace st::server
