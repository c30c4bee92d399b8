#include "formats/mapped_pages.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace st {

void release_mapped_pages(const uint8_t* base, uint64_t map_len, uint64_t begin, uint64_t end) {
  if (!base) return;
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t first = (begin + page - 1) / page * page;
  const uint64_t last = std::min(end, map_len) / page * page;
  if (first < last) madvise(const_cast<uint8_t*>(base) + first, last - first, MADV_DONTNEED);
}

namespace {

// One watched mapping. The signal handler reads these without locks: `base` is published
// last (release) and cleared first, so a handler that sees a base sees its length and path.
struct WatchedMapping {
  std::atomic<uintptr_t> base{0};
  std::atomic<size_t> len{0};
  char path[1024] = {};
};
static_assert(std::atomic<uintptr_t>::is_always_lock_free && std::atomic<size_t>::is_always_lock_free,
              "the SIGBUS handler needs lock-free atomics");

WatchedMapping g_watched[kMaxWatchedMappings];
std::mutex g_watch_mutex;  // serialises watch/unwatch (never taken by the handler)

void write_all(const char* s, size_t n) {
  while (n > 0) {
    const ssize_t w = write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}
void write_str(const char* s) { write_all(s, strlen(s)); }

void write_decimal(uint64_t v) {
  char buf[24];
  size_t i = sizeof buf;
  do {
    buf[--i] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  write_all(buf + i, sizeof buf - i);
}

// Only async-signal-safe calls (write, _exit, sigaction) from here on.
void on_sigbus(int sig, siginfo_t* info, void*) {
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  for (const WatchedMapping& m : g_watched) {
    const uintptr_t base = m.base.load(std::memory_order_acquire);
    if (base == 0 || addr < base || addr - base >= m.len.load(std::memory_order_relaxed)) continue;
    write_str("\nsmallthinker: fatal: the model file ");
    write_str(m.path);
    write_str(" changed while in use: reading byte ");
    write_decimal(addr - base);
    write_str(" of its mapping failed (the file was truncated or rewritten in place). A model file must not be "
              "modified while a command or server uses it; replace it by renaming a new file over it, then restart.\n");
    _exit(EXIT_FAILURE);
  }
  // Not ours: the default action, when the faulting access runs again on return.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);
}

void install_handler() {
  struct sigaction sa {};
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, nullptr);
}

}  // namespace

void watch_mapping(const void* base, size_t len, const std::string& path) {
  if (!base || len == 0) return;
  static std::once_flag installed;
  std::call_once(installed, install_handler);
  std::lock_guard<std::mutex> lock(g_watch_mutex);
  for (WatchedMapping& m : g_watched) {
    if (m.base.load(std::memory_order_relaxed) != 0) continue;
    const size_t n = std::min(path.size(), sizeof m.path - 1);
    std::memcpy(m.path, path.data(), n);
    m.path[n] = '\0';
    m.len.store(len, std::memory_order_relaxed);
    m.base.store(reinterpret_cast<uintptr_t>(base), std::memory_order_release);
    return;
  }
}

void unwatch_mapping(const void* base) {
  if (!base) return;
  std::lock_guard<std::mutex> lock(g_watch_mutex);
  for (WatchedMapping& m : g_watched)
    if (m.base.load(std::memory_order_relaxed) == reinterpret_cast<uintptr_t>(base)) m.base.store(0, std::memory_order_release);
}

}  // namespace st
