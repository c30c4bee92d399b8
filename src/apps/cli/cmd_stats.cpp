// `smallthinker stats MODEL PROMPTS.txt -o DIR`: runs the prompts, logs routing and ReGLU
// activity, and writes stats.json, CSVs and SVG pictures (expert-frequency heatmap, zero-neuron
// fraction per layer, expert reuse distance, cache hit rate vs cache size per policy).
#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "apps/cli/command.h"
#include "apps/cli/common.h"
#include "smallthinker/tools.h"

namespace st::cli {
namespace {

struct StatsArgs {
  ModelArgs model;
  std::vector<std::string> positional;
  std::string out_dir;
  int n_predict = 0;
  std::string shares;
};

std::vector<double> parse_shares(const std::string& text) {
  std::vector<double> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    try {
      size_t used = 0;
      out.push_back(std::stod(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw std::invalid_argument("--shares: '" + item + "' is not a number (give e.g. 0.1,0.25,0.5)");
    }
  }
  return out;
}

int run_stats(StatsArgs& a) {
  const std::string prompts_path = model_and_file(a.model, a.positional, "stats MODEL PROMPTS.txt -o DIR");
  const std::vector<std::string> prompts = smallthinker::split_prompts(read_input_file(prompts_path, "prompts file"));
  if (prompts.empty()) throw std::invalid_argument(prompts_path + " holds no prompts (one per line, or paragraphs)");
  const std::vector<double> shares = parse_shares(a.shares);

  auto model = a.model.load();
  std::fprintf(stderr, "running %zu prompts\n", prompts.size());
  ProgressLine progress("stats");
  const smallthinker::ActivityLog log = smallthinker::record_activity(
      model, prompts, a.model.session_options(), a.n_predict,
      [&progress](size_t done, size_t total) { progress.update(done, total, "prompts"); },
      [&progress](const std::string& w) {
        progress.finish();
        std::fprintf(stderr, "warning: %s\n", w.c_str());
      });
  progress.finish();
  const smallthinker::ActivityStats s = smallthinker::analyse_activity(log, shares);
  for (const auto& path : smallthinker::write_activity_report(log, s, a.out_dir, {a.model.model.path, prompts_path}))
    std::printf("wrote %s\n", path.c_str());

  // A short summary: what the pictures show, in numbers.
  uint64_t zero = 0, total = 0;
  for (size_t l = 0; l < log.reglu_zero.size(); ++l) zero += log.reglu_zero[l], total += log.reglu_total[l];
  std::printf("%zu tokens; exactly-zero ReGLU neurons: %.1f%%; mean expert reuse distance %.1f tokens\n", log.n_tokens(),
              total ? 100.0 * static_cast<double>(zero) / static_cast<double>(total) : 0.0, s.mean_reuse_distance);
  std::printf("%-12s", "cache size");
  for (const auto& c : s.cache_curves) std::printf(" %11s", c.policy.c_str());
  std::printf("\n");
  for (size_t i = 0; !s.cache_curves.empty() && i < s.cache_curves[0].points.size(); ++i) {
    const auto& p = s.cache_curves[0].points[i];
    std::printf("%5.0f%% %5d", 100 * p.share, p.slots);
    for (const auto& c : s.cache_curves) std::printf(" %10.1f%%", 100 * c.points[i].hit_rate);
    std::printf("\n");
  }
  return 0;
}

const bool registered = register_command({"stats", "routing and ReGLU activity statistics with pictures (JSON, CSV, SVG)", [](CLI::App& app) {
  auto a = std::make_shared<StatsArgs>();
  a->model.add_to(app);
  app.get_option("--model")->required(false);
  app.add_option("args", a->positional, "MODEL PROMPTS.txt: one prompt per line, or paragraphs separated by blank lines")
      ->required();
  app.add_option("-o,--output", a->out_dir, "directory for stats.json, the CSVs and the SVG pictures")->required();
  app.add_option("-n,--n-predict", a->n_predict, "also generate this many tokens (greedy) after each prompt")
      ->capture_default_str();
  app.add_option("--shares", a->shares, "cache sizes for the hit-rate curves, as shares of all experts (default 0.05,0.1,...,1)");
  return [a] { return run_stats(*a); };
}});

}  // namespace
}  // namespace st::cli
