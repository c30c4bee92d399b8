// What the forward pass needs from wherever expert weights live (RAM, mmap, SSD + cache).
// Declared here, where it is used; runtime/ implements the storage-backed version, so the
// dependency still points down. Forward never learns where the bytes came from.
#pragma once
#include <cstdint>
#include <span>

#include "model/expert_layout.h"
#include "model/tensor_view.h"

namespace st {

struct ExpertView {
  TensorView gate;  // [n_ff_exp rows x n_embd]
  TensorView up;    // [n_ff_exp rows x n_embd]
  TensorView down;  // [n_embd rows x n_ff_exp], or [n_ff_exp rows x n_embd] when transposed
  // Each view's layout (model/expert_layout.h) says how the expert is computed. With up in
  // requested_rows the caller must ask for up's rows (request_up_rows) before reading them.
  ExpertLayouts layouts() const { return {gate.layout, up.layout, down.layout}; }
};

// What a source may do beyond prefetch / acquire / release, for the forward pass to use when
// the source offers it (ExpertSource::hints()). The defaults are a plain source's answers.
class ExpertSourceHints {
 public:
  virtual ~ExpertSourceHints() = default;
  // How many experts may be acquired at once; callers needing more work in chunks.
  int max_acquired = 1 << 30;
  // Look-ahead: the source takes guesses of a layer's experts, made one layer early
  // (speculate). A source that reads from storage may start reading them (without holding
  // them); the real prefetch() follows.
  bool wants_lookahead = false;
  virtual void speculate(int /*layer*/, std::span<const int32_t> /*experts*/) {}
  // Sparse ReGLU: from now on serve `layer`'s up and down matrices as neuron bundles (where
  // the type allows; the views' bundle_part layout tells), or at least up in the file's rows
  // (not in row groups: a row is then one contiguous run, so rows of zero neurons are never read).
  // The forward pass asks for it once a layer has shown enough zero neurons for sparse reads
  // to beat the dense products (model/sparsity_policy.h). Returns whether the layer's experts
  // will come as bundles (a source may ignore the request).
  virtual bool use_sparse_layout(int /*layer*/) { return false; }
  // Neuron-sparse reads (only for views with up in requested_rows): after the gate product, the
  // forward pass names the up rows (neurons, ascending) some token of the step needs; the
  // source starts reading them. wait_up_rows() blocks until every requested row is readable;
  // they stay valid until release(). Rows not requested may read as zero.
  virtual void request_up_rows(int /*layer*/, int /*expert*/, std::span<const int32_t> /*rows*/) {}
  virtual void wait_up_rows() {}
};

// The three calls of the design (prefetch, acquire, release), and the optional hints.
class ExpertSource {
 public:
  virtual ~ExpertSource() = default;
  // Called right after the pre-attention router picked `experts` for `layer`, before attention
  // runs, so reads can overlap attention. A hint: a source may ignore it.
  virtual void prefetch(int layer, std::span<const int32_t> experts) = 0;
  // Blocks until the expert's weights are readable; they stay valid until release().
  virtual ExpertView acquire(int layer, int expert) = 0;
  virtual void release(int layer, int expert) = 0;
  // What else the source offers (null: nothing; the forward pass then uses the defaults).
  virtual ExpertSourceHints* hints() { return nullptr; }
};

// Reads one row of a matrix that is not resident (token embeddings under a memory budget:
// a step needs one row per token, so the table can stay on storage).
class RowReader {
 public:
  virtual ~RowReader() = default;
  virtual void read_row(int64_t row, uint8_t* dst) = 0;  // dst: row_bytes of the matrix
};

// RAII pairing of acquire/release.
class ExpertLease {
 public:
  ExpertLease(ExpertSource& source, int layer, int expert)
      : source_(&source), layer_(layer), expert_(expert), view_(source.acquire(layer, expert)) {}
  ~ExpertLease() { if (source_) source_->release(layer_, expert_); }
  ExpertLease(ExpertLease&& o) noexcept : source_(o.source_), layer_(o.layer_), expert_(o.expert_), view_(o.view_) { o.source_ = nullptr; }
  ExpertLease(const ExpertLease&) = delete;
  ExpertLease& operator=(const ExpertLease&) = delete;
  ExpertLease& operator=(ExpertLease&&) = delete;
  const ExpertView& view() const { return view_; }

 private:
  ExpertSource* source_;
  int layer_;
  int expert_;
  ExpertView view_;
};

}  // namespace st
