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

#include "kernels/page_buffer.h"
#include "model/config.h"
#include "model/expert_source.h"
#include "model/weights.h"
#include "runtime/expert_cache.h"
#include "runtime/io/async_reader.h"
#include "runtime/sparse_up_reads.h"

namespace st {

class ThreadPool;

struct ExpertStoreStats {
  uint64_t experts_read = 0;       // slots filled from storage
  uint64_t bytes_read = 0;
  uint64_t prefetched = 0;         // reads started by prefetch() (before attention)
  uint64_t demand_reads = 0;       // reads started by acquire() (nothing prefetched them)
  uint64_t speculated = 0;         // reads started by look-ahead guesses
  uint64_t guesses = 0, guesses_right = 0;  // look-ahead guesses, and those the real routing chose
  double io_wait_seconds = 0;      // compute thread blocked waiting for reads
  // Neuron-sparse reads: up bytes a whole-expert read would have read and the requested rows
  // did not need (filled slots' up pages never read). Signed: a reset between a slot's fill
  // and its row reads can leave it briefly below zero.
  int64_t sparse_read_bytes_saved = 0;
  uint64_t up_late_reads = 0;      // request_up_rows() calls that had to read (the step waited for them)
};

struct ExpertStoreOptions {
  int n_slots = 0;
  uint64_t slot_bytes = 0;         // from expert_slot_bytes()
  CachePolicy policy = CachePolicy::lfu_aging;
  bool lookahead = true;           // start reads for the next layer's guessed experts
  bool bundles = true;             // re-lay up and down as neuron bundles for sparse ReGLU (when the type allows)
  // Re-lay Q4_0/Q8_0 matrices into 16-row groups once after their read (kernels/row_groups.h),
  // over `pool` when given: every later use of a cached expert gets the fast group kernel.
  // Results are the same either way (kernels/matmul.cpp), only the speed differs.
  bool row_groups = true;
  ThreadPool* pool = nullptr;
  // Neuron-sparse reads: a missed expert's up matrix is not read with gate and down; the
  // forward pass asks for the rows its neurons need after the gate product (whole 4 KiB pages
  // holding them; the slot's other up bytes are zero). An expert's second use while resident
  // reads the rest of its up; a layer whose steps need nearly every page reads up whole.
  bool sparse_reads = false;
  AsyncReaderOptions io;
};

class ExpertStore final : public ExpertSource, public ExpertSourceHints {
 public:
  ExpertStore(const std::string& path, const ModelConfig& config, const ModelWeights& weights,
              const ExpertStoreOptions& options);
  ~ExpertStore() override;

  void prefetch(int layer, std::span<const int32_t> experts) override;
  ExpertView acquire(int layer, int expert) override;
  void release(int layer, int expert) override;
  ExpertSourceHints* hints() override { return this; }
  bool use_sparse_layout(int layer) override;
  void speculate(int layer, std::span<const int32_t> experts) override;
  void request_up_rows(int layer, int expert, std::span<const int32_t> rows) override;
  void wait_up_rows() override;

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
  // Neuron-sparse reads: whether the up part `p` of `layer` being read into `slot` is left for
  // request_up_rows (zeroed now; SparseUpReads decides).
  bool defer_up(int slot, int layer, const Part& p);
  // Submits reads of the given runs of up pages into the slot's up region; returns the bytes.
  uint64_t read_up_pages(int slot, const Part& p, std::span<const SparseUpReads::PageRun> runs);

  std::string path_;
  const ModelConfig& config_;
  const ModelWeights& weights_;
  ExpertCache cache_;
  std::unique_ptr<AsyncReader> reader_;
  int tail_fd_ = -1;               // buffered fd for the rare read that runs past the file's end
  uint64_t file_size_ = 0;
  uint64_t slot_bytes_ = 0;
  uint64_t part_offset_[3] = {0, 0, 0};  // gate, up, down within a slot
  PageBuffer slots_;  // n_slots * slot_bytes, pre-faulted
  std::vector<int32_t> pending_;   // per slot: reads still in flight (parts, up page runs)
  std::vector<int> error_;         // per slot: errno of a failed read
  std::vector<int32_t> slot_layer_, slot_expert_;
  std::vector<ExpertLayouts> slot_layouts_;  // per slot: its gate, up and down layouts now
  std::vector<uint8_t> layer_sparse_;   // per layer: neuron bundles (or up in rows) for sparse ReGLU
  bool bundles_ = false;                // neuron bundles possible for every layer
  bool row_groups_ = false;
  ThreadPool* pool_ = nullptr;
  std::vector<uint8_t> convert_buf_;    // one expert's up + down bytes, for in-place layout conversions
  ExpertView convert_slot(int slot, int layer, ExpertView v);
  std::vector<int32_t> selected_;  // slots pinned by the current layer's prefetch
  bool sparse_reads_ = false;
  std::unique_ptr<SparseUpReads> sparse_up_;  // with sparse_reads
  std::vector<ReadRequest> up_reqs_; // scratch of request_up_rows
  std::vector<int32_t> up_waiting_;  // slots with up reads since the last wait_up_rows()
  int guess_layer_ = -1;
  std::vector<int32_t> guess_;     // the last look-ahead guess (expert ids)
  std::vector<ReadCompletion> completions_;
  ExpertStoreStats stats_;
};

}  // namespace st
