// Whether the client of a request is still connected. A non-streaming reply writes nothing
// until the generation ends, so a client that hangs up would leave its slot generating up to
// max_tokens; a stream only notices when a write fails, which needs text to write. cpp-httplib
// 0.11 gives a handler neither its socket nor a liveness check (Request::is_connection_closed
// came later), but a Request carries its connection's local and peer address, and while the
// handler runs that connection's socket is open in this process: it is the one socket with
// exactly those two addresses (TCP allows no second connection with the same pair).
#pragma once
#include <string>

namespace st::server {

class ClientConnection {
 public:
  ClientConnection() = default;
  // Finds the connected socket with these addresses, as httplib::Request reports them (numeric
  // host strings). When none is found (no /proc/self/fd), closed() is always false: the request
  // then runs to its end as it would without this check.
  ClientConnection(const std::string& local_addr, int local_port, const std::string& remote_addr, int remote_port);

  bool found() const { return fd_ >= 0; }
  // True once the peer has closed (FIN: a read would return end of file) or reset (RST) the
  // connection. Never blocks and consumes nothing. Bytes waiting to be read (a pipelined next
  // request) count as connected; a client that only shut down its sending half counts as gone,
  // as it does for cpp-httplib's later is_connection_closed.
  bool closed() const;

 private:
  int fd_ = -1;  // owned by cpp-httplib's connection thread, which is the caller's thread
};

}  // namespace st::server
