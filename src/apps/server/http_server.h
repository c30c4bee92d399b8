// The listening socket and the I/O threads: accepts connections (up to a cap: then an idle one
// gives way, or the new one gets a 503 and is closed), runs each on its own strand (src/apps/server/http_connection.h), and shuts down
// gracefully. Knows nothing of the API: requests go to a RequestHandler.
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "apps/server/http_connection.h"

namespace st::server {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                 // 0: any free port
  FramingLimits limits;
  HttpTimeouts timeouts;
  size_t max_connections = 256;    // open connections (idle, reading or waiting for a reply)
  int io_threads = 2;
  int work_threads = 2;            // parsing and tokenizing request bodies
};

class HttpServer {
 public:
  HttpServer(HttpOptions options, RequestHandler handler);
  ~HttpServer();
  // Binds and listens; returns the port, or throws std::runtime_error saying why not.
  int listen();
  void run();  // starts the I/O threads (returns at once)
  // Stops accepting; waiting connections close, pending replies are written (up to `grace`),
  // then the threads end.
  void stop(std::chrono::milliseconds grace);

 private:
  void accept();
  void refuse(boost::asio::ip::tcp::socket socket);
  bool evict_idle();

  HttpOptions options_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::thread_pool workers_;
  std::shared_ptr<ConnectionContext> context_;
  std::vector<std::thread> threads_;
};

}  // namespace st::server
