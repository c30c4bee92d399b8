#include "apps/cli/llama_flags.h"

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string_view>

namespace st::cli {
namespace {

enum class Kind {
  alias,           // the same meaning under another name: text = our flag
  drop,            // no effect on this engine: dropped with a note (text)
  drop_value,      // ... and so is its value
  drop_maybe_value,  // ... and its value when one follows (-fa [on|off|auto])
  refuse,          // no counterpart: an error naming the alternative (text)
  conversation,    // -cnv, -i: a conversation, which is `chat` here
  single_turn,     // -st: one answer in the chat template, which is `run --chat` here
  bench_output,    // llama-bench -o FORMAT: json is --json
};

struct Rule {
  std::initializer_list<std::string_view> names;
  Kind kind;
  const char* text;
  const char* note = nullptr;  // alias: what differs, printed as a note
};

constexpr const char* kCpuOnly = "this engine runs on the CPU (no GPU offload)";
constexpr const char* kJsonHint =
    "not supported; `serve` constrains output with response_format {\"type\": \"json_object\"} or \"json_schema\"";

const Rule kRules[] = {
    {{"-sys", "--system-prompt"}, Kind::alias, "--system"},
    {{"-np"}, Kind::alias, "--parallel"},
    {{"--predict"}, Kind::alias, "--n-predict"},
    {{"-a"}, Kind::alias, "--alias"},
    {{"-cnv", "--conversation", "-i", "--interactive", "-if", "--interactive-first"}, Kind::conversation, ""},
    {{"-no-cnv", "--no-conversation"}, Kind::drop, "`run` answers one prompt and exits already"},
    {{"-st", "--single-turn"}, Kind::single_turn, ""},
    {{"-to", "--timeout"}, Kind::alias, "--read-timeout",
     "here it bounds reading a request (its header, and each pause in its body); answers are not timed"},
    {{"-kvu", "--kv-unified"}, Kind::drop,
     "each of `serve`'s --parallel slots has its own KV cache of -c tokens here (no shared buffer)"},
    {{"-ot", "--override-tensor"}, Kind::drop_value, "every tensor is in CPU memory here (no GPU offload)"},
    {{"-fa", "--flash-attn"}, Kind::drop_maybe_value, "attention here is always computed in one fused pass"},
    {{"-ctk"}, Kind::alias, "--cache-type-k"},
    {{"-ctv"}, Kind::alias, "--cache-type-v"},
    {{"-ngl", "--gpu-layers", "--n-gpu-layers", "-ngld", "--gpu-layers-draft", "--n-gpu-layers-draft", "-sm",
      "--split-mode", "-mg", "--main-gpu", "-ts", "--tensor-split", "-dev", "--device"},
     Kind::drop_value, kCpuOnly},
    {{"--mlock"}, Kind::drop, "without --memory every weight stays in RAM already; with it, experts stream by design"},
    {{"--no-mmap"}, Kind::drop, "the model file is always mapped here"},
    {{"-mmp", "--mmap"}, Kind::drop_value, "the model file is always mapped here"},
    {{"-cb", "--cont-batching"}, Kind::drop, "`serve` always decodes its slots together"},
    {{"--jinja"}, Kind::drop, "the model file's Jinja chat template is always used (--chat-template overrides it)"},
    {{"-ub", "--ubatch-size"}, Kind::drop_value, "-b is the only batch size here"},
    {{"-tb", "--threads-batch"}, Kind::drop_value, "-t sets the threads of prompt and generation alike"},
    {{"--no-warmup"}, Kind::drop, "there is no warm-up run here"},
    {{"--numa"}, Kind::drop_value, "threads are not NUMA-placed here"},
    {{"-co", "--color", "--log-disable", "--no-display-prompt"}, Kind::drop, "not applicable here"},
    {{"-e", "--escape", "--no-escape"}, Kind::drop,
     "prompts are used as given (escapes such as \\n are not processed: write real newlines, or use -f FILE)"},
    {{"--metrics"}, Kind::drop, "`serve` always answers /metrics"},
    {{"-o", "--output"}, Kind::bench_output, ""},
    {{"-hf", "-hfr", "--hf-repo", "-hff", "--hf-file", "-mu", "--model-url"}, Kind::refuse,
     "downloads are not built in: download the GGUF file and pass -m FILE"},
    {{"--grammar", "--grammar-file", "-j", "--json-schema"}, Kind::refuse, kJsonHint},
    {{"--lora", "--lora-scaled", "--control-vector"}, Kind::refuse, "adapters are not supported"},
    {{"-md", "--model-draft", "-cd", "--ctx-size-draft", "--draft", "--draft-max"}, Kind::refuse,
     "speculative decoding is not supported"},
    {{"--mirostat", "--mirostat-lr", "--mirostat-ent", "--typical", "--dry-multiplier", "--xtc-probability"},
     Kind::refuse, "this sampler is not supported; the chain here is --repeat-penalty, --top-k, --top-p, --min-p, --temp"},
    {{"--chat-template", "--chat-template-file"}, Kind::refuse, "the model's ChatML template is built in"},
    {{"--embedding", "--embeddings", "--rerank", "--reranking"}, Kind::refuse, "embeddings are not supported"},
    {{"-r", "--reverse-prompt"}, Kind::refuse,
     "generation stops at the model's end-of-turn token; for a conversation use `smallthinker chat`"},
};

const Rule* find_rule(std::string_view flag) {
  for (const Rule& r : kRules)
    if (std::find(r.names.begin(), r.names.end(), flag) != r.names.end()) return &r;
  return nullptr;
}

const CLI::App* subcommand(const CLI::App& app, const std::string& name) {
  try {
    return app.get_subcommand(name);
  } catch (const CLI::OptionNotFound&) {
    return nullptr;
  }
}

bool is_flag(const std::string& a) { return a.size() > 1 && a[0] == '-' && a != "--"; }

// "-st", "-kvu", "-pHello": one dash and at least two letters. None of our flags is spelled so
// (CLI11's short names are one letter); CLI11 would split it into "-s t", which fails with a
// baffling message ("--seed = t") or silently means something else. Numbers ("-1", "-n5") are
// not words.
bool is_single_dash_word(const std::string& a) {
  auto letter = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; };
  return a.size() >= 3 && a[0] == '-' && letter(a[1]) && letter(a[2]);
}

// The refusal of a single-dash word that is neither ours nor a llama.cpp flag we know.
std::string unknown_flag(const std::string& a, const CLI::App& sub, const std::string& command) {
  std::string msg = a + " is not an option of `smallthinker " + command +
                    "` (if it is a llama.cpp flag, it has no equivalent here)";
  const CLI::Option* first = sub.get_option_no_throw(a.substr(0, 2));
  if (first && first->get_items_expected_min() > 0)
    msg += "; for " + a.substr(0, 2) + " with the value '" + a.substr(2) + "', write `" + a.substr(0, 2) + " " + a.substr(2) + "`";
  return msg + "; see `smallthinker " + command + " --help`";
}

// The subcommand's own option of this name (`--x=v` looked up as `--x`), if any.
const CLI::Option* own_option(const CLI::App& sub, const std::string& arg) {
  const std::string name = arg.rfind("--", 0) == 0 ? arg.substr(0, arg.find('=')) : arg;
  return sub.get_option_no_throw(name);
}

class Translator {
 public:
  Translator(const CLI::App& app, std::vector<std::string> args) : app_(app), in_(std::move(args)) {}

  TranslatedArgs run() {
    if (in_.empty()) return {};
    choose_subcommand();
    out_.push_back(command_);
    const CLI::App* sub = subcommand(app_, command_);
    if (!sub) return {in_, {}};  // an unknown command: CLI11 says so
    for (i_ = 1; i_ < in_.size(); ++i_) {
      const std::string& a = in_[i_];
      if (a == "--") {
        out_.insert(out_.end(), in_.begin() + static_cast<std::ptrdiff_t>(i_), in_.end());
        break;
      }
      // In a conversation llama.cpp reads -p as the system prompt (`chat` has no -p of its own).
      if (command_ == "chat" && (a == "-p" || a == "--prompt") && i_ + 1 < in_.size()) {
        out_.push_back("--system");
        out_.push_back(in_[++i_]);
        continue;
      }
      if (const CLI::Option* own = is_flag(a) ? own_option(*sub, a) : nullptr) {
        copy_own(*own, a);
        continue;
      }
      // --version anywhere (not as a value) prints the version, whatever else is missing.
      if (a == "--version") return {{"--version"}, {}};
      const Rule* rule = is_flag(a) ? find_rule(a.substr(0, a.rfind("--", 0) == 0 ? a.find('=') : a.npos)) : nullptr;
      if (!rule) {
        if (is_single_dash_word(a)) throw std::invalid_argument(unknown_flag(a, *sub, command_));
        out_.push_back(a);
        continue;
      }
      apply(*rule, a, *sub);
    }
    return {out_, notes_};
  }

 private:
  // llama-cli's shape has no subcommand (`llama-cli -m M -p P`): that is `run`; and its
  // conversation flags ask for what `chat` does.
  void choose_subcommand() {
    if (is_flag(in_[0]) && in_[0] != "-h" && in_[0] != "--help" && in_[0] != "--version") {
      in_.insert(in_.begin(), "run");
      notes_.push_back("no command given: running `smallthinker run` (see `smallthinker --help` for the others)");
    }
    command_ = in_[0];
    if (command_ != "run") return;
    // -st (single turn) with -cnv is one answer in the chat template: `run --chat`, not `chat`.
    for (size_t i = 1; i < in_.size(); ++i) {
      const Rule* r = find_rule(in_[i]);
      if (r && r->kind == Kind::single_turn) single_turn_ = true;
    }
    for (size_t i = 1; i < in_.size() && !single_turn_; ++i) {
      const Rule* r = find_rule(in_[i]);
      if (r && r->kind == Kind::conversation) {
        command_ = "chat";
        notes_.push_back(in_[i] + ": a conversation is `smallthinker chat`; running that (-p becomes its system prompt, as in llama.cpp)");
        return;
      }
    }
  }

  // One of the subcommand's own options (named exactly, or --name=value), with its value when
  // it takes one: the value is copied as it is, however it looks.
  void copy_own(const CLI::Option& own, const std::string& a) {
    out_.push_back(a);
    if (a.find('=') == std::string::npos && own.get_items_expected_min() > 0 && i_ + 1 < in_.size())
      out_.push_back(in_[++i_]);
  }

  std::optional<std::string> take_value() {
    if (i_ + 1 < in_.size()) return in_[++i_];
    return std::nullopt;
  }

  void apply(const Rule& r, const std::string& a, const CLI::App& sub) {
    const std::string flag = a.substr(0, a.find('='));
    const bool has_inline = a.find('=') != std::string::npos && a.rfind("--", 0) == 0;
    auto value = [&]() -> std::optional<std::string> {
      if (has_inline) return a.substr(a.find('=') + 1);
      return take_value();
    };
    switch (r.kind) {
      case Kind::alias:
        if (!sub.get_option_no_throw(r.text))
          throw std::invalid_argument(flag + " (llama.cpp's) means " + r.text + ", which `smallthinker " + command_ +
                                      "` does not take");
        out_.push_back(has_inline ? std::string(r.text) + a.substr(a.find('=')) : std::string(r.text));
        if (r.note) notes_.push_back(flag + " is " + r.text + ": " + r.note);
        // Its value is copied as it is, however it looks (-sys "-a list").
        if (!has_inline && sub.get_option_no_throw(r.text)->get_items_expected_min() > 0 && i_ + 1 < in_.size())
          out_.push_back(in_[++i_]);
        return;
      case Kind::conversation:
        if (command_ == "run" && single_turn_) return;  // -cnv -st: `run --chat` (see choose_subcommand)
        if (command_ != "chat")
          throw std::invalid_argument(flag + ": a conversation is `smallthinker chat`, not `" + command_ + "`");
        return;  // chat is one already
      case Kind::single_turn:
        if (command_ != "run")
          throw std::invalid_argument(flag + " (llama.cpp's single turn): here one answer in the chat template is "
                                      "`smallthinker run --chat -p PROMPT`");
        out_.push_back("--chat");
        notes_.push_back(flag + ": one answer in the chat template: running `smallthinker run --chat`");
        return;
      case Kind::drop:
        notes_.push_back(flag + ": ignored: " + r.text);
        return;
      case Kind::drop_value: {
        const auto v = value();
        notes_.push_back(flag + (v ? " " + *v : "") + ": ignored: " + r.text);
        return;
      }
      case Kind::drop_maybe_value: {
        static const std::vector<std::string> kSwitch = {"on", "off", "auto", "0", "1", "true", "false", "enabled", "disabled"};
        std::string shown = flag;
        if (has_inline) shown = a;
        else if (i_ + 1 < in_.size() && std::find(kSwitch.begin(), kSwitch.end(), in_[i_ + 1]) != kSwitch.end())
          shown += " " + in_[++i_];
        notes_.push_back(shown + ": ignored: " + r.text);
        return;
      }
      case Kind::refuse:
        throw std::invalid_argument(flag + " (a llama.cpp flag): " + r.text);
      case Kind::bench_output: bench_output(flag, value()); return;
    }
  }

  void bench_output(const std::string& flag, const std::optional<std::string>& v) {
    if (command_ == "bench" && (v == "json" || v == "jsonl")) {
      out_.push_back("--json");
      return;
    }
    if (command_ == "bench" && v == "md") return;  // the default table
    throw std::invalid_argument(flag + " " + v.value_or("") + ": `smallthinker " + command_ + "` has no such output option" +
                                (command_ == "bench" ? " (bench prints a table, or JSON with --json)" : ""));
  }

  const CLI::App& app_;
  std::vector<std::string> in_;
  std::vector<std::string> out_;
  std::vector<std::string> notes_;
  std::string command_;
  bool single_turn_ = false;  // -st given to `run`
  size_t i_ = 0;
};

}  // namespace

TranslatedArgs translate_llama_flags(std::vector<std::string> args, const CLI::App& app) {
  return Translator(app, std::move(args)).run();
}

}  // namespace st::cli
