#include "runtime/kv_cache.h"

#include <algorithm>
#include <stdexcept>

namespace st {
namespace {

int64_t slots_for(const LayerConfig& l, int64_t n_ctx) { return l.window > 0 ? std::min(l.window, n_ctx) : n_ctx; }

}  // namespace

size_t KvCache::bytes_needed(const ModelConfig& c, int64_t n_ctx, TensorType type) {
  const size_t row = row_bytes(type, c.kv_width());
  size_t total = 0;
  for (const auto& l : c.layers) total += 2 * row * static_cast<size_t>(slots_for(l, n_ctx));
  return total;
}

KvCache::KvCache(const ModelConfig& c, int64_t n_ctx, TensorType type)
    : type_(type), n_ctx_(n_ctx), row_bytes_(row_bytes(type, c.kv_width())) {
  if (type != TensorType::F16 && type != TensorType::F32)
    throw std::invalid_argument("KV cache type must be f16 or f32");
  if (n_ctx <= 0) throw std::invalid_argument("context size must be positive");
  size_t offset = 0;
  for (const auto& l : c.layers) {
    const int64_t n = slots_for(l, n_ctx);
    // A ring is needed only when the window is shorter than the context.
    layers_.push_back({offset, n, l.window > 0 && l.window < n_ctx});
    offset += 2 * row_bytes_ * static_cast<size_t>(n);
  }
  // Untouched pages are never faulted in: memory grows with the positions stored.
  buffer_ = PageBuffer(offset, "the KV cache");
}

KvLayerStore KvCache::layer(int il) {
  const Layer& l = layers_.at(static_cast<size_t>(il));
  KvLayerStore s;
  s.type = type_;
  s.k = buffer_.data() + l.offset;
  s.v = s.k + row_bytes_ * static_cast<size_t>(l.n_slots);
  s.row_bytes = row_bytes_;
  s.n_slots = l.n_slots;
  s.ring = l.ring;
  return s;
}

bool KvCache::truncate(int64_t n) {
  if (n >= n_past_) return true;
  n = std::max<int64_t>(0, n);
  for (const auto& l : layers_) {
    if (!l.ring) continue;
    // The next token (position n) needs positions n - n_slots + 1 .. n - 1; the ring still
    // holds n_past - n_slots .. n_past - 1 intact.
    const int64_t oldest_kept = std::max<int64_t>(0, n_past_ - l.n_slots);
    const int64_t oldest_needed = std::max<int64_t>(0, n - l.n_slots + 1);
    if (oldest_kept > oldest_needed) return false;
  }
  n_past_ = n;
  return true;
}

}  // namespace st
