#include "apps/server/http_server.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <cerrno>
#include <cstdio>
#include <stdexcept>

namespace st::server {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

HttpServer::HttpServer(HttpOptions options, RequestHandler handler)
    : options_(std::move(options)), acceptor_(io_), workers_(static_cast<size_t>(std::max(1, options_.work_threads))),
      context_(std::make_shared<ConnectionContext>()) {
  context_->limits = options_.limits;
  context_->timeouts = options_.timeouts;
  context_->handler = std::move(handler);
  context_->workers = &workers_;
}

HttpServer::~HttpServer() { stop(std::chrono::milliseconds(0)); }

int HttpServer::listen() {
  const std::string where = options_.host + ":" + std::to_string(options_.port);
  if (options_.port < 0 || options_.port > 65535)
    throw std::runtime_error("--port " + std::to_string(options_.port) + " is not a TCP port (0-65535; 0 picks a free one)");
  beast::error_code ec;
  tcp::resolver resolver(io_);
  const auto found = resolver.resolve(options_.host, std::to_string(options_.port),
                                      tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || found.empty())
    throw std::runtime_error("cannot listen on " + where + ": --host '" + options_.host + "' is not an address or a known name");
  const tcp::endpoint endpoint = found.begin()->endpoint();
  // SO_REUSEADDR only lets a restarted server bind while old connections linger in TIME_WAIT:
  // on Linux a port with a listening socket stays refused. SO_REUSEPORT, which would let a
  // second server share the port and silently take part of its connections, is never set.
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    std::string why = ec.message();
    if (ec == net::error::address_in_use) why = "the port is in use (another server listens on it): pick another --port";
    else if (ec == boost::system::errc::address_not_available) why = "'" + options_.host + "' is not an address of this machine: pick another --host";
    else if (ec == boost::system::errc::permission_denied) why = "permission denied (ports below 1024 need privileges): pick another --port";
    beast::error_code ignored;
    acceptor_.close(ignored);
    throw std::runtime_error("cannot listen on " + where + ": " + why);
  }
  return acceptor_.local_endpoint().port();
}

void HttpServer::run() {
  accept();
  for (int i = 0; i < std::max(1, options_.io_threads); ++i)
    threads_.emplace_back([this] {
      for (;;) {
        try {
          io_.run();
          return;
        } catch (const std::exception& e) {  // a handler's bug must not end the server
          std::fprintf(stderr, "serve: error in the HTTP loop: %s\n", e.what());
        }
      }
    });
}

void HttpServer::accept() {
  acceptor_.async_accept(net::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {  // e.g. out of file descriptors: retry shortly rather than spin
      auto timer = std::make_shared<net::steady_timer>(io_, std::chrono::milliseconds(50));
      timer->async_wait([this, timer](beast::error_code) { accept(); });
      return;
    }
    if (context_->live_count() >= options_.max_connections && !evict_idle()) {
      refuse(std::move(socket));
    } else {
      auto connection = std::make_shared<HttpConnection>(std::move(socket), context_);
      {
        std::lock_guard<std::mutex> lock(context_->mutex);
        context_->live[connection.get()] = connection;
      }
      connection->start();
    }
    accept();
  });
}

// At the cap, the connection that has waited longest for a request it has not begun (a
// client's keep-alive spare) gives way to a new one, so idle connections alone never lock
// clients out.
bool HttpServer::evict_idle() {
  std::lock_guard<std::mutex> lock(context_->mutex);
  std::shared_ptr<HttpConnection> oldest;
  std::chrono::steady_clock::time_point oldest_since{};
  for (auto& [_, weak] : context_->live) {
    auto c = weak.lock();
    const auto since = c ? c->idle_since() : std::nullopt;
    if (since && (!oldest || *since < oldest_since)) {
      oldest = std::move(c);
      oldest_since = *since;
    }
  }
  return oldest && oldest->evict();
}

// Over the connection cap: a 503 naming the cap, then close (after reading what the client sent
// for a moment, so that the reply is not lost to a reset).
void HttpServer::refuse(tcp::socket socket) {
  struct Refusal {
    beast::tcp_stream stream;
    std::string reply;
    std::array<char, 4096> scratch{};
    explicit Refusal(tcp::socket s) : stream(std::move(s)) {}
  };
  auto r = std::make_shared<Refusal>(std::move(socket));
  const std::string body = R"({"error":{"message":"the server has )" + std::to_string(options_.max_connections) +
                           R"( connections open (its limit); retry later","type":"server_error","param":null,"code":"too_many_connections"}})";
  r->reply = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\nRetry-After: 1\r\n"
             "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  r->stream.expires_after(std::chrono::seconds(1));
  net::async_write(r->stream, net::buffer(r->reply), [r](beast::error_code ec, size_t) {
    if (ec) return;
    r->stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    r->stream.async_read_some(net::buffer(r->scratch), [r](beast::error_code, size_t) {
      beast::error_code ignored;
      r->stream.socket().close(ignored);
    });
  });
}

void HttpServer::stop(std::chrono::milliseconds grace) {
  if (threads_.empty()) return;
  context_->stopping = true;
  net::post(io_, [this] {
    beast::error_code ignored;
    acceptor_.close(ignored);
  });
  std::vector<std::shared_ptr<HttpConnection>> live;
  {
    std::lock_guard<std::mutex> lock(context_->mutex);
    for (auto& [_, weak] : context_->live)
      if (auto c = weak.lock()) live.push_back(std::move(c));
  }
  for (auto& c : live) c->stop_gracefully();
  live.clear();
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (context_->live_count() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  workers_.join();  // work still running ends (a completion after the scheduler's shutdown is a 503)
  io_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

}  // namespace st::server
