// The loaded model behind smallthinker::Model (private to the library and its tools).
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>
#include <optional>

#include "formats/gguf.h"
#include "kernels/thread_pool.h"
#include "model/config.h"
#include "model/expert_source.h"
#include "model/forward.h"
#include "model/resident_expert_source.h"
#include "model/weight_packing.h"
#include "model/weights.h"
#include "runtime/dense_weights.h"
#include "runtime/expert_store.h"
#include "runtime/memory_plan.h"
#include "smallthinker/engine.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"

namespace smallthinker {

struct Model::Impl {
  std::unique_ptr<st::GgufFile> file;
  st::ModelConfig config;
  st::ModelWeights weights;
  std::unique_ptr<st::ThreadPool> pool;
  std::unique_ptr<st::PackedWeights> packed;  // outlives `experts`, which may point into it
  std::unique_ptr<st::ExpertSource> experts;
  // Under a memory budget:
  std::optional<st::MemoryPlan> plan;
  std::unique_ptr<st::DenseWeights> dense;
  st::ExpertStore* store = nullptr;  // == experts.get()
  int64_t plan_ctx = 0;
  bool sparse_reglu = true;
  ModelInfo info;
  std::unique_ptr<st::Tokenizer> tokenizer;  // null when the file has no tokenizer
  st::ChatTemplate chat;
  // Model::token_bytes(), built on first use (constrained sampling).
  mutable std::mutex token_bytes_mutex;
  mutable std::shared_ptr<const std::vector<std::string>> token_bytes;

  const st::Tokenizer& tok() const;
};

// The loaded model behind a Model, for the library's own code only (engine.h keeps it private).
struct ModelAccess {
  static Model::Impl& impl(Model& m) { return *m.impl_; }
  static const Model::Impl& impl(const Model& m) { return *m.impl_; }
};

}  // namespace smallthinker
