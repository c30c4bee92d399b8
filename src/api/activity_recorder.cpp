// Runs prompts through a Session with an ActivityObserver that keeps what `stats` analyses:
// every token's experts per layer and the ReGLU zero counts.
#include <algorithm>
#include <limits>
#include <sstream>
#include <string>

#include "api/kv_types.h"
#include "api/model_impl.h"
#include "smallthinker/engine.h"
#include "smallthinker/tools.h"

namespace smallthinker {
namespace {

// The forward pass reports one layer of a whole batch at a time; choices are kept layer-major
// per batch and appended token-major (the log's order) when the batch's last layer arrives.
class ActivityRecorder final : public ActivityObserver {
 public:
  explicit ActivityRecorder(ActivityLog& log) : log_(log), batch_(static_cast<size_t>(log.n_layer)) {}
  void on_routing(int layer, int64_t n_tok, int k, const int32_t* experts, const float*) override {
    batch_[static_cast<size_t>(layer)].assign(experts, experts + n_tok * k);
    if (layer + 1 < log_.n_layer) return;
    for (int64_t t = 0; t < n_tok; ++t)
      for (const auto& l : batch_) log_.routing.insert(log_.routing.end(), l.begin() + t * k, l.begin() + (t + 1) * k);
  }
  void on_reglu(int layer, int64_t n_rows, int64_t n_ff, int64_t n_zero) override {
    log_.reglu_zero[static_cast<size_t>(layer)] += static_cast<uint64_t>(n_zero);
    log_.reglu_total[static_cast<size_t>(layer)] += static_cast<uint64_t>(n_rows * n_ff);
  }

 private:
  ActivityLog& log_;
  std::vector<std::vector<int32_t>> batch_;  // [layer][n_tok * k]
};

// What a --memory budget spends besides the expert cache for this session shape: the memory
// plan's fixed part (dense weights, KV cache, scratch and I/O buffers, reserve), without the
// process's own baseline, which depends on the machine.
uint64_t fixed_plan_bytes(const Model::Impl& m, const SessionOptions& so) {
  const auto [k_type, v_type] = kv_cache_types(so.kv_types, so.kv_f32);
  const st::MemoryPlan p =
      st::plan_memory(m.config, m.weights, so.n_ctx, k_type, v_type, so.n_batch,
                      std::numeric_limits<uint64_t>::max() / 4, 0);
  return p.dense_bytes + p.kv_bytes + p.scratch_bytes + p.io_bytes + (4u << 20);
}

}  // namespace

std::vector<std::string> split_prompts(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  auto blank = [](const std::string& s) { return s.find_first_not_of(" \t") == std::string::npos; };
  // A blank line between two non-blank ones switches to paragraph mode.
  bool paragraphs = false;
  for (size_t i = 1; i + 1 < lines.size(); ++i)
    if (blank(lines[i])) paragraphs = true;
  std::vector<std::string> prompts;
  std::string current;
  for (const auto& line : lines) {
    if (!paragraphs) {
      if (!blank(line)) prompts.push_back(line);
    } else if (blank(line)) {
      if (!current.empty()) prompts.push_back(current);
      current.clear();
    } else {
      current += (current.empty() ? "" : "\n") + line;
    }
  }
  if (!current.empty()) prompts.push_back(current);
  return prompts;
}

ActivityLog record_activity(const std::shared_ptr<Model>& model, const std::vector<std::string>& prompts,
                            const SessionOptions& session_options, int n_predict,
                            const std::function<void(size_t, size_t)>& progress,
                            const std::function<void(const std::string&)>& warn) {
  if (prompts.empty()) throw std::invalid_argument("no prompts to run");
  if (n_predict < 0) throw std::invalid_argument("the number of tokens to generate must not be negative");
  const Model::Impl& m = ModelAccess::impl(*model);
  ActivityLog log;
  log.model_name = m.info.name;
  log.n_layer = m.config.n_layer;
  log.n_expert = m.config.n_expert;
  log.k = m.config.n_expert_used;
  log.n_ff = m.config.n_ff_exp;
  log.expert_slot_bytes = st::expert_slot_bytes(m.weights);
  log.reglu_zero.assign(static_cast<size_t>(log.n_layer), 0);
  log.reglu_total.assign(static_cast<size_t>(log.n_layer), 0);

  ActivityRecorder recorder(log);
  SessionOptions so = session_options;
  so.observer = &recorder;
  Session session(model, so);
  log.fixed_bytes = fixed_plan_bytes(m, session.options());
  const int64_t n_ctx = session.n_ctx();
  SamplingOptions greedy;
  greedy.temperature = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    std::vector<int32_t> tokens = model->tokenize(prompts[i], /*parse_special=*/false);
    if (tokens.empty()) {
      if (progress) progress(i + 1, prompts.size());
      continue;
    }
    // Leave room for the generated tokens; a prompt that does not fit is cut.
    const int64_t room = std::max<int64_t>(1, n_ctx - n_predict);
    if (static_cast<int64_t>(tokens.size()) > room) {
      if (warn)
        warn("prompt " + std::to_string(i + 1) + " has " + std::to_string(tokens.size()) + " tokens; keeping the first " +
             std::to_string(room) + " (raise -c to keep more)");
      tokens.resize(static_cast<size_t>(room));
    }
    session.reset();
    std::vector<int32_t> evaluated = tokens;
    if (n_predict > 0) {
      // generate() evaluates the prompt and every sampled token but the last one.
      const std::vector<int32_t> out = session.generate(tokens, n_predict, greedy, {}, {});
      if (!out.empty()) evaluated.insert(evaluated.end(), out.begin(), out.end() - 1);
    } else {
      session.eval(tokens);
    }
    log.prompt_tokens.push_back(std::move(evaluated));
    if (progress) progress(i + 1, prompts.size());
  }
  if (log.prompt_tokens.empty()) throw std::invalid_argument("every prompt tokenized to nothing");
  return log;
}

}  // namespace smallthinker
