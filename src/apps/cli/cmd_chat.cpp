// `smallthinker chat`: an interactive multi-turn conversation in the terminal.
//
// The KV cache lives for the whole conversation: the first turn evaluates the ChatML prompt,
// and every later turn evaluates only what the conversation adds (Model::chat_continuation_tokens),
// so answering turn N costs the same however long the history is. Ctrl-C stops an answer,
// Ctrl-C on an empty prompt or Ctrl-D quits; /reset, /stats, /help and /exit are commands.
#include <algorithm>
#include <climits>
#include <cstdio>
#include <exception>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "apps/cli/command.h"
#include "apps/cli/common.h"
#include "apps/cli/line_editor.h"

namespace st::cli {
namespace {

namespace sm = smallthinker;

struct ChatArgs {
  ModelArgs model;
  SamplingArgs sampling;
  PromptCacheArgs cache;
  std::string system;
  int n_predict = -1;

  ChatArgs() {
    // SmallThinker's authors recommend these settings (its generation_config.json); min-p is
    // not among them, so it is off unless asked for.
    sampling.s.temperature = 0.6f;
    sampling.s.top_k = 20;
    sampling.s.top_p = 0.95f;
    sampling.s.min_p = 0.0f;
  }
};

constexpr const char* kHelp =
    "Type a message and press Enter. Ctrl-C stops an answer; Ctrl-C on an empty line or Ctrl-D quits.\n"
    "  /reset   forget the conversation (clears the KV cache)\n"
    "  /stats   tokens in the context and the speed of the last answer\n"
    "  /help    this text\n"
    "  /exit    quit\n";

// Why an answer ended, which decides how it is closed and what the user is told.
enum class AnswerEnd { kStopToken, kLimit, kInterrupted, kContextFull };

class ChatLoop {
 public:
  ChatLoop(std::shared_ptr<sm::Model> model, const ChatArgs& args)
      : model_(std::move(model)),
        session_(model_, args.model.session_options()),
        sampling_(args.sampling.options()),
        system_(args.system),
        cache_(args.cache),
        n_predict_(args.n_predict < 0 ? INT_MAX : args.n_predict),
        stops_(model_->stop_tokens()) {}

  int run() {
    LineEditor editor("you> ");
    if (editor.interactive()) {
      std::printf("smallthinker chat: %s, context %lld tokens. /help lists the commands.\n",
                  model_->info().name.c_str(), static_cast<long long>(session_.n_ctx()));
    }
    for (;;) {
      std::fflush(stdout);
      LineEditor::Input in = editor.read();
      if (in.status == LineEditor::Status::kEof) {
        if (editor.interactive()) std::printf("\n");  // leave the shell's prompt on a line of its own
        break;
      }
      if (in.status == LineEditor::Status::kInterrupted) {
        std::printf("\n");
        if (in.text.empty()) break;  // Ctrl-C on an empty prompt quits; on a typed line, drops it
        continue;
      }
      editor.add_history(in.text);
      if (in.text.empty()) continue;
      if (in.text.front() == '/') {
        if (!command(in.text)) break;
        continue;
      }
      try {
        answer(in.text);
      } catch (const std::exception& e) {
        // The conversation may be half-evaluated; keep the program (and the user's typing) alive.
        std::printf("\n[error: %s; /reset starts a new conversation]\n", e.what());
      }
    }
    return 0;
  }

 private:
  // Returns false when the command ends the chat.
  bool command(const std::string& line) {
    if (line == "/exit" || line == "/quit") return false;
    if (line == "/help") {
      std::fputs(kHelp, stdout);
    } else if (line == "/reset") {
      session_.reset();
      pending_.clear();
      n_turns_ = 0;
      last_ = {};
      std::printf("[conversation reset: 0 / %lld tokens]\n", static_cast<long long>(session_.n_ctx()));
    } else if (line == "/stats") {
      stats();
    } else {
      std::printf("unknown command %s; /help lists the commands\n", line.c_str());
    }
    return true;
  }

  void stats() const {
    std::printf("context: %lld / %lld tokens, %d turns\n", static_cast<long long>(session_.n_past()),
                static_cast<long long>(session_.n_ctx()), n_turns_);
    if (n_turns_ == 0) return;
    const sm::Timings& t = last_.timings;
    std::printf("last turn: prompt %lld tokens (%lld reused from the KV cache) at %.1f tok/s; "
                "answer %lld tokens at %.1f tok/s\n",
                static_cast<long long>(t.prompt_tokens), static_cast<long long>(last_.n_reused),
                t.prompt_tokens / std::max(t.prompt_seconds, 1e-9), static_cast<long long>(t.generated_tokens),
                t.generated_tokens / std::max(t.generate_seconds, 1e-9));
  }

  // The tokens this turn adds to what the KV cache already holds.
  std::vector<int32_t> turn_tokens(const std::string& user) const {
    if (session_.n_past() == 0) {
      std::vector<sm::ChatMessage> msgs;
      if (!system_.empty()) msgs.push_back({"system", system_});
      msgs.push_back({"user", user});
      return model_->chat_tokens(msgs);
    }
    // generate() never evaluates the last token it samples (see finish_answer), so the cache
    // never holds the previous reply's <|im_end|>: reply_closed = false writes it now.
    const sm::ChatMessage msg{"user", user};
    std::vector<int32_t> tokens = pending_;
    const auto more = model_->chat_continuation_tokens(std::span<const sm::ChatMessage>(&msg, 1), false);
    tokens.insert(tokens.end(), more.begin(), more.end());
    return tokens;
  }

  void answer(const std::string& user) {
    const std::vector<int32_t> prompt = turn_tokens(user);
    const int64_t n_past = session_.n_past();
    // Keep one slot free for the answer: a prompt that does not fit is refused before it
    // touches the cache, so the conversation so far stays usable (/stats, /reset).
    if (n_past + static_cast<int64_t>(prompt.size()) >= session_.n_ctx()) {
      std::printf("[context full: %lld / %lld tokens in use and this turn needs %zu more; "
                  "/reset starts a new conversation, or restart with a larger -c]\n",
                  static_cast<long long>(n_past), static_cast<long long>(session_.n_ctx()), prompt.size());
      return;
    }
    sm::TextStreamer streamer(*model_);
    bool interrupted = false;
    sm::Timings timings;
    clear_sigint();
    // The first turn (system prompt and first message) may start as a cached one did.
    const size_t n_cached = n_past == 0 ? cache_.restore(session_, prompt) : 0;
    const auto on_prompt = [&] {
      if (n_past == 0) cache_.save(session_, prompt);
    };
    const std::vector<int32_t> out = session_.generate(prompt, n_cached, n_predict_, sampling_, stops_, [&](int32_t tok) {
      if (sigint_pending()) {
        interrupted = true;
        return false;  // this token is neither shown nor kept
      }
      if (!is_stop(tok)) std::fputs(streamer.push(tok).c_str(), stdout);
      std::fflush(stdout);
      return true;
    }, &timings, on_prompt);
    clear_sigint();
    std::fputs(streamer.flush().c_str(), stdout);

    AnswerEnd end = AnswerEnd::kLimit;
    if (interrupted) end = AnswerEnd::kInterrupted;
    else if (!out.empty() && is_stop(out.back())) end = AnswerEnd::kStopToken;
    else if (session_.n_past() >= session_.n_ctx()) end = AnswerEnd::kContextFull;
    finish_answer(out, end);

    ++n_turns_;
    last_.timings = timings;
    last_.n_reused = n_past + static_cast<int64_t>(n_cached);
    std::printf("\n");
    if (end == AnswerEnd::kInterrupted) std::printf("[answer stopped]\n");
    if (end == AnswerEnd::kContextFull) {
      std::printf("[context full: %lld / %lld tokens; /reset starts a new conversation]\n",
                  static_cast<long long>(session_.n_past()), static_cast<long long>(session_.n_ctx()));
    }
  }

  // generate() hands each sampled token to on_token before evaluating it and returns without
  // evaluating the last one, so the cache ends one token short of the answer. A stop token
  // is simply dropped (the next continuation closes the reply with <|im_end|>), a token the
  // user saw is kept to be evaluated at the start of the next turn, and the token refused by
  // a Ctrl-C was never shown, so it is dropped too.
  void finish_answer(const std::vector<int32_t>& out, AnswerEnd end) {
    pending_.clear();
    if (out.empty() || end == AnswerEnd::kStopToken || end == AnswerEnd::kInterrupted) return;
    pending_.push_back(out.back());
  }

  bool is_stop(int32_t tok) const { return std::find(stops_.begin(), stops_.end(), tok) != stops_.end(); }

  struct LastTurn {
    sm::Timings timings;
    int64_t n_reused = 0;  // tokens already in the cache when the turn began
  };

  std::shared_ptr<sm::Model> model_;
  sm::Session session_;
  sm::SamplingOptions sampling_;
  std::string system_;
  PromptCacheArgs cache_;
  int n_predict_;
  std::vector<int32_t> stops_;
  std::vector<int32_t> pending_;  // shown to the user but not yet in the KV cache
  int n_turns_ = 0;
  LastTurn last_;
};

int run_chat(const ChatArgs& a) {
  throw_if_problem(smallthinker::check_n_predict(a.n_predict));
  // Before the model's worker threads start, so they inherit SIGINT blocked (see line_editor.h).
  block_sigint();
  auto model = a.model.load();
  if (!model->has_tokenizer()) throw std::runtime_error(a.model.model.path + " has no tokenizer, so it cannot chat");
  ChatLoop loop(model, a);
  install_sigint_flag();
  if (sigint_pending()) return 130;  // Ctrl-C while the model was loading: the user changed their mind
  return loop.run();
}

const bool registered = register_command({"chat", "interactive multi-turn chat in the terminal", [](CLI::App& app) {
  auto a = std::make_shared<ChatArgs>();
  a->model.add_to(app);
  app.add_option("--chat-template", a->model.model.chat_template,
                 "chat template: chatml, or a Jinja file or tokenizer_config.json (default: the model file's)");
  a->sampling.add_to(app);
  a->cache.add_to(app, false);
  app.add_option("--system", a->system, "system prompt (default: the template's)");
  app.add_option("-n,--n-predict", a->n_predict, "most tokens per answer (-1 = until the model stops)")
      ->capture_default_str();
  return [a] { return run_chat(*a); };
}});

}  // namespace
}  // namespace st::cli
