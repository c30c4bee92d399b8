#include "model/config.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "formats/gguf.h"
#include "formats/gguf_names.h"

namespace st {
namespace {

namespace names = gguf_names;

// A minimal smallthinker GGUF in memory: metadata plus a token_embd tensor.
void write_model(const std::function<void(GgufWriter&)>& edit, const std::string& path, bool with_gating) {
  GgufWriter w;
  const std::string a = "smallthinker";
  w.set("general.architecture", GgufValue::string(a));
  w.set(a + ".block_count", GgufValue::u32(8));
  w.set(a + ".embedding_length", GgufValue::u32(64));
  w.set(a + ".attention.head_count", GgufValue::u32(4));
  w.set(a + ".attention.head_count_kv", GgufValue::u32(2));
  w.set(a + ".attention.key_length", GgufValue::u32(32));
  w.set(a + ".attention.value_length", GgufValue::u32(32));
  w.set(a + ".expert_count", GgufValue::u32(8));
  w.set(a + ".expert_used_count", GgufValue::u32(2));
  w.set(a + ".expert_feed_forward_length", GgufValue::u32(32));
  if (with_gating) w.set(a + ".expert_gating_func", GgufValue::u32(2));
  w.set(a + ".rope.freq_base", GgufValue::f32(10000.0f));
  edit(w);
  w.add_tensor("token_embd.weight", TensorType::F32, {64, 100}, std::vector<uint8_t>(64 * 100 * 4));
  w.write(path);
}

std::string tmp_path(const std::string& name) { return ::testing::TempDir() + "/" + name; }

ModelConfig load(const std::function<void(GgufWriter&)>& edit, std::vector<std::string>* warnings = nullptr,
                 ConfigOverrides ov = {}, bool with_gating = true) {
  // One file per test: ctest runs tests of this binary in parallel processes.
  const std::string p = tmp_path(std::string("config_test_") + ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".gguf");
  write_model(edit, p, with_gating);
  auto f = GgufFile::open(p);
  return config_from_gguf(*f, ov, warnings);
}

TEST(Config, AllGlobalRopeWithoutWindow) {
  const ModelConfig c = load([](GgufWriter&) {});
  EXPECT_EQ(c.n_layer, 8);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.n_vocab, 100);
  EXPECT_EQ(c.gating, GatingFunc::sigmoid);
  for (const auto& l : c.layers) {
    EXPECT_TRUE(l.use_rope);
    EXPECT_EQ(l.window, 0);
  }
}

TEST(Config, SlidingWindowRuleMakesEveryFourthLayerGlobalNope) {
  const ModelConfig c = load([](GgufWriter& w) { w.set("smallthinker.attention.sliding_window", GgufValue::u32(4096)); });
  for (int il = 0; il < c.n_layer; ++il) {
    const auto& l = c.layers[static_cast<size_t>(il)];
    if (il % 4 == 0) {
      EXPECT_FALSE(l.use_rope) << il;
      EXPECT_EQ(l.window, 0) << il;
    } else {
      EXPECT_TRUE(l.use_rope) << il;
      EXPECT_EQ(l.window, 4096) << il;
    }
  }
}

TEST(Config, PatternKeyAndWindowOverride) {
  ConfigOverrides ov;
  ov.window = 16;
  const ModelConfig c = load([](GgufWriter& w) {
    w.set("smallthinker.attention.sliding_window", GgufValue::u32(4096));
    w.set("smallthinker.attention.sliding_window_pattern", GgufValue::u32(3));
  }, nullptr, ov);
  EXPECT_FALSE(c.layers[3].use_rope);
  EXPECT_EQ(c.layers[4].window, 16);
}

TEST(Config, PerLayerArraysOverrideTheRule) {
  const ModelConfig c = load([](GgufWriter& w) {
    w.set("smallthinker.attention.sliding_window", GgufValue::u32(8));
    w.set("smallthinker.rope_layout", GgufValue::int_array(GgufValueType::INT32, {1, 0, 1, 1, 0, 1, 1, 1}));
    w.set("smallthinker.attention.sliding_window_layout", GgufValue::int_array(GgufValueType::INT32, {0, 0, 1, 1, 0, 1, 0, 1}));
  });
  EXPECT_TRUE(c.layers[0].use_rope);
  EXPECT_EQ(c.layers[0].window, 0);
  EXPECT_FALSE(c.layers[1].use_rope);
  EXPECT_EQ(c.layers[2].window, 8);
  EXPECT_EQ(c.layers[6].window, 0);
}

TEST(Config, MissingGatingWarnsAndDefaultsToSoftmax) {
  std::vector<std::string> warnings;
  const ModelConfig c = load([](GgufWriter&) {}, &warnings, {}, /*with_gating=*/false);
  EXPECT_EQ(c.gating, GatingFunc::softmax);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("expert_gating_func"), std::string::npos);
}

TEST(Config, InconsistentMetadataIsAClearError) {
  auto expect_error = [](const std::function<void(GgufWriter&)>& edit, const std::string& needle) {
    try {
      load(edit);
      FAIL() << "expected an error mentioning " << needle;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error([](GgufWriter& w) { w.set("smallthinker.attention.head_count_kv", GgufValue::u32(3)); }, "head_count_kv");
  expect_error([](GgufWriter& w) { w.set("smallthinker.expert_used_count", GgufValue::u32(9)); }, "expert_used_count");
  expect_error([](GgufWriter& w) { w.set("smallthinker.expert_gating_func", GgufValue::u32(7)); }, "expert_gating_func");
  expect_error([](GgufWriter& w) { w.set("smallthinker.block_count", GgufValue::u32(0)); }, "block_count");
  expect_error([](GgufWriter& w) { w.set("general.architecture", GgufValue::string("llama")); }, "smallthinker");
  expect_error([](GgufWriter& w) { w.set("smallthinker.rope_layout", GgufValue::int_array(GgufValueType::INT32, {1, 1})); },
               "rope_layout");
}

// rope.freq_base of -1, 0 or NaN was accepted and made every logit NaN.
TEST(Config, FloatHyperParametersMustBeFiniteAndInRange) {
  for (double bad : {-1.0, 0.0, 1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    for (const char* key : {"smallthinker.rope.freq_base", "smallthinker.rope.freq_base_swa"}) {
      try {
        load([&](GgufWriter& w) { w.set(key, GgufValue::f64(bad)); });
        FAIL() << key << " = " << bad << " was accepted";
      } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(std::string(key) + " = "), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("out of range"), std::string::npos) << e.what();
      }
    }
  }
  for (double bad : {0.0, -1e-6, 1.0, std::nan("")})
    EXPECT_THROW(load([&](GgufWriter& w) { w.set("smallthinker.attention.layer_norm_rms_epsilon", GgufValue::f64(bad)); }),
                 std::runtime_error) << bad;
  EXPECT_THROW(load([](GgufWriter& w) { w.set("smallthinker.context_length", GgufValue::i64(-4)); }), std::runtime_error);
  const ModelConfig c = load([](GgufWriter& w) { w.set("smallthinker.rope.freq_base_swa", GgufValue::f64(10000.0)); });
  EXPECT_EQ(c.layers[0].rope_theta, 10000.0);
}

// The pattern's default (4) failed "out of range" on models of fewer than 3 layers although
// their files have no such key; a pattern a file gives is still checked.
TEST(Config, SlidingWindowPatternIsCheckedOnlyWhenGiven) {
  const ModelConfig c = load([](GgufWriter& w) {
    w.set("smallthinker.block_count", GgufValue::u32(2));
    w.set("smallthinker.attention.sliding_window", GgufValue::u32(8));
  });
  ASSERT_EQ(c.layers.size(), 2u);
  EXPECT_FALSE(c.layers[0].use_rope);  // il % 4 == 0: global NoPE
  EXPECT_EQ(c.layers[1].window, 8);
  try {
    load([](GgufWriter& w) {
      w.set("smallthinker.block_count", GgufValue::u32(2));
      w.set("smallthinker.attention.sliding_window", GgufValue::u32(8));
      w.set("smallthinker.attention.sliding_window_pattern", GgufValue::u32(4));
    });
    FAIL() << "a pattern of 4 for 2 layers was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("sliding_window_pattern = 4 is out of range"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace st
