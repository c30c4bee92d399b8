// `smallthinker inspect MODEL [--memory SIZE] [-c CTX] [--check]`: metadata, tensor table,
// parameter counts and the memory plan for a budget, without loading the weights. The exit
// status says whether the engine can load the file (a validator for scripts).
#include <cstdio>
#include <stdexcept>
#include <string>

#include "apps/cli/command.h"
#include "apps/cli/common.h"
#include "smallthinker/tools.h"

namespace st::cli {
namespace {

std::string count(uint64_t n) {
  char buf[32];
  if (n >= 1000000000ull) std::snprintf(buf, sizeof buf, "%.2fB", static_cast<double>(n) / 1e9);
  else if (n >= 1000000ull) std::snprintf(buf, sizeof buf, "%.2fM", static_cast<double>(n) / 1e6);
  else if (n >= 1000ull) std::snprintf(buf, sizeof buf, "%.2fK", static_cast<double>(n) / 1e3);
  else std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(n));
  return buf;
}

std::string bytes(uint64_t b) {
  char buf[32];
  if (b >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(b) / (1ull << 30));
  else if (b >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(b) / (1ull << 20));
  else std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(b) / 1024);
  return buf;
}

void print(const smallthinker::ModelInspection& m) {
  std::printf("file: %s (%s, GGUF v%u)\n", m.path.c_str(), bytes(m.file_bytes).c_str(), m.gguf_version);
  std::printf("\nmetadata (%zu keys):\n", m.metadata.size());
  for (const auto& [k, v] : m.metadata) std::printf("  %-44s = %s\n", k.c_str(), v.c_str());
  std::printf("\ntensors (%zu):\n  %-34s %-7s %-22s %12s %14s\n", m.tensors.size(), "name", "type", "shape", "bytes", "offset");
  for (const auto& t : m.tensors) {
    std::string shape = "{";
    for (size_t i = 0; i < t.ne.size(); ++i) shape += (i ? ", " : "") + std::to_string(t.ne[i]);
    shape += "}";
    // A type without a known layout ("type 99 (unknown)") has no computable size.
    const std::string size = t.size_known ? std::to_string(t.bytes) : "?";
    std::printf("  %-34s %-7s %-22s %12s %14llu\n", t.name.c_str(), t.type.c_str(), shape.c_str(), size.c_str(),
                static_cast<unsigned long long>(t.offset));
  }
  if (!m.layer_kinds.empty()) {
    std::printf("\nlayers (%zu):", m.layer_kinds.size());
    for (size_t i = 0; i < m.layer_kinds.size(); ++i) std::printf("%s%zu:%s", i % 6 ? "  " : "\n  ", i, m.layer_kinds[i].c_str());
    std::printf("\n");
  }
  std::printf("\nparameters:\n");
  std::printf("  total                %12s  (%llu)\n", count(m.params_total).c_str(), static_cast<unsigned long long>(m.params_total));
  std::printf("  experts              %12s\n", count(m.params_experts).c_str());
  std::printf("  dense (attn, router, norms) %5s\n", count(m.params_dense).c_str());
  std::printf("  token embeddings     %12s\n", count(m.params_embedding).c_str());
  std::printf("  output (lm_head)     %12s%s\n", count(m.params_output).c_str(), m.params_output ? "" : "  (tied to token_embd)");
  if (m.n_expert > 0)
    std::printf("  active per token     %12s  (%llu: dense + %d of %d experts + lm_head + one embedding row)\n",
                count(m.params_active).c_str(), static_cast<unsigned long long>(m.params_active), m.n_expert_used,
                m.n_expert);
  if (!m.memory_plan.empty()) std::printf("\n%s", m.memory_plan.c_str());
}

// The verdict, last, and the exit status a script tests: 0 runnable, 1 not.
int verdict(const smallthinker::ModelInspection& m, bool check) {
  for (const auto& w : m.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  if (!m.runnable) {
    std::fprintf(stderr, "error: %s\n", m.problem.c_str());
    return 1;
  }
  if (check)
    std::printf("%s: ok: a runnable SmallThinker model (%zu layers, %d experts, %s parameters)\n", m.path.c_str(),
                m.layer_kinds.size(), m.n_expert, count(m.params_total).c_str());
  return 0;
}

const bool registered = register_command({"inspect", "show a model's metadata, tensors, parameter counts and memory plan", [](CLI::App& app) {
  auto model = std::make_shared<std::string>();
  auto o = std::make_shared<smallthinker::InspectOptions>();
  app.add_option("model", *model, "GGUF file");
  app.add_option("-m,--model", *model, "GGUF file (alternative to the positional argument)");
  app.add_option("--memory", o->memory, "memory budget to plan for, e.g. 1GiB");
  app.add_option("-c,--ctx-size", o->n_ctx, "context the plan reserves a KV cache for")->capture_default_str();
  app.add_option("-b,--batch-size", o->n_batch, "prompt batch the plan reserves scratch for")->capture_default_str();
  app.add_flag("--kv-f32", o->kv_f32, "plan an f32 KV cache (same as -ctk f32 -ctv f32)");
  add_kv_type_options(app, o->cache_type_k, o->cache_type_v);
  app.add_option("--max-array", o->max_array_items, "metadata array items shown before abbreviating")->capture_default_str();
  auto check = std::make_shared<bool>(false);
  app.add_flag("--check", *check,
               "validate only: print one line, exit 0 if the engine can load the file and 1 if not "
               "(without --check the exit status is the same, after the full report)");
  return [model, o, check] {
    if (model->empty()) throw std::invalid_argument("inspect: name a model file (smallthinker inspect MODEL.gguf)");
    smallthinker::SessionOptions plan;
    plan.n_ctx = o->n_ctx;
    plan.n_batch = o->n_batch;
    throw_if_problem(smallthinker::check_session_options(plan));
    if (o->n_ctx <= 0) throw std::invalid_argument("-c/--ctx-size must be at least 1 token for the plan");
    const smallthinker::ModelInspection m = smallthinker::inspect_model(*model, *o);
    if (!*check) print(m);
    return verdict(m, *check);
  };
}});

}  // namespace
}  // namespace st::cli
