// Asks a SmallThinker model a question from C++ through the C API (smallthinker.h), streaming
// the answer through a lambda, then prints what the engine counted.
//   chat_stream MODEL.gguf [QUESTION] [MAX_TOKENS]
// Greedy decoding, so the answer equals `smallthinker run --chat --temp 0`.
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <smallthinker.h>

namespace {

// The C handles with their release functions: freed on every path, also when we throw.
struct ModelFree {
  void operator()(st_model* m) const { st_model_free(m); }
};
struct SessionFree {
  void operator()(st_session* s) const { st_session_free(s); }
};
using Model = std::unique_ptr<st_model, ModelFree>;
using Session = std::unique_ptr<st_session, SessionFree>;

void check(st_status status, const char* what) {
  if (status != ST_OK)
    throw std::runtime_error(std::string(what) + " (" + st_status_name(status) + "): " + st_last_error());
}

Model load(const char* path) {
  st_model_options options;
  st_model_options_init(&options);
  options.path = path;
  options.n_ctx = 1024;
  st_model* raw = nullptr;
  check(st_model_load(&options, &raw), "loading the model");
  return Model(raw);
}

// The chat template's prompt for one user message, as token ids (grown until it fits).
std::vector<int32_t> chat_prompt(st_model* model, const std::string& question) {
  const st_chat_message message{"user", question.c_str()};
  std::vector<int32_t> tokens(256);
  size_t n = 0;
  st_status s = st_chat_tokens(model, &message, 1, 1, tokens.data(), tokens.size(), &n);
  if (s == ST_ERR_BUFFER_TOO_SMALL) {
    tokens.resize(n);
    s = st_chat_tokens(model, &message, 1, 1, tokens.data(), tokens.size(), &n);
  }
  check(s, "rendering the chat prompt");
  tokens.resize(n);
  return tokens;
}

// st_session_generate with a C++ callable as its per-token callback.
using OnText = std::function<bool(const std::string&)>;
size_t generate(st_session* session, const std::vector<int32_t>& prompt, int n_predict, OnText on_text) {
  st_sampling_params sampling;
  st_sampling_params_init(&sampling);
  sampling.temperature = 0;  // greedy
  auto trampoline = [](int32_t, const char* text, size_t len, void* user) -> int {
    return (*static_cast<OnText*>(user))(std::string(text, len)) ? 1 : 0;
  };
  size_t n_generated = 0;
  check(st_session_generate(session, prompt.data(), prompt.size(), n_predict, &sampling, trampoline, &on_text,
                            &n_generated),
        "generating");
  return n_generated;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.gguf [QUESTION] [MAX_TOKENS]\n", argv[0]);
    return 2;
  }
  const std::string question = argc > 2 ? argv[2] : "Who made the heaven and the earth?";
  const int n_predict = argc > 3 ? std::atoi(argv[3]) : 64;
  try {
    Model model = load(argv[1]);
    st_model_info info{};
    info.struct_size = sizeof info;
    check(st_model_get_info(model.get(), &info), "reading the model's info");
    std::fprintf(stderr, "%s: %d layers, %d experts (%d per token), smallthinker %s\n", info.name, info.n_layer,
                 info.n_expert, info.n_expert_used, st_version_string());

    st_session* raw = nullptr;
    check(st_session_new(model.get(), nullptr, &raw), "creating a session");
    Session session(raw);
    const std::vector<int32_t> prompt = chat_prompt(model.get(), question);
    const size_t n = generate(session.get(), prompt, n_predict, [](const std::string& text) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
      return true;  // false would stop after this token
    });
    std::printf("\n");
    uint64_t neurons = 0, zero = 0;
    check(st_session_reglu_stats(session.get(), &neurons, &zero), "reading the ReGLU statistics");
    std::fprintf(stderr, "%zu prompt tokens, %zu generated; ReGLU outputs exactly zero: %.1f%%\n", prompt.size(), n,
                 neurons ? 100.0 * static_cast<double>(zero) / static_cast<double>(neurons) : 0.0);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chat_stream: %s\n", e.what());
    return 1;
  }
}
