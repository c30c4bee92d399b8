// Options shared by the subcommands that run a model, named as llama.cpp names them so
// users' habits carry over (-m, -t, -c, -b, --temp, --top-k, ...).
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "smallthinker/engine.h"
#include "smallthinker/options_check.h"

namespace st::cli {

struct ModelArgs {
  static constexpr int64_t kNoWindow = INT64_MIN;  // --window not given
  smallthinker::ModelOptions model;
  smallthinker::SessionOptions session;
  std::string gating;
  int64_t window = kNoWindow;
  bool kv_f32 = false;

  void add_to(CLI::App& app);
  // Validates the options (throws naming the flag), caps -t at the hardware threads with a
  // note, loads; prints warnings to stderr.
  std::shared_ptr<smallthinker::Model> load() const;
  smallthinker::SessionOptions session_options() const;  // validated
};

// -ctk/--cache-type-k and -ctv/--cache-type-v (llama.cpp's names); a name outside f32, f16,
// bf16, q8_0, q4_0 is refused with the list.
void add_kv_type_options(CLI::App& app, std::string& k, std::string& v);

// --prompt-cache FILE (llama.cpp's flags): the context after the prompt on disk, so a later run
// whose prompt starts the same way evaluates only what differs.
struct PromptCacheArgs {
  std::string path;
  bool all = false;        // --prompt-cache-all: also save the generated tokens at the end (run)
  bool read_only = false;  // --prompt-cache-ro: use the file, never write it
  void add_to(CLI::App& app, bool with_all);
  // Restores the file when it exists and keeps the longest prefix it shares with `prompt`
  // (at most prompt.size() - 1: the last token is evaluated for its logits). Returns how many
  // prompt tokens are in the context now; prints what it reused to stderr. A file from
  // another model, of another KV type, truncated or corrupt is an error.
  size_t restore(smallthinker::Session& session, std::span<const int32_t> prompt) const;
  // Writes the session's context (tokens: its ids) unless read-only; prints a line to stderr.
  void save(smallthinker::Session& session, std::span<const int32_t> tokens) const;
};

struct SamplingArgs {
  smallthinker::SamplingOptions s;
  int64_t seed = -1;
  void add_to(CLI::App& app);
  smallthinker::SamplingOptions options() const;  // validated: throws naming the flag
};

// Throws std::invalid_argument for a problem of the shared option check, naming the CLI flag
// that sets the field ("--top-p must be between 0 and 1 (got 2)").
void throw_if_problem(const std::optional<smallthinker::OptionProblem>& problem);

// The contents of a text input file; "-" reads standard input. Refuses directories, devices
// and FIFOs by name (`what` says which input: "prompt file", "text file") instead of reading
// nothing or blocking.
std::string read_input_file(const std::string& path, const std::string& what);

// A progress display on stderr. On a terminal one line redrawn in place (\r); in logs and
// pipes plain lines, at most one per tenth of the work, so no \r ends up in a log file.
class ProgressLine {
 public:
  explicit ProgressLine(std::string label);
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  void update(size_t done, size_t total, const char* unit);  // "label: done/total unit"
  void finish();  // ends a terminal line (also done by the destructor and when done == total)

 private:
  std::string label_;
  bool tty_ = false;
  bool open_ = false;    // a terminal line is drawn and not ended
  size_t last_tenth_ = SIZE_MAX;
};

// Commands written `cmd MODEL FILE` (stats, perplexity, eval) also accept `cmd -m MODEL FILE`:
// `positional` holds what was given without a flag; returns FILE and sets model.path when the
// model came positionally. Throws with the usage when the count does not fit.
// `file_flag`: the FILE given by a flag instead (perplexity's -f, as llama-perplexity's), or "".
std::string model_and_file(ModelArgs& args, const std::vector<std::string>& positional, const std::string& usage,
                           const std::string& file_flag = "");

// "1,2,3" -> {1, 2, 3}; throws naming the bad element.
std::vector<int32_t> parse_token_list(const std::string& text);

}  // namespace st::cli
