// `smallthinker perplexity MODEL TEXT_FILE`: perplexity of a text with llama.cpp's conventions
// (chunks of -c tokens, second half of each scored) and output format, so numbers compare:
// `[1]12.3456,[2]...` per chunk, then `Final estimate: PPL = X +/- Y`.
#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "apps/cli/command.h"
#include "apps/cli/common.h"
#include "smallthinker/tools.h"

namespace st::cli {
namespace {

struct PerplexityArgs {
  ModelArgs model;
  std::vector<std::string> positional;
  std::string file;  // -f/--file, llama-perplexity's spelling of TEXT_FILE
  int chunks = 0;
};

int run_perplexity(PerplexityArgs& a) {
  const std::string text_path = model_and_file(a.model, a.positional, "perplexity MODEL TEXT_FILE", a.file);
  const std::string text = read_input_file(text_path, "text file");
  if (a.model.session.n_ctx <= 0) throw std::invalid_argument("-c must be a positive number of tokens");
  // Like llama.cpp, a batch never spans two chunks.
  a.model.session.n_batch = std::min(a.model.session.n_batch, a.model.session.n_ctx);

  auto model = a.model.load();
  // Special-token text such as "<|im_end|>" in the file is read as plain text; no BOS is added
  // (SmallThinker's Qwen2 tokenizer does not use one).
  const std::vector<int32_t> tokens = model->tokenize(text, /*parse_special=*/false);
  const int64_t n_ctx = a.model.session.n_ctx;
  const int64_t available = static_cast<int64_t>(tokens.size()) / n_ctx;
  const int64_t n_chunks = a.chunks > 0 ? std::min<int64_t>(a.chunks, available) : available;
  if (n_chunks > 0)
    std::fprintf(stderr, "%s: %zu tokens; calculating perplexity over %lld chunks of %lld tokens (the last %lld of each scored)\n",
                 text_path.c_str(), tokens.size(), static_cast<long long>(n_chunks), static_cast<long long>(n_ctx),
                 static_cast<long long>(n_ctx - 1 - n_ctx / 2));
  const smallthinker::PerplexityResult r = smallthinker::compute_perplexity(
      model, tokens, a.model.session_options(), a.chunks, [](int i, double ppl) {
        std::printf("[%d]%.4f,", i + 1, ppl);
        std::fflush(stdout);
      });
  std::printf("\n");
  std::printf("Final estimate: PPL = %.4f +/- %.5f\n", r.ppl, r.ppl_stderr);
  std::fflush(stdout);
  std::fprintf(stderr, "%llu tokens scored; mean NLL %.6f +/- %.6f nats\n", static_cast<unsigned long long>(r.n_scored),
               r.nll_mean, r.nll_stderr);
  return 0;
}

const bool registered = register_command({"perplexity", "perplexity of a text file (llama.cpp's method: PPL = X +/- Y)", [](CLI::App& app) {
  auto a = std::make_shared<PerplexityArgs>();
  a->model.session.n_ctx = 512;
  a->model.add_to(app);
  app.get_option("--model")->required(false);
  app.add_option("args", a->positional, "MODEL TEXT_FILE");
  app.add_option("-f,--file", a->file, "the text file (llama-perplexity's -f; instead of TEXT_FILE)");
  app.add_option("--chunks", a->chunks, "score at most this many chunks (0 = all)")->capture_default_str();
  return [a] { return run_perplexity(*a); };
}});

}  // namespace
}  // namespace st::cli
