// `smallthinker run`: generate from a prompt given as text (-p / -f), wrapped in the chat
// template with --chat, or as token ids (--tokens). Streams text as it is generated.
#include <cstdio>
#include <stdexcept>

#include "apps/cli/command.h"
#include "apps/cli/common.h"

namespace st::cli {
namespace {

struct RunArgs {
  ModelArgs model;
  SamplingArgs sampling;
  PromptCacheArgs cache;
  std::string prompt;
  std::string prompt_file;
  std::string tokens;
  std::string system;
  int n_predict = 128;
  bool chat = false;
  bool no_special = false;
  bool verbose_prompt = false;
};

int run_run(RunArgs a) {
  throw_if_problem(smallthinker::check_n_predict(a.n_predict));
  const smallthinker::SamplingOptions sampling = a.sampling.options();
  // A system prompt only means something in the chat template (llama.cpp's -sys implies it).
  if (!a.system.empty()) a.chat = true;
  if (!a.prompt_file.empty()) a.prompt = read_input_file(a.prompt_file, "prompt file");
  auto model = a.model.load();
  smallthinker::Session session(model, a.model.session_options());
  std::vector<int32_t> prompt;
  if (!a.tokens.empty()) {
    prompt = parse_token_list(a.tokens);
  } else if (a.chat) {
    std::vector<smallthinker::ChatMessage> msgs;
    if (!a.system.empty()) msgs.push_back({"system", a.system});
    msgs.push_back({"user", a.prompt});
    prompt = model->chat_tokens(msgs);
  } else {
    prompt = model->tokenize(a.prompt, !a.no_special);
  }
  if (prompt.empty()) throw std::invalid_argument("empty prompt: give -p TEXT, -f FILE or --tokens IDS");
  if (a.verbose_prompt) {
    std::fprintf(stderr, "prompt: %zu tokens:", prompt.size());
    for (int32_t t : prompt) std::fprintf(stderr, " %d", t);
    std::fprintf(stderr, "\n");
  }

  const bool text = model->has_tokenizer();
  std::unique_ptr<smallthinker::TextStreamer> streamer;
  if (text) {
    streamer = std::make_unique<smallthinker::TextStreamer>(*model);
    if (!a.chat) std::fputs(model->detokenize(prompt).c_str(), stdout);
  }
  const std::vector<int32_t> stops = text ? model->stop_tokens() : std::vector<int32_t>{};
  smallthinker::Timings t;
  const size_t n_cached = a.cache.restore(session, prompt);
  const auto out = session.generate(prompt, n_cached, a.n_predict, sampling, stops, [&](int32_t tok) {
    if (streamer) std::fputs(streamer->push(tok).c_str(), stdout);
    else std::printf("%d ", tok);
    std::fflush(stdout);
    return true;
  }, &t, [&] { if (!a.cache.all) a.cache.save(session, prompt); });
  if (a.cache.all) {
    // The last sampled token is never evaluated: the context holds the prompt and all but it.
    std::vector<int32_t> held(prompt);
    held.insert(held.end(), out.begin(), out.end());
    held.resize(static_cast<size_t>(session.n_past()));
    a.cache.save(session, held);
  }
  if (streamer) std::fputs(streamer->flush().c_str(), stdout);
  std::printf("\n");
  std::fprintf(stderr, "prompt: %lld tokens, %.2f tok/s; generation: %lld tokens, %.2f tok/s\n",
               static_cast<long long>(t.prompt_tokens), t.prompt_tokens / std::max(t.prompt_seconds, 1e-9),
               static_cast<long long>(t.generated_tokens), t.generated_tokens / std::max(t.generate_seconds, 1e-9));
  return 0;
}

const bool registered = register_command({"run", "generate text from a prompt", [](CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  a->model.add_to(app);
  app.add_option("--chat-template", a->model.model.chat_template,
                 "chat template: chatml, or a Jinja file or tokenizer_config.json (default: the model file's)");
  a->sampling.add_to(app);
  a->cache.add_to(app, true);
  app.add_option("-p,--prompt", a->prompt, "prompt text");
  app.add_option("-f,--file", a->prompt_file, "read the prompt from a file ('-': standard input)");
  app.add_option("--tokens", a->tokens, "prompt as comma-separated token ids");
  app.add_option("-n,--n-predict", a->n_predict, "tokens to generate (-1 = until the end of the text or the context)")
      ->capture_default_str();
  app.add_flag("--chat", a->chat, "wrap the prompt in the model's chat template");
  app.add_option("--system", a->system, "system prompt (implies --chat)");
  app.add_flag("--no-special", a->no_special, "treat special-token text in the prompt as plain text");
  app.add_flag("--verbose-prompt", a->verbose_prompt, "print the prompt's token ids");
  return [a] { return run_run(*a); };
}});

}  // namespace
}  // namespace st::cli
