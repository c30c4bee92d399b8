#include "runtime/expert_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "kernels/row_groups.h"
#include "kernels/thread_pool.h"
#include "model/expert_layout.h"
#include "model/weight_packing.h"
#include "runtime/memory_plan.h"

namespace st {
namespace {

constexpr uint64_t kAlign = 4096;
uint64_t round_up(uint64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

const ExpertTensor& tensor_of(const LayerWeights& L, int which) {
  return which == 0 ? L.gate_exps : which == 1 ? L.up_exps : L.down_exps;
}

}  // namespace

ExpertStore::ExpertStore(const std::string& path, const ModelConfig& config, const ModelWeights& weights,
                         const ExpertStoreOptions& o)
    : path_(path), config_(config), weights_(weights),
      cache_(config.n_layer, config.n_expert, o.n_slots, o.policy), slot_bytes_(o.slot_bytes),
      sparse_reads_(o.sparse_reads) {
  if (o.n_slots <= 0 || o.slot_bytes == 0 || o.slot_bytes % kAlign) throw std::invalid_argument("expert store: bad slot geometry");
  reader_ = open_async_reader(path, o.io);
  tail_fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat sb {};
  if (tail_fd_ < 0 || fstat(tail_fd_, &sb) != 0) throw std::runtime_error(path + ": " + std::strerror(errno));
  file_size_ = static_cast<uint64_t>(sb.st_size);
  posix_fadvise(tail_fd_, 0, 0, POSIX_FADV_RANDOM);

  // Part sizes: the largest over layers, so any expert fits any slot.
  const auto sizes = expert_part_bytes(weights);
  part_offset_[1] = sizes[0];
  part_offset_[2] = sizes[0] + sizes[1];
  if (sizes[0] + sizes[1] + sizes[2] > slot_bytes_) throw std::invalid_argument("expert store: slot too small");

  // Pre-faulted anonymous memory: the budget is taken now, visibly, not page by page later.
  slots_ = PageBuffer(static_cast<size_t>(o.n_slots) * slot_bytes_, "the expert cache", /*populate=*/true);
  pending_.assign(static_cast<size_t>(o.n_slots), 0);
  error_.assign(static_cast<size_t>(o.n_slots), 0);
  slot_layer_.assign(static_cast<size_t>(o.n_slots), -1);
  slot_expert_.assign(static_cast<size_t>(o.n_slots), -1);
  slot_layouts_.assign(static_cast<size_t>(o.n_slots), {});
  layer_sparse_.assign(static_cast<size_t>(config.n_layer), 0);
  row_groups_ = o.row_groups;
  pool_ = o.pool;
  if (o.bundles) {
    // Sparse ReGLU wants each expert's up and down as neuron bundles: slots are converted in
    // place once their read completes (through a buffer of one expert's up + down rows,
    // taken now).
    bool all = true;
    size_t largest = 0;
    for (const auto& L : weights.layers) {
      all = all && can_bundle(L.up_exps.expert(0), L.down_exps.expert(0));
      largest = std::max(largest, L.up_exps.expert_bytes() + L.down_exps.expert_bytes());
    }
    bundles_ = all;
    if (all && convert_buf_.size() < largest) convert_buf_.resize(largest);
  }
  // Half the slots at once: one chunk being computed while the next chunk's reads fly.
  max_acquired = std::max(config_.n_expert_used, cache_.n_slots() / 2);
  wants_lookahead = o.lookahead;
  selected_.reserve(static_cast<size_t>(config.n_expert));
  completions_.reserve(256);
  if (sparse_reads_) {
    sparse_up_ = std::make_unique<SparseUpReads>(o.n_slots, config.n_layer, static_cast<size_t>(sizes[1] / kAlign));
    up_reqs_.reserve(static_cast<size_t>(sizes[1] / kAlign) / 2 + 1);
    up_waiting_.reserve(static_cast<size_t>(o.n_slots));
  }
}

ExpertStore::~ExpertStore() {
  // Reads may still target the slots: let them land before the memory goes away.
  try {
    while (reader_ && reader_->in_flight() > 0) {
      completions_.clear();
      reader_->reap(completions_, 1);
    }
  } catch (...) {
  }
  if (tail_fd_ >= 0) ::close(tail_fd_);
}

void ExpertStore::reset_stats() {
  stats_ = {};
  cache_.reset_stats();
}

ExpertStore::Part ExpertStore::part(int layer, int which, int expert) const {
  const ExpertTensor& t = tensor_of(weights_.layers[static_cast<size_t>(layer)], which);
  const uint64_t begin = t.file_offset + static_cast<uint64_t>(expert) * t.expert_bytes();
  const uint64_t aligned = begin / kAlign * kAlign;
  return {aligned, static_cast<size_t>(round_up(begin + t.expert_bytes()) - aligned), static_cast<size_t>(begin - aligned)};
}

int ExpertStore::bring_in(int layer, int expert, bool prefetching, bool speculative) {
  // A speculative read is not a use: it must not count as a miss nor refresh recency, or
  // wrong guesses would distort both the statistics and the policy.
  const ExpertCache::Admit a = speculative ? cache_.admit_quietly(layer, expert) : cache_.access(layer, expert);
  if (a.slot < 0) {
    if (speculative) return -1;  // every slot pinned: skip the guess
    throw std::runtime_error("expert cache: every slot is in use; the memory budget is too small for this batch");
  }
  if (a.hit) return a.slot;
  const size_t s = static_cast<size_t>(a.slot);
  // The victim may still have reads in flight (an unused look-ahead guess): they must land
  // before the slot is refilled, or their completions would be counted for the new reads.
  drain(a.slot);
  slot_layer_[s] = layer;
  slot_layouts_[s] = {WeightLayout::rows, WeightLayout::rows, weights_.layers[static_cast<size_t>(layer)].down_exps.all.layout};
  slot_expert_[s] = expert;
  error_[s] = 0;
  pending_[s] = 0;
  if (sparse_up_) sparse_up_->refill(a.slot);
  ReadRequest reqs[3];
  int n = 0;
  for (int w = 0; w < 3; ++w) {
    const Part p = part(layer, w, expert);
    uint8_t* dst = slots_.data() + s * slot_bytes_ + part_offset_[w];
    if (w == 1 && sparse_reads_ && defer_up(a.slot, layer, p)) continue;
    if (p.aligned_offset + p.aligned_length > file_size_) {
      // The expert ends in the file's last partial page: a direct read would come back
      // short, so read the exact bytes through the page cache and drop them again.
      const ExpertTensor& t = tensor_of(weights_.layers[static_cast<size_t>(layer)], w);
      const uint64_t begin = p.aligned_offset + p.skip;
      const ssize_t got = pread(tail_fd_, dst + p.skip, t.expert_bytes(), static_cast<off_t>(begin));
      posix_fadvise(tail_fd_, static_cast<off_t>(begin), static_cast<off_t>(t.expert_bytes()), POSIX_FADV_DONTNEED);
      if (got != static_cast<ssize_t>(t.expert_bytes())) {
        cache_.invalidate(a.slot);
        throw std::runtime_error(path_ + ": reading expert " + std::to_string(expert) + " of layer " + std::to_string(layer) +
                                 " failed: the file is truncated");
      }
      stats_.bytes_read += t.expert_bytes();
      continue;
    }
    reqs[n++] = {p.aligned_offset, p.aligned_length, dst, static_cast<uint64_t>(a.slot) * 4 + static_cast<uint64_t>(w)};
    stats_.bytes_read += p.aligned_length;
  }
  pending_[s] = n;
  if (n) reader_->submit(reqs, static_cast<size_t>(n));
  stats_.experts_read++;
  (speculative ? stats_.speculated : prefetching ? stats_.prefetched : stats_.demand_reads)++;
  return a.slot;
}

bool ExpertStore::defer_up(int slot, int layer, const Part& p) {
  if (p.aligned_offset + p.aligned_length > file_size_) return false;  // the tail read is whole
  if (!sparse_up_->defer(slot, layer)) return false;
  // Zero, not stale: a dense kernel may still read rows nobody requested (relu(gate) = 0
  // times a stale NaN would be NaN); zero bytes decode to 0 in every type (zero scales).
  std::memset(slots_.data() + static_cast<size_t>(slot) * slot_bytes_ + part_offset_[1], 0, p.aligned_length);
  stats_.sparse_read_bytes_saved += static_cast<int64_t>(p.aligned_length);
  return true;
}

uint64_t ExpertStore::read_up_pages(int slot, const Part& p, std::span<const SparseUpReads::PageRun> runs) {
  // Each run one direct read into the place a whole-expert read would have put it.
  const size_t s = static_cast<size_t>(slot);
  uint8_t* region = slots_.data() + s * slot_bytes_ + part_offset_[1];
  up_reqs_.clear();
  uint64_t bytes = 0;
  for (const auto& run : runs) {
    const size_t off = run.first * kAlign, len = run.count * kAlign;
    up_reqs_.push_back({p.aligned_offset + off, len, region + off, static_cast<uint64_t>(slot) * 4 + 1});
    bytes += len;
  }
  if (up_reqs_.empty()) return 0;
  pending_[s] += static_cast<int32_t>(up_reqs_.size());
  reader_->submit(up_reqs_.data(), up_reqs_.size());
  stats_.bytes_read += bytes;
  stats_.sparse_read_bytes_saved -= static_cast<int64_t>(bytes);
  return bytes;
}

void ExpertStore::request_up_rows(int layer, int expert, std::span<const int32_t> rows) {
  const int slot = cache_.find(layer, expert);
  if (slot < 0 || std::find(selected_.begin(), selected_.end(), slot) == selected_.end())
    throw std::logic_error("expert store: up rows requested for expert " + std::to_string(expert) + " of layer " +
                           std::to_string(layer) + ", which is not acquired");
  if (!sparse_up_ || !sparse_up_->is_sparse(slot)) return;  // read whole
  const ExpertTensor& t = weights_.layers[static_cast<size_t>(layer)].up_exps;
  const Part p = part(layer, 1, expert);
  const auto runs = sparse_up_->pages_for_rows(slot, layer, rows, t.rows_per_expert, t.all.row_bytes, p.skip,
                                               p.aligned_length / kAlign);
  if (read_up_pages(slot, p, runs) == 0) return;
  stats_.up_late_reads++;
  up_waiting_.push_back(slot);
}

void ExpertStore::wait_up_rows() {
  while (!up_waiting_.empty()) {
    const int slot = up_waiting_.back();
    up_waiting_.pop_back();
    wait_ready(slot);  // throws naming the file if a read failed
  }
}

void ExpertStore::handle(const ReadCompletion& c) {
  const size_t s = static_cast<size_t>(c.tag / 4);
  if (c.error && !error_[s]) error_[s] = c.error;
  pending_[s]--;
}

void ExpertStore::drain(int slot) {
  const size_t s = static_cast<size_t>(slot);
  if (pending_[s] <= 0) return;
  const auto t0 = std::chrono::steady_clock::now();
  while (pending_[s] > 0) {
    completions_.clear();
    reader_->reap(completions_, 1);
    for (const auto& c : completions_) handle(c);
  }
  stats_.io_wait_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void ExpertStore::wait_ready(int slot) {
  const size_t s = static_cast<size_t>(slot);
  drain(slot);
  if (error_[s]) {
    const int err = error_[s];
    const int layer = slot_layer_[s], expert = slot_expert_[s];
    cache_.invalidate(slot);
    // The holder can no longer find the slot to release it (release() looks the expert up):
    // drop its pin here, or every failed read would keep a slot out of use for good.
    if (auto it = std::find(selected_.begin(), selected_.end(), slot); it != selected_.end()) {
      selected_.erase(it);
      cache_.unpin(slot);
    }
    throw std::runtime_error(path_ + ": reading expert " + std::to_string(expert) + " of layer " + std::to_string(layer) +
                             " failed: " + (err == EIO ? std::string("I/O error or truncated file") : std::strerror(err)) +
                             " (check the file and the disk)");
  }
}

void ExpertStore::speculate(int layer, std::span<const int32_t> experts) {
  guess_layer_ = layer;
  guess_.assign(experts.begin(), experts.end());
  // Only what is missing is read; nothing is pinned, so a wrong guess simply ages out. The
  // guess must not evict the current layer's experts: those are pinned.
  for (int32_t e : experts)
    if (cache_.find(layer, e) < 0) bring_in(layer, e, /*prefetching=*/true, /*speculative=*/true);
}

void ExpertStore::prefetch(int layer, std::span<const int32_t> experts) {
  if (layer == guess_layer_) {
    for (int32_t e : experts) stats_.guesses_right += std::count(guess_.begin(), guess_.end(), e) ? 1 : 0;
    stats_.guesses += guess_.size();
    guess_layer_ = -1;
  }
  // A prefetch is a hint: pins left by an earlier layer that never acquired them are dropped
  // so pins cannot leak (with Forward every prefetched expert is acquired and released).
  for (size_t i = 0; i < selected_.size();) {
    if (slot_layer_[static_cast<size_t>(selected_[i])] != layer) {
      cache_.unpin(selected_[i]);
      selected_[i] = selected_.back();
      selected_.pop_back();
    } else {
      ++i;
    }
  }
  // Two passes: first pin the experts already resident (or arriving from a look-ahead read),
  // so that the misses of the second pass cannot evict them to make room.
  const size_t cap = static_cast<size_t>(max_acquired);
  const size_t n = std::min(experts.size(), cap);  // the rest are read when acquired
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < n; ++i) {
      const bool resident = cache_.find(layer, experts[i]) >= 0;
      if (resident != (pass == 0)) continue;
      const int slot = bring_in(layer, experts[i], /*prefetching=*/true);
      if (std::find(selected_.begin(), selected_.end(), slot) != selected_.end()) continue;
      cache_.pin(slot);  // the layer's choice stays resident until its FFN is done
      selected_.push_back(slot);
    }
  }
  // Collect whatever has already finished without blocking.
  completions_.clear();
  reader_->reap(completions_, 0);
  for (const auto& c : completions_) handle(c);
}

ExpertView ExpertStore::acquire(int layer, int expert) {
  int slot = cache_.find(layer, expert);
  const bool selected = slot >= 0 && std::find(selected_.begin(), selected_.end(), slot) != selected_.end();
  if (!selected) {
    slot = bring_in(layer, expert, /*prefetching=*/false);
    cache_.pin(slot);
    selected_.push_back(slot);
  }
  wait_ready(slot);
  const uint8_t* base = slots_.data() + static_cast<size_t>(slot) * slot_bytes_;
  const LayerWeights& L = weights_.layers[static_cast<size_t>(layer)];
  auto view = [&](int w) {
    TensorView v = tensor_of(L, w).all;
    v.n_rows = tensor_of(L, w).rows_per_expert;
    v.data = base + part_offset_[w] + part(layer, w, expert).skip;
    return v;
  };
  ExpertView v{view(0), view(1), view(2)};
  return convert_slot(slot, layer, v);
}

// Converts a slot's parts in place, once per read (relay_expert, model/expert_layout.h): row
// groups for the matmuls (only speed: results are the same on the file layout), and once
// sparse ReGLU switched the layer, up and down into neuron bundles (the two parts in up's and
// down's places), as the resident source serves them. With neuron-sparse reads, up rows are
// read on request after this, so no slot is bundled (the layer's experts must share one
// path): up stays in rows (requested_rows while its rows are read on request).
ExpertView ExpertStore::convert_slot(int slot, int layer, ExpertView v) {
  ExpertLayouts& now = slot_layouts_[static_cast<size_t>(slot)];
  v.gate.layout = now.gate;
  v.up.layout = now.up;
  v.down.layout = now.down;
  const bool up_requested = sparse_up_ && sparse_up_->is_sparse(slot);
  if (up_requested) v.up.layout = WeightLayout::requested_rows;
  const WeightLayout dense = row_groups_ ? WeightLayout::row_groups : WeightLayout::rows;
  ExpertLayouts want{dense, dense, dense};
  if (layer_sparse_[static_cast<size_t>(layer)]) {
    want.up = bundles_ && !sparse_reads_ ? WeightLayout::bundle_part : WeightLayout::rows;
    if (want.up == WeightLayout::bundle_part) want.down = WeightLayout::bundle_part;
  }
  auto own = [](const TensorView& t) { return const_cast<uint8_t*>(t.data); };  // our own slot memory
  relay_expert(v, want, {own(v.gate), own(v.up), own(v.down)}, convert_buf_, pool_);
  now = v.layouts();
  if (up_requested) now.up = WeightLayout::rows;  // once its rows are all read, up is in rows
  return v;
}

bool ExpertStore::use_sparse_layout(int layer) {
  // Slots already holding this layer's experts are converted at their next acquire.
  layer_sparse_[static_cast<size_t>(layer)] = 1;
  return bundles_ && !sparse_reads_;
}

void ExpertStore::release(int layer, int expert) {
  const int slot = cache_.find(layer, expert);
  auto it = std::find(selected_.begin(), selected_.end(), slot);
  if (slot < 0 || it == selected_.end()) return;
  selected_.erase(it);
  cache_.unpin(slot);
}

}  // namespace st
