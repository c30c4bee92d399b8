#include "runtime/kv_cache.h"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace st {
namespace {

int64_t slots_for(const LayerConfig& l, int64_t n_ctx) { return l.window > 0 ? std::min(l.window, n_ctx) : n_ctx; }

constexpr std::array kKvTypes{TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q8_0, TensorType::Q4_0};

}  // namespace

std::string kv_cache_type_names() {
  std::string s;
  for (TensorType t : kKvTypes) s += (s.empty() ? "" : ", ") + std::string(tensor_type_name(t));
  return s;
}

TensorType parse_kv_cache_type(std::string_view name, std::string_view what) {
  for (TensorType t : kKvTypes)
    if (tensor_type_name(t) == name) return t;
  throw std::invalid_argument(std::string(what) + " '" + std::string(name) + "' is not a KV cache type; valid: " +
                              kv_cache_type_names());
}

void check_kv_cache_type(const ModelConfig& c, TensorType type) {
  if (std::find(kKvTypes.begin(), kKvTypes.end(), type) == kKvTypes.end())
    throw std::invalid_argument("KV cache type " + std::string(tensor_type_name(type)) + " is not supported; valid: " +
                                kv_cache_type_names());
  // Attention reads one head's slice of a row: it must start and end on a block boundary.
  if (!row_fits(type, c.head_dim))
    throw std::invalid_argument("KV cache type " + std::string(tensor_type_name(type)) + " needs a head size that is a multiple of " +
                                std::to_string(tensor_type_info(type).block_size) + "; this model's is " +
                                std::to_string(c.head_dim) + " (use f16, bf16 or f32)");
}

size_t KvCache::bytes_needed(const ModelConfig& c, int64_t n_ctx, TensorType k_type, TensorType v_type) {
  const size_t row = row_bytes(k_type, c.kv_width()) + row_bytes(v_type, c.kv_width());
  size_t total = 0;
  for (const auto& l : c.layers) total += row * static_cast<size_t>(slots_for(l, n_ctx));
  return total;
}

KvCache::KvCache(const ModelConfig& c, int64_t n_ctx, TensorType type) : KvCache(c, n_ctx, type, type) {}

KvCache::KvCache(const ModelConfig& c, int64_t n_ctx, TensorType k_type, TensorType v_type)
    : k_type_(k_type), v_type_(v_type), n_ctx_(n_ctx) {
  check_kv_cache_type(c, k_type);
  check_kv_cache_type(c, v_type);
  if (n_ctx <= 0) throw std::invalid_argument("context size must be positive");
  kv_width_ = c.kv_width();
  k_row_bytes_ = row_bytes(k_type, c.kv_width());
  v_row_bytes_ = row_bytes(v_type, c.kv_width());
  size_t offset = 0;
  for (const auto& l : c.layers) {
    const int64_t n = slots_for(l, n_ctx);
    // A ring is needed only when the window is shorter than the context.
    layers_.push_back({offset, n, l.window > 0 && l.window < n_ctx, l.window});
    offset += (k_row_bytes_ + v_row_bytes_) * static_cast<size_t>(n);
  }
  // Untouched pages are never faulted in: memory grows with the positions stored.
  buffer_ = PageBuffer(offset, "the KV cache");
}

KvLayerStore KvCache::layer(int il) {
  const Layer& l = layers_.at(static_cast<size_t>(il));
  KvLayerStore s;
  s.k_type = k_type_;
  s.v_type = v_type_;
  s.k = buffer_.data() + l.offset;
  s.v = s.k + k_row_bytes_ * static_cast<size_t>(l.n_slots);
  s.k_row_bytes = k_row_bytes_;
  s.v_row_bytes = v_row_bytes_;
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
