// One client connection: reads requests through RequestReader (limits, pipelining), enforces
// the timeouts (a whole-header deadline, body pauses and total, writes), hands each request to
// the routes and writes the outcome: a response, a reply that arrives later (a completion), or
// a stream of server-sent events in chunked encoding. While a reply is pending it watches the
// socket, so a client that hangs up cancels its generation. Everything runs on the
// connection's strand; slow or idle clients cost no thread.
#pragma once
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "apps/server/http_exchange.h"

namespace st::server {

struct HttpTimeouts {
  std::chrono::milliseconds header{10000};     // from waiting for a request to its whole header
  std::chrono::milliseconds body_pause{10000}; // longest pause within a body
  std::chrono::milliseconds body_total{60000}; // a whole body
  std::chrono::milliseconds write{30000};      // one write (a client that stops reading)
};

class HttpConnection;

// Shared by the connections of one server.
struct ConnectionContext {
  FramingLimits limits;
  HttpTimeouts timeouts;
  RequestHandler handler;
  boost::asio::thread_pool* workers = nullptr;  // runs Outcome::work
  std::atomic<bool> stopping{false};            // shutting down: no keep-alive, idle ones close

  // Live connections, for the cap and for shutdown.
  std::mutex mutex;
  std::unordered_map<const HttpConnection*, std::weak_ptr<HttpConnection>> live;
  size_t live_count() {
    std::lock_guard<std::mutex> lock(mutex);
    return live.size();
  }
};

class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  HttpConnection(boost::asio::ip::tcp::socket socket, std::shared_ptr<ConnectionContext> context);
  ~HttpConnection();
  void start();
  // Shutdown: a connection waiting for a request closes; one with a reply pending closes after it.
  void stop_gracefully();
  // Since when the connection waits for a request it has not begun (any thread may ask);
  // nullopt when it is not idle.
  std::optional<std::chrono::steady_clock::time_point> idle_since() const;
  // At the connection cap: an idle connection makes room for a new one (closes if still idle).
  // False when it was not idle (or another accept has already chosen it).
  bool evict();

 private:
  using clock = std::chrono::steady_clock;
  enum class Phase { reading, handling, closing };

  void read_more();
  void on_read(boost::beast::error_code ec, size_t n);
  void parse_buffered();
  void send_continue();
  void dispatch(Request&& request);
  void handle_outcome(Outcome&& outcome);
  void run_work(std::function<Outcome()> work);
  void send_response(Response&& response);
  void on_reply_written(boost::beast::error_code ec);
  void start_source(std::shared_ptr<ReplySource> source);
  void post_wake();
  void pump();
  void flush_stream();
  void watch_client();
  void client_gone();
  void fail(int status, const std::string& message);
  void close();
  void drain(std::shared_ptr<std::array<char, 4096>> scratch);

  boost::beast::tcp_stream stream_;
  // Read deadlines use their own timer: a tcp_stream timeout closes the socket, and a client
  // past the header deadline should still get its 408.
  boost::asio::steady_timer read_timer_;
  unsigned read_generation_ = 0;
  bool read_timed_out_ = false;
  std::shared_ptr<ConnectionContext> context_;
  boost::beast::flat_buffer buffer_;
  RequestReader reader_;
  Phase phase_ = Phase::reading;
  std::atomic<bool> idle_{true};
  std::atomic<clock::rep> idle_since_{clock::now().time_since_epoch().count()};
  clock::time_point header_deadline_, body_deadline_;
  bool header_seen_ = false;  // of the request being read
  unsigned version_ = 11;
  bool keep_alive_ = true;

  // The reply being produced.
  std::shared_ptr<ReplySource> source_;
  bool awaiting_work_ = false;
  bool gone_ = false;
  unsigned watch_generation_ = 0;
  std::shared_ptr<std::atomic<bool>> wake_posted_ = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<Response> response_;  // kept alive while written
  // Streaming.
  std::optional<boost::beast::http::response<boost::beast::http::empty_body>> stream_head_;
  std::optional<boost::beast::http::response_serializer<boost::beast::http::empty_body>> stream_serializer_;
  bool chunked_ = true, head_written_ = false, source_done_ = false, last_written_ = false, writing_ = false;
  std::string pending_, in_flight_;
};

}  // namespace st::server
