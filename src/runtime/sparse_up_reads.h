// Neuron-sparse reads of the experts' up matrices (ExpertStoreOptions::sparse_reads): a
// missed expert's up part is not read with its gate and down; after the gate product the
// forward pass names the rows its active neurons need, and only the 4 KiB pages holding them
// are read (the slot's other up bytes stay zero). This unit keeps the per-slot page
// bookkeeping and the policy (when a layer reads up whole instead); ExpertStore does the I/O.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace st {

class SparseUpReads {
 public:
  struct PageRun {
    size_t first, count;  // pages of the slot's up part
  };
  // up_pages: pages of the largest up part (one slot's up region).
  SparseUpReads(int n_slots, int n_layer, size_t up_pages);

  // A slot is being refilled: its up part is read whole unless defer() says otherwise.
  void refill(int slot) { sparse_[static_cast<size_t>(slot)] = 0; }
  // Whether the refilled slot's up read for `layer` is deferred (the caller zeroes the region
  // and skips the read), or read whole because the layer's steps have been needing nearly
  // every page (a second, later read would then save nothing).
  bool defer(int slot, int layer);
  bool is_sparse(int slot) const { return sparse_[static_cast<size_t>(slot)] != 0; }
  // The pages that up rows `rows` (of n_rows, row_bytes each, the first at byte `skip` of the
  // part's n_pages pages) need and the slot lacks, as runs, now marked present. Throws
  // std::out_of_range for a row outside [0, n_rows).
  std::span<const PageRun> pages_for_rows(int slot, int layer, std::span<const int32_t> rows, int64_t n_rows,
                                          size_t row_bytes, size_t skip, size_t n_pages);

 private:
  size_t up_pages_;
  std::vector<uint8_t> sparse_;       // per slot: up holds only requested pages (the rest zero)
  std::vector<uint8_t> uses_;         // per slot: pages_for_rows() calls since the fill (saturating)
  std::vector<uint8_t> present_;      // [n_slots][up_pages_]: page read (or being read)
  std::vector<uint8_t> want_;         // [up_pages_] scratch
  std::vector<PageRun> runs_;         // scratch
  std::vector<float> layer_need_;     // per layer: moving average of the up pages a step needs
  std::vector<uint32_t> layer_fills_; // per layer: slots filled (paces the re-measuring)
};

}  // namespace st
