#include "apps/server/http_connection.h"

#include <sys/socket.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstdio>

#include "apps/server/protocol.h"

namespace st::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr size_t kReadChunk = 16 << 10;
constexpr auto kDrainTime = std::chrono::milliseconds(500);  // lingering close: read what the client still sends

Response error_response(int status, const std::string& message) {
  ApiError e = error_for_status(status);
  if (!message.empty()) e = ApiError(status, message, e.type, e.param, e.code);
  Response r{static_cast<http::status>(status), 11};
  r.set(http::field::content_type, "application/json");
  r.body() = error_body(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

}  // namespace

HttpConnection::HttpConnection(tcp::socket socket, std::shared_ptr<ConnectionContext> context)
    : stream_(std::move(socket)), read_timer_(stream_.get_executor()), context_(std::move(context)),
      reader_(context_->limits) {}

HttpConnection::~HttpConnection() {
  if (source_) source_->cancel();
  std::lock_guard<std::mutex> lock(context_->mutex);
  context_->live.erase(this);
}

void HttpConnection::start() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    self->header_deadline_ = clock::now() + self->context_->timeouts.header;
    self->read_more();
  });
}

void HttpConnection::stop_gracefully() {
  net::post(stream_.get_executor(), [self = shared_from_this()] {
    self->keep_alive_ = false;
    if (self->phase_ == Phase::reading) self->close();
  });
}

std::optional<std::chrono::steady_clock::time_point> HttpConnection::idle_since() const {
  if (!idle_) return std::nullopt;
  return clock::time_point(clock::duration(idle_since_.load()));
}

bool HttpConnection::evict() {
  if (!idle_.exchange(false)) return false;
  net::post(stream_.get_executor(), [self = shared_from_this()] {
    if (self->phase_ == Phase::reading && !self->reader_.started()) self->close();
  });
  return true;
}

// ---- reading -------------------------------------------------------------------------------

void HttpConnection::read_more() {
  if (!reader_.started() && !idle_) idle_since_ = clock::now().time_since_epoch().count();
  idle_ = !reader_.started();
  stream_.expires_never();
  read_timer_.expires_at(header_seen_ ? std::min(clock::now() + context_->timeouts.body_pause, body_deadline_)
                                      : header_deadline_);
  read_timer_.async_wait([self = shared_from_this(), generation = ++read_generation_](beast::error_code ec) {
    if (ec || generation != self->read_generation_) return;
    self->read_timed_out_ = true;
    beast::error_code ignored;
    self->stream_.socket().cancel(ignored);  // the read ends with operation_aborted
  });
  stream_.async_read_some(buffer_.prepare(kReadChunk),
                          [self = shared_from_this()](beast::error_code ec, size_t n) { self->on_read(ec, n); });
}

void HttpConnection::on_read(beast::error_code ec, size_t n) {
  ++read_generation_;
  read_timer_.cancel();
  if (phase_ == Phase::closing) return;
  if (read_timed_out_) {
    read_timed_out_ = false;
    if (!reader_.started()) return close();  // an idle keep-alive connection: nothing to answer
    const auto limit = header_seen_ ? context_->timeouts.body_pause : context_->timeouts.header;
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%g s", static_cast<double>(limit.count()) / 1000.0);
    return fail(408, std::string(header_seen_ ? "the request body paused for longer than "
                                              : "the request header did not arrive within ") + seconds);
  }
  if (ec) return close();  // end of file, reset: the client has gone
  idle_ = false;
  buffer_.commit(n);
  parse_buffered();
}

void HttpConnection::parse_buffered() {
  for (;;) {
    const auto bytes = buffer_.data();
    size_t used = 0;
    const auto progress = reader_.feed({static_cast<const char*>(bytes.data()), bytes.size()}, used);
    buffer_.consume(used);
    switch (progress) {
      case RequestReader::Progress::need_more:
        return read_more();
      case RequestReader::Progress::failed:
        return fail(reader_.error().status, reader_.error().message);
      case RequestReader::Progress::header:
        header_seen_ = true;
        body_deadline_ = clock::now() + context_->timeouts.body_total;
        if (reader_.expects_continue() && buffer_.size() == 0) return send_continue();
        continue;
      case RequestReader::Progress::complete:
        return dispatch(reader_.take());
    }
  }
}

// curl and others wait up to a second for this before sending a large body.
void HttpConnection::send_continue() {
  static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
  stream_.expires_after(context_->timeouts.write);
  net::async_write(stream_, net::buffer(kContinue, sizeof kContinue - 1),
                   [self = shared_from_this()](beast::error_code ec, size_t) {
                     if (ec) return self->close();
                     self->read_more();
                   });
}

// ---- handling ------------------------------------------------------------------------------

void HttpConnection::dispatch(Request&& request) {
  phase_ = Phase::handling;
  header_seen_ = false;
  version_ = request.version();
  keep_alive_ = keep_alive_ && request.keep_alive() && !context_->stopping;
  Outcome outcome;
  try {
    outcome = context_->handler(std::move(request));
  } catch (const std::exception& e) {
    outcome.response = error_response(500, std::string("internal error: ") + e.what());
  }
  handle_outcome(std::move(outcome));
}

void HttpConnection::handle_outcome(Outcome&& outcome) {
  if (outcome.work) return run_work(std::move(outcome.work));
  if (outcome.source) return start_source(std::move(outcome.source));
  send_response(std::move(outcome.response));
}

void HttpConnection::run_work(std::function<Outcome()> work) {
  awaiting_work_ = true;
  watch_client();
  net::post(*context_->workers, [self = shared_from_this(), work = std::move(work)] {
    Outcome outcome;
    try {
      outcome = work();
    } catch (const std::exception& e) {
      outcome.response = error_response(500, std::string("internal error: ") + e.what());
    }
    net::post(self->stream_.get_executor(), [self, outcome = std::move(outcome)]() mutable {
      self->awaiting_work_ = false;
      if (self->gone_) {
        if (outcome.source) outcome.source->cancel();
        return self->close();
      }
      self->handle_outcome(std::move(outcome));
    });
  });
}

void HttpConnection::send_response(Response&& response) {
  ++watch_generation_;  // the reply is decided: a hang-up from now on only fails the write
  response_ = std::make_shared<Response>(std::move(response));
  response_->version(version_);
  response_->keep_alive(keep_alive_);
  response_->prepare_payload();
  stream_.expires_after(context_->timeouts.write);
  http::async_write(stream_, *response_,
                    [self = shared_from_this()](beast::error_code ec, size_t) { self->on_reply_written(ec); });
}

void HttpConnection::on_reply_written(beast::error_code ec) {
  response_.reset();
  source_.reset();
  ++watch_generation_;  // a pending watch belongs to the finished reply
  if (ec) return close();
  if (!keep_alive_ || context_->stopping) return close();
  phase_ = Phase::reading;
  header_deadline_ = clock::now() + context_->timeouts.header;
  parse_buffered();  // a pipelined request may be waiting in the buffer already
}

// ---- replies that arrive over time -----------------------------------------------------------

void HttpConnection::start_source(std::shared_ptr<ReplySource> source) {
  source_ = std::move(source);
  head_written_ = source_done_ = last_written_ = writing_ = false;
  pending_.clear();
  if (!awaiting_work_) watch_client();
  std::weak_ptr<HttpConnection> weak = weak_from_this();
  auto executor = stream_.get_executor();
  auto posted = wake_posted_;
  // Called by the engine thread: it only posts (never holds the connection), and posts once
  // until the connection has run, however many tokens arrive meanwhile.
  source_->start([weak, executor, posted] {
    if (posted->exchange(true)) return;
    net::post(executor, [weak, posted] {
      posted->store(false);
      if (auto self = weak.lock()) self->pump();
    });
  });
  pump();
}

void HttpConnection::pump() {
  if (!source_ || phase_ != Phase::handling || source_done_) return;
  ReplySource::Piece piece = source_->next();
  if (!source_->streaming()) {
    if (piece.head) {
      source_done_ = true;
      send_response(std::move(*piece.head));
    }
    return;
  }
  if (piece.head && !stream_head_) {
    stream_head_.emplace(piece.head->result(), version_);
    for (const auto& field : *piece.head) stream_head_->set(field.name_string(), field.value());
    chunked_ = version_ >= 11;
    if (chunked_) stream_head_->chunked(true);
    else keep_alive_ = false;  // HTTP/1.0: the body ends when the connection does
    stream_head_->keep_alive(keep_alive_);
  }
  pending_ += piece.data;
  source_done_ = piece.done;
  flush_stream();
}

void HttpConnection::flush_stream() {
  if (writing_ || phase_ != Phase::handling || !stream_head_) return;
  auto done = [self = shared_from_this()](beast::error_code ec, size_t) {
    self->writing_ = false;
    if (ec) {  // the client has gone, or stopped reading
      if (self->source_) self->source_->cancel();
      return self->close();
    }
    self->flush_stream();
  };
  stream_.expires_after(context_->timeouts.write);
  if (!head_written_) {
    head_written_ = writing_ = true;
    stream_serializer_.emplace(*stream_head_);
    return http::async_write_header(stream_, *stream_serializer_, done);
  }
  if (!pending_.empty()) {
    writing_ = true;
    in_flight_ = std::move(pending_);
    pending_.clear();
    if (chunked_) return net::async_write(stream_, http::make_chunk(net::buffer(in_flight_)), done);
    return net::async_write(stream_, net::buffer(in_flight_), done);
  }
  if (!source_done_) return;
  if (chunked_ && !last_written_) {
    last_written_ = writing_ = true;
    return net::async_write(stream_, http::make_chunk_last(), done);
  }
  stream_serializer_.reset();
  stream_head_.reset();
  on_reply_written({});
}

// ---- a client that hangs up ------------------------------------------------------------------

// While a reply is pending the connection reads nothing, so it would learn of a hang-up only
// when a write fails (never, for a reply not ready yet). Waiting for readability and peeking
// tells: end of file or a reset is a client that has gone; bytes are a pipelined request.
void HttpConnection::watch_client() {
  const unsigned generation = ++watch_generation_;
  stream_.socket().async_wait(tcp::socket::wait_read, [self = shared_from_this(), generation](beast::error_code ec) {
    if (ec || generation != self->watch_generation_ || self->phase_ != Phase::handling) return;
    char byte = 0;
    ssize_t n;
    do {
      n = ::recv(self->stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n > 0) return;  // a pipelined request: the client is there
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return self->watch_client();
    self->client_gone();
  });
}

void HttpConnection::client_gone() {
  gone_ = true;
  keep_alive_ = false;
  if (awaiting_work_) return;  // the work's result is dropped when it arrives
  if (source_) source_->cancel();
  if (source_ && !source_->streaming() && !writing_) {
    // Nobody may read this, but a client that only shut down its sending half does: 499 as nginx
    // logs a request whose client closed it.
    source_done_ = true;
    return send_response(error_response(499, "the client closed the connection"));
  }
  close();
}

// ---- errors and closing ----------------------------------------------------------------------

void HttpConnection::fail(int status, const std::string& message) {
  keep_alive_ = false;
  phase_ = Phase::handling;
  send_response(error_response(status, message));
}

// Sends FIN, then reads (and drops) what the client still sends for a moment before closing:
// closing with unread bytes would reset the connection and could destroy the reply just sent.
void HttpConnection::close() {
  if (phase_ == Phase::closing) return;
  phase_ = Phase::closing;
  idle_ = false;
  ++watch_generation_;
  read_timer_.cancel();
  if (source_) source_->cancel();
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream_.expires_after(kDrainTime);
  drain(std::make_shared<std::array<char, 4096>>());
}

void HttpConnection::drain(std::shared_ptr<std::array<char, 4096>> scratch) {
  stream_.async_read_some(net::buffer(*scratch), [self = shared_from_this(), scratch](beast::error_code ec, size_t) {
    if (!ec) return self->drain(scratch);
    beast::error_code ignored;
    self->stream_.socket().close(ignored);
  });
}

}  // namespace st::server
