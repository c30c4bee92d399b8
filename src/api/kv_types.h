// The public KvCacheTypes (names) as the runtime's tensor types; kv_f32 (the older switch)
// means f32 for both.
#pragma once
#include <utility>

#include "runtime/kv_cache.h"
#include "smallthinker/engine.h"

namespace smallthinker {

inline std::pair<st::TensorType, st::TensorType> kv_cache_types(const KvCacheTypes& t, bool f32) {
  if (f32) return {st::TensorType::F32, st::TensorType::F32};
  return {st::parse_kv_cache_type(t.k, "cache type of K (-ctk)"), st::parse_kv_cache_type(t.v, "cache type of V (-ctv)")};
}

}  // namespace smallthinker
