// Reads the user's lines for `smallthinker chat`: libedit line editing and history when stdin
// and stdout are a terminal, plain lines otherwise (so scripts can pipe a conversation in).
//
// It also owns Ctrl-C. One SIGINT handler sets a flag; the token loop polls the flag to stop an
// answer, and the prompt waits for input with ppoll() so that a Ctrl-C wakes it up at once
// (libedit's own reader retries an interrupted read(), which would swallow the first Ctrl-C).
#pragma once
#include <string>

struct editline;  // libedit's EditLine
struct history;   // libedit's History

namespace st::cli {

// Blocks SIGINT in the calling thread. Call it before any worker thread starts: workers
// inherit the blocked mask, so the signal always lands on the main thread, where the prompt
// waits for it.
void block_sigint();
// Installs the SIGINT handler and unblocks SIGINT in the calling thread; a Ctrl-C pressed while
// it was blocked is delivered now and sets the flag. The handler keeps SA_RESTART so that the
// engine's own I/O never sees EINTR; ppoll() is never restarted, which is what wakes the prompt.
void install_sigint_flag();
bool sigint_pending();
void clear_sigint();

class LineEditor {
 public:
  enum class Status {
    kLine,         // `text` holds the line, without its newline
    kInterrupted,  // Ctrl-C; `text` holds what had been typed so far
    kEof,          // Ctrl-D on an empty line, or the end of piped input
  };
  struct Input {
    Status status = Status::kEof;
    std::string text;
  };

  explicit LineEditor(std::string prompt);
  ~LineEditor();
  LineEditor(const LineEditor&) = delete;
  LineEditor& operator=(const LineEditor&) = delete;

  bool interactive() const { return el_ != nullptr; }
  Input read();
  void add_history(const std::string& line);

 private:
  Input read_plain();
  static char* prompt_of(editline* el);
  static int read_wchar(editline* el, wchar_t* out);

  std::string prompt_;
  editline* el_ = nullptr;
  history* hist_ = nullptr;
};

}  // namespace st::cli
