#include "apps/cli/line_editor.h"

#include <histedit.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <clocale>
#include <cwchar>

namespace st::cli {
namespace {

std::atomic<bool> g_sigint{false};
static_assert(std::atomic<bool>::is_always_lock_free, "a signal handler may only touch lock-free atomics");

void on_sigint(int) { g_sigint.store(true, std::memory_order_relaxed); }

sigset_t sigint_set() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  return s;
}

// One byte of `fd`: 1 read, 0 end of input, -1 Ctrl-C or a read error. SIGINT stays blocked
// except inside ppoll(), which unblocks it atomically, so a Ctrl-C arriving between the flag
// check and the wait still wakes the wait instead of being noticed only after the next key.
int read_byte(int fd, char& c) {
  const sigset_t block = sigint_set();
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &block, &old);
  sigset_t wait_mask = old;
  sigdelset(&wait_mask, SIGINT);
  int result = -1;
  for (;;) {
    if (sigint_pending()) break;
    pollfd p{fd, POLLIN, 0};
    if (ppoll(&p, 1, nullptr, &wait_mask) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    const ssize_t n = ::read(fd, &c, 1);
    if (n >= 0) {
      result = static_cast<int>(n);
      break;
    }
    if (errno != EINTR && errno != EAGAIN) break;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (result < 0 && sigint_pending()) errno = EINTR;
  return result;
}

}  // namespace

void block_sigint() {
  const sigset_t s = sigint_set();
  pthread_sigmask(SIG_BLOCK, &s, nullptr);
}

void install_sigint_flag() {
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  const sigset_t s = sigint_set();
  pthread_sigmask(SIG_UNBLOCK, &s, nullptr);
}

bool sigint_pending() { return g_sigint.load(std::memory_order_relaxed); }
void clear_sigint() { g_sigint.store(false, std::memory_order_relaxed); }

LineEditor::LineEditor(std::string prompt) : prompt_(std::move(prompt)) {
  // libedit redraws the line itself, so it needs a terminal on both ends; anything else
  // (a pipe, a file, output captured by a script) reads plain lines.
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) return;
  // Typed UTF-8 is decoded by the C library, which needs the user's locale to do so.
  std::setlocale(LC_CTYPE, "");
  el_ = el_init("smallthinker", stdin, stdout, stderr);
  if (!el_) return;
  hist_ = history_init();
  HistEvent ev;
  history(hist_, &ev, H_SETSIZE, 1000);
  history(hist_, &ev, H_SETUNIQUE, 1);
  el_set(el_, EL_CLIENTDATA, this);
  el_set(el_, EL_PROMPT, &LineEditor::prompt_of);
  el_set(el_, EL_EDITOR, "emacs");
  el_set(el_, EL_HIST, history, hist_);
  // Our reader instead of libedit's: see read_byte() for why.
  el_set(el_, EL_GETCFN, &LineEditor::read_wchar);
  el_source(el_, nullptr);  // the user's ~/.editrc, as every libedit program honours it
}

LineEditor::~LineEditor() {
  if (el_) el_end(el_);  // also restores the terminal's modes
  if (hist_) history_end(hist_);
}

char* LineEditor::prompt_of(editline* el) {
  LineEditor* self = nullptr;
  el_get(el, EL_CLIENTDATA, &self);
  return self->prompt_.data();
}

// libedit's character source: one wide character decoded from the terminal's bytes.
int LineEditor::read_wchar(editline*, wchar_t* out) {
  std::mbstate_t state{};
  for (;;) {
    char c = 0;
    const int r = read_byte(STDIN_FILENO, c);
    if (r <= 0) {
      *out = L'\0';
      return r;
    }
    const size_t n = std::mbrtowc(out, &c, 1, &state);
    if (n == static_cast<size_t>(-2)) continue;  // the middle of a multibyte character
    if (n == static_cast<size_t>(-1)) {          // not a character in this locale: drop it
      state = {};
      continue;
    }
    return 1;
  }
}

LineEditor::Input LineEditor::read() {
  // A Ctrl-C that arrived after the last answer ended belongs to nobody; this prompt starts fresh.
  clear_sigint();
  if (!el_) return read_plain();
  int count = 0;
  const char* line = el_gets(el_, &count);
  if (sigint_pending()) {
    clear_sigint();
    const LineInfo* li = el_line(el_);
    return {Status::kInterrupted, std::string(li->buffer, li->lastchar)};
  }
  if (!line || count <= 0) return {Status::kEof, {}};
  std::string text(line, static_cast<size_t>(count));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return {Status::kLine, std::move(text)};
}

LineEditor::Input LineEditor::read_plain() {
  std::string text;
  for (;;) {
    char c = 0;
    const int r = read_byte(STDIN_FILENO, c);
    if (r < 0 && sigint_pending()) {
      clear_sigint();
      return {Status::kInterrupted, std::move(text)};
    }
    if (r <= 0) {
      // A last line without a newline still counts; the next call then reports the end.
      if (text.empty()) return {Status::kEof, {}};
      return {Status::kLine, std::move(text)};
    }
    if (c == '\n') {
      if (!text.empty() && text.back() == '\r') text.pop_back();
      return {Status::kLine, std::move(text)};
    }
    text += c;
  }
}

void LineEditor::add_history(const std::string& line) {
  if (!hist_ || line.empty()) return;
  HistEvent ev;
  history(hist_, &ev, H_ENTER, line.c_str());
}

}  // namespace st::cli
