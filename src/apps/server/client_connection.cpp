#include "apps/server/client_connection.h"

#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>

namespace st::server {
namespace {

// The numeric host and port of a socket address, formatted as cpp-httplib formats
// Request::remote_addr / local_addr (getnameinfo with NI_NUMERICHOST).
bool host_and_port(const sockaddr_storage& addr, socklen_t len, std::string& host, int& port) {
  if (addr.ss_family == AF_INET)
    port = ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
  else if (addr.ss_family == AF_INET6)
    port = ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  else
    return false;
  char buf[NI_MAXHOST];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, buf, sizeof buf, nullptr, 0, NI_NUMERICHOST) != 0)
    return false;
  host = buf;
  return true;
}

bool has_address(int fd, bool peer, const std::string& host, int port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  const int rc = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len)
                      : getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::string h;
  int p = -1;
  return rc == 0 && host_and_port(addr, len, h, p) && p == port && h == host;
}

}  // namespace

ClientConnection::ClientConnection(const std::string& local_addr, int local_port, const std::string& remote_addr,
                                   int remote_port) {
  if (local_port < 0 || remote_port < 0) return;
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return;
  // Other threads open and close descriptors meanwhile; that is harmless, since only the
  // caller's own connection (open until its handler returns) can match both addresses.
  while (const dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    const int f = static_cast<int>(fd);
    if (has_address(f, true, remote_addr, remote_port) && has_address(f, false, local_addr, local_port)) {
      fd_ = f;
      break;
    }
  }
  closedir(dir);
}

bool ClientConnection::closed() const {
  if (fd_ < 0) return false;
  char byte = 0;
  for (;;) {
    const ssize_t n = recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return false;  // a pipelined request waits: the client is still there
    if (n == 0) return true;  // end of file: the client closed the connection
    if (errno == EINTR) continue;
    return errno != EAGAIN && errno != EWOULDBLOCK;  // ECONNRESET and the like: gone
  }
}

}  // namespace st::server
