#include "runtime/sparse_up_reads.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace st {

namespace {
constexpr size_t kPage = 4096;
}

SparseUpReads::SparseUpReads(int n_slots, int n_layer, size_t up_pages)
    : up_pages_(up_pages), sparse_(static_cast<size_t>(n_slots)), uses_(static_cast<size_t>(n_slots)),
      present_(static_cast<size_t>(n_slots) * up_pages), want_(up_pages),
      layer_need_(static_cast<size_t>(n_layer)), layer_fills_(static_cast<size_t>(n_layer)) {
  runs_.reserve(up_pages / 2 + 1);  // runs of absent pages are separated by present ones
}

bool SparseUpReads::defer(int slot, int layer) {
  // Sparse reads only pay where whole pages can be skipped: a 4 KiB page holds several up
  // rows (~5 of a Q4_0 row of 1536), so at moderate sparsity nearly every page holds an active
  // neuron, and the second, dependent read would only add latency. A layer whose steps need
  // more than kWholeUpNeed of the pages reads up whole; one fill in kRemeasure still goes
  // sparse, so the layer is re-measured as the text (and its sparsity) changes.
  constexpr float kWholeUpNeed = 0.9f;
  constexpr uint32_t kRemeasure = 16;
  const size_t l = static_cast<size_t>(layer);
  if (layer_need_[l] > kWholeUpNeed && ++layer_fills_[l] % kRemeasure != 0) return false;
  const size_t s = static_cast<size_t>(slot);
  std::fill_n(present_.begin() + static_cast<std::ptrdiff_t>(s * up_pages_), up_pages_, uint8_t{0});
  sparse_[s] = 1;
  uses_[s] = 0;
  return true;
}

std::span<const SparseUpReads::PageRun> SparseUpReads::pages_for_rows(int slot, int layer, std::span<const int32_t> rows,
                                                                      int64_t n_rows, size_t row_bytes, size_t skip,
                                                                      size_t n_pages) {
  const size_t s = static_cast<size_t>(slot);
  std::fill_n(want_.begin(), n_pages, uint8_t{0});
  size_t n_want = 0;
  for (const int32_t r : rows) {
    if (r < 0 || r >= n_rows)
      throw std::out_of_range("expert store: up row " + std::to_string(r) + " out of range (expert has " +
                              std::to_string(n_rows) + " rows)");
    const size_t first = skip + static_cast<size_t>(r) * row_bytes;
    for (size_t pg = first / kPage; pg <= (first + row_bytes - 1) / kPage; ++pg) {
      n_want += want_[pg] == 0;
      want_[pg] = 1;
    }
  }
  float& need = layer_need_[static_cast<size_t>(layer)];  // averaged over the last ~8 requests
  need += (static_cast<float>(n_want) / static_cast<float>(n_pages) - need) / 8.0f;
  // An expert used again while resident is likely to stay in use, and each use turns on some
  // other neurons: every later use would wait for a few more pages. So its second use reads
  // the rest of up at once (on the 4B shape at 1 GiB: 2.6x fewer waits for 1% more bytes).
  if (uses_[s] < 2 && ++uses_[s] == 2) std::fill_n(want_.begin(), n_pages, uint8_t{1});
  // Runs of wanted pages not yet read.
  uint8_t* present = present_.data() + s * up_pages_;
  runs_.clear();
  for (size_t pg = 0; pg < n_pages;) {
    if (!want_[pg] || present[pg]) {
      ++pg;
      continue;
    }
    size_t end = pg + 1;
    while (end < n_pages && want_[end] && !present[end]) ++end;
    std::fill(present + pg, present + end, uint8_t{1});
    runs_.push_back({pg, end - pg});
    pg = end;
  }
  return runs_;
}

}  // namespace st
