// What the routes (api.cpp) give the HTTP layer (http_connection.cpp) for a request: a whole
// response now, a reply that arrives over time (a completion waiting for the scheduler, a
// stream of server-sent events), or work too slow for an I/O thread (parsing and tokenizing a
// request body) that yields one of the two on a worker thread.
#pragma once
#include <boost/beast/http.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "apps/server/http_framing.h"

namespace st::server {

using Response = boost::beast::http::response<boost::beast::http::string_body>;

class ReplySource {
 public:
  virtual ~ReplySource() = default;
  // Called once on the connection's thread. `wake` may be called from any thread, any number
  // of times, whenever next() may have something new; next() is then called on the
  // connection's thread (once right after start() too).
  virtual void start(std::function<void()> wake) = 0;
  struct Piece {
    // Non-streaming: the whole response, once ready. Streaming: the response head (status and
    // headers) in the first piece; the body is sent chunked.
    std::optional<Response> head;
    std::string data;   // streaming: body bytes to send now
    bool done = false;  // nothing follows
  };
  virtual Piece next() = 0;
  virtual bool streaming() const = 0;
  // The client has gone (or the connection failed): stop the work behind the reply.
  virtual void cancel() = 0;
};

struct Outcome {
  Response response;                     // when neither of the two below is set
  std::shared_ptr<ReplySource> source;   // a reply that arrives over time
  std::function<Outcome()> work;         // run on a worker thread; its result is the outcome
};

// The routes: called on a connection's I/O thread, so it must not block.
using RequestHandler = std::function<Outcome(Request&& request)>;

}  // namespace st::server
