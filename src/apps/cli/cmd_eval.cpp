// `smallthinker eval MODEL TASK.jsonl`: multiple-choice accuracy from log-likelihoods
// (format in docs/EVAL.md), for comparing quantizations of one model on the same questions.
#include <cstdio>

#include "apps/cli/command.h"
#include "apps/cli/common.h"
#include "smallthinker/tools.h"

namespace st::cli {
namespace {

struct EvalArgs {
  ModelArgs model;
  std::vector<std::string> positional;
  bool verbose = false;
};

char letter(int i) { return i >= 0 && i < 26 ? static_cast<char>('A' + i) : '?'; }

int run_eval(EvalArgs& a) {
  const std::string task_path = model_and_file(a.model, a.positional, "eval MODEL TASK.jsonl");
  const std::vector<smallthinker::ChoiceItem> items = smallthinker::load_choice_task(task_path);
  auto model = a.model.load();
  std::fprintf(stderr, "%s: %zu questions\n", task_path.c_str(), items.size());
  ProgressLine progress("eval");
  const smallthinker::ChoiceEvalResult r = smallthinker::evaluate_choices(
      model, items, a.model.session_options(), [&](size_t i, const smallthinker::ChoiceItemResult& ir) {
        if (!a.verbose) {
          progress.update(i + 1, items.size(), "questions");
          return;
        }
        const int answer = items[i].answer;
        std::printf("[%zu] answer %c, predicted %c (%s), by mean %c (%s)\n", i + 1, letter(answer), letter(ir.predicted),
                    ir.predicted == answer ? "correct" : "wrong", letter(ir.predicted_norm),
                    ir.predicted_norm == answer ? "correct" : "wrong");
        for (size_t c = 0; c < ir.scores.size(); ++c)
          std::printf("    %c logprob %.6f tokens %d mean %.6f\n", letter(static_cast<int>(c)), ir.scores[c].logprob,
                      ir.scores[c].n_tokens, ir.scores[c].mean_logprob());
        std::fflush(stdout);
      });
  progress.finish();
  std::printf("acc      = %.4f +/- %.4f (%zu questions)\n", r.acc, r.acc_stderr, items.size());
  std::printf("acc_norm = %.4f +/- %.4f (choices scored by mean log-probability per token)\n", r.acc_norm,
              r.acc_norm_stderr);
  return 0;
}

const bool registered = register_command({"eval", "multiple-choice accuracy from log-likelihoods (MMLU-style JSONL)", [](CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  a->model.session.n_ctx = 0;  // 0: as long as the longest question + choice
  a->model.add_to(app);
  app.get_option("--model")->required(false);
  app.add_option("args", a->positional, "MODEL TASK.jsonl")->required();
  app.add_flag("-v,--verbose", a->verbose, "print every question's scores");
  return [a] { return run_eval(*a); };
}});

}  // namespace
}  // namespace st::cli
