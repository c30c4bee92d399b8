// Experts on storage with a RAM cache of fixed-size slots (the ExpertSource the forward pass
// uses under a memory budget). The pre-attention router's choice arrives through prefetch()
// before attention runs, so reads of missing experts fly while attention computes; acquire()
// waits only for what is still missing. Reads go straight from the GGUF file as it is, with
// 4 KiB-aligned direct I/O, so the page cache does not grow behind the budget's back.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/expert_source.h"
#include "model/weights.h"
#include "runtime/expert_cache.h"
#include "runtime/io/async_reader.h"

namespace st {

struct ExpertStoreStats {
  uint64_t experts_read = 0;       // slots filled from storage
  uint64_t bytes_read = 0;
  uint64_t prefetched = 0;         // reads started by prefetch() (before attention)
  uint64_t demand_reads = 0;       // reads started by acquire() (nothing prefetched them)
  uint64_t speculated = 0;         // reads started by look-ahead guesses
  uint64_t guesses = 0, guesses_right = 0;  // look-ahead guesses, and those the real routing chose
  double io_wait_seconds = 0;      // compute thread blocked waiting for reads
};

struct ExpertStoreOptions {
  int n_slots = 0;
  uint64_t slot_bytes = 0;         // from expert_slot_bytes()
  CachePolicy policy = CachePolicy::lfu_aging;
  bool lookahead = true;           // start reads for the next layer's guessed experts
  bool neuron_columns = true;      // convert down matrices for sparse ReGLU (when the type allows)
  AsyncReaderOptions io;
};

class ExpertStore final : public ExpertSource {
 public:
  ExpertStore(const std::string& path, const ModelConfig& config, const ModelWeights& weights,
              const ExpertStoreOptions& options);
  ~ExpertStore() override;

  void prefetch(int layer, std::span<const int32_t> experts) override;
  ExpertView acquire(int layer, int expert) override;
  void release(int layer, int expert) override;
  void use_neuron_columns(int layer) override;
  int max_acquired() const override;
  bool wants_lookahead() const override { return lookahead_; }
  void speculate(int layer, std::span<const int32_t> experts) override;

  const ExpertStoreStats& stats() const { return stats_; }
  const CacheStats& cache_stats() const { return cache_.stats(); }
  const ExpertCache& cache() const { return cache_; }
  const char* io_backend() const { return reader_->name(); }
  void reset_stats();

 private:
  struct Part {                    // one of gate/up/down of one expert as a direct read
    uint64_t aligned_offset;
    size_t aligned_length;
    size_t skip;                   // from the aligned start to the expert's first byte
  };
  Part part(int layer, int which, int expert) const;
  // Slot of (layer, expert), with reads started if it was missing.
  int bring_in(int layer, int expert, bool prefetching, bool speculative = false);
  void drain(int slot);       // waits until the slot has no reads in flight
  void wait_ready(int slot);  // drain, then throw if a read failed
  void handle(const ReadCompletion& c);

  std::string path_;
  const ModelConfig& config_;
  const ModelWeights& weights_;
  ExpertCache cache_;
  std::unique_ptr<AsyncReader> reader_;
  int tail_fd_ = -1;               // buffered fd for the rare read that runs past the file's end
  uint64_t file_size_ = 0;
  uint64_t slot_bytes_ = 0;
  uint64_t part_offset_[3] = {0, 0, 0};  // gate, up, down within a slot
  uint8_t* slots_ = nullptr;       // n_slots * slot_bytes, anonymous and pre-faulted
  size_t slots_len_ = 0;
  std::vector<int8_t> pending_;    // per slot: parts still being read
  std::vector<int> error_;         // per slot: errno of a failed read
  std::vector<int32_t> slot_layer_, slot_expert_;
  std::vector<uint8_t> columns_ready_;  // per slot: down already in neuron-column layout
  std::vector<uint8_t> layer_columns_;  // per layer: serve down in neuron columns (sparse ReGLU)
  std::vector<uint8_t> columns_buf_;    // conversion buffer (empty: keep the file's layout)
  std::vector<int32_t> selected_;  // slots pinned by the current layer's prefetch
  bool lookahead_ = true;
  int guess_layer_ = -1;
  std::vector<int32_t> guess_;     // the last look-ahead guess (expert ids)
  std::vector<ReadCompletion> completions_;
  ExpertStoreStats stats_;
};

}  // namespace st
