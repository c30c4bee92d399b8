#include "runtime/kv_cache.h"

#include <gtest/gtest.h>

namespace st {
namespace {

ModelConfig hybrid_config(int64_t window) {
  ModelConfig c;
  c.n_layer = 4;
  c.n_embd = 64;
  c.n_head = 4;
  c.n_head_kv = 2;
  c.head_dim = 32;
  c.layers = layout_from_rule(4, window, 4, 1e4, 1e4);
  return c;
}

TEST(KvCache, SlidingWindowLayersAreRingsOfTheWindowSize) {
  const ModelConfig c = hybrid_config(16);
  KvCache kv(c, 1000, TensorType::F16);
  const KvLayerStore global = kv.layer(0), swa = kv.layer(1);
  EXPECT_FALSE(global.ring);
  EXPECT_EQ(global.n_slots, 1000);
  EXPECT_TRUE(swa.ring);
  EXPECT_EQ(swa.n_slots, 16);
  EXPECT_EQ(global.k_row_bytes, 2u * 64);  // kv_width 64 f16 values
  EXPECT_EQ(global.v_row_bytes, 2u * 64);
  // 1 global layer of 1000 slots + 3 windowed layers of 16 slots, K and V each.
  EXPECT_EQ(kv.bytes(), 2u * 128 * (1000 + 3 * 16));
  EXPECT_EQ(KvCache::bytes_needed(c, 1000, TensorType::F16, TensorType::F16), kv.bytes());
}

// llama.cpp's block sizes: q8_0 34 bytes and q4_0 18 bytes per 32 values, K and V sized apart.
TEST(KvCache, QuantizedTypesSizeKAndVSeparately) {
  const ModelConfig c = hybrid_config(16);
  KvCache kv(c, 1000, TensorType::Q8_0, TensorType::Q4_0);
  const KvLayerStore l = kv.layer(0);
  EXPECT_EQ(l.k_type, TensorType::Q8_0);
  EXPECT_EQ(l.v_type, TensorType::Q4_0);
  EXPECT_EQ(l.k_row_bytes, 2u * 34);  // kv_width 64 = 2 blocks
  EXPECT_EQ(l.v_row_bytes, 2u * 18);
  EXPECT_EQ(kv.layer(1).v - kv.layer(1).k, static_cast<ptrdiff_t>(16 * 68));
  EXPECT_EQ(kv.bytes(), (68u + 36u) * (1000 + 3 * 16));
  EXPECT_EQ(KvCache::bytes_needed(c, 1000, TensorType::Q8_0, TensorType::Q4_0), kv.bytes());
}

TEST(KvCache, TypeNamesAreLlamaCppsAndBadOnesListTheValidOnes) {
  EXPECT_EQ(parse_kv_cache_type("q8_0", "K"), TensorType::Q8_0);
  EXPECT_EQ(parse_kv_cache_type("q4_0", "K"), TensorType::Q4_0);
  EXPECT_EQ(parse_kv_cache_type("bf16", "K"), TensorType::BF16);
  try {
    parse_kv_cache_type("q5_1", "cache type of V");
    FAIL() << "q5_1 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("cache type of V 'q5_1'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("f32, f16, bf16, q8_0, q4_0"), std::string::npos) << e.what();
  }
}

TEST(KvCache, MemoryDoesNotGrowWithContextOnWindowedLayers) {
  const ModelConfig c = hybrid_config(16);
  const size_t small = KvCache::bytes_needed(c, 100, TensorType::F32, TensorType::F32);
  const size_t large = KvCache::bytes_needed(c, 10000, TensorType::F32, TensorType::F32);
  // Only the single global layer grows: 9900 more positions x 64 values x 4 bytes x (K, V).
  EXPECT_EQ(large - small, 9900u * 64 * 4 * 2);
}

TEST(KvCache, WindowLongerThanContextNeedsNoRing) {
  KvCache kv(hybrid_config(4096), 100, TensorType::F16);
  EXPECT_FALSE(kv.layer(1).ring);
  EXPECT_EQ(kv.layer(1).n_slots, 100);
}

TEST(KvCache, TruncateRefusesWhenTheRingLostNeededPositions) {
  KvCache kv(hybrid_config(16), 1000, TensorType::F16);
  kv.set_n_past(10);
  EXPECT_TRUE(kv.truncate(5));  // nothing wrapped yet
  EXPECT_EQ(kv.n_past(), 5);
  kv.set_n_past(100);
  EXPECT_TRUE(kv.truncate(100));
  EXPECT_TRUE(kv.truncate(99));   // positions 84..98 are still in the ring
  EXPECT_FALSE(kv.truncate(50));  // positions 35..49 were overwritten
  EXPECT_EQ(kv.n_past(), 99);
}

TEST(KvCache, RejectsBadArguments) {
  EXPECT_THROW(KvCache(hybrid_config(16), 0), std::invalid_argument);
  EXPECT_THROW(KvCache(hybrid_config(16), 10, TensorType::Q4_K), std::invalid_argument);
  ModelConfig odd = hybrid_config(16);
  odd.head_dim = 48;  // not whole q8_0 blocks
  EXPECT_THROW(KvCache(odd, 10, TensorType::F16, TensorType::Q8_0), std::invalid_argument);
  EXPECT_NO_THROW(KvCache(odd, 10, TensorType::BF16, TensorType::F16));
}

}  // namespace
}  // namespace st
