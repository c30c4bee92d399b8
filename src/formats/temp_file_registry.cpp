// The process-wide list of live temporary output files, and the signal handler that removes
// them when a signal ends the process (output_file.h). The handler may run on any thread at
// any moment, so it only reads fixed slots published with release/acquire atomics and calls
// async-signal-safe functions (unlink, sigaction, raise).
#include "formats/temp_file_registry.h"

#include <limits.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

namespace st::temp_files {
namespace {

static_assert(std::atomic<int>::is_always_lock_free, "a signal handler may only touch lock-free atomics");

enum SlotState : int { kFree = 0, kFilling = 1, kLive = 2 };

struct Slot {
  std::atomic<int> state{kFree};
  char path[PATH_MAX];
};

// More than any tool keeps open at once (stats writes its files one after another); a path
// that finds no slot is still removed by OutputFile's destructor, only not on a signal.
constexpr int kSlots = 32;
Slot g_slots[kSlots];

constexpr int kCleanedSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE};

extern "C" void remove_temp_files_and_reraise(int sig) {
  const int saved_errno = errno;
  for (Slot& s : g_slots)
    if (s.state.load(std::memory_order_acquire) == kLive) ::unlink(s.path);
  // The default action again, then the same signal: the process ends as it would have without
  // this handler (exit status, core dump for SIGQUIT). The signal is blocked while the handler
  // runs, so it is delivered as soon as the handler returns.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(sig, &dfl, nullptr);
  ::raise(sig);
  errno = saved_errno;
}

void install_handlers() {
  struct sigaction ours {};
  ours.sa_handler = remove_temp_files_and_reraise;
  sigemptyset(&ours.sa_mask);
  for (int sig : kCleanedSignals) sigaddset(&ours.sa_mask, sig);  // one cleanup at a time
  for (int sig : kCleanedSignals) {
    struct sigaction old {};
    // A program's own handler (the chat's Ctrl-C, a server's shutdown) or SIG_IGN is kept.
    if (::sigaction(sig, nullptr, &old) == 0 && !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL)
      ::sigaction(sig, &ours, nullptr);
  }
  // Past `ulimit -f` a write fails with EFBIG (reported, temporary file removed) instead of the
  // default SIGXFSZ killing the process.
  struct sigaction old {};
  if (::sigaction(SIGXFSZ, nullptr, &old) == 0 && !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL) {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    ::sigaction(SIGXFSZ, &ignore, nullptr);
  }
}

}  // namespace

int add(const std::string& path) {
  static std::once_flag installed;
  std::call_once(installed, install_handlers);
  if (path.size() >= PATH_MAX) return -1;
  for (int i = 0; i < kSlots; ++i) {
    int expected = kFree;
    if (!g_slots[i].state.compare_exchange_strong(expected, kFilling, std::memory_order_acquire)) continue;
    std::memcpy(g_slots[i].path, path.c_str(), path.size() + 1);
    g_slots[i].state.store(kLive, std::memory_order_release);
    return i;
  }
  return -1;
}

void remove(int slot) {
  if (slot >= 0 && slot < kSlots) g_slots[slot].state.store(kFree, std::memory_order_release);
}

size_t live() {
  size_t n = 0;
  for (const Slot& s : g_slots) n += s.state.load(std::memory_order_acquire) == kLive;
  return n;
}

}  // namespace st::temp_files
