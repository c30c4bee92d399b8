// The per-tensor type rules of convert / quantize (docs/QUANTIZE.md), on the released models'
// shapes: which tensor gets which type, the _M layer pattern, and the row-length fallbacks.
#include <gtest/gtest.h>

#include <string>

#include "tools/quant_rules.h"

namespace smallthinker {
namespace {

using st::TensorType;

TensorType type_of(const char* scheme, bool pure, const std::string& name, int n_dims, int64_t ne0, int n_layer = 32,
                   bool tied = false) {
  const auto s = quant_scheme_from_name(scheme);
  EXPECT_TRUE(s.has_value()) << scheme;
  return choose_tensor_type(*s, pure, {name, n_dims, ne0, n_layer, tied});
}

TEST(QuantRules, SchemeNames) {
  EXPECT_EQ(quant_scheme_from_name("Q4_K_M")->base, TensorType::Q4_K);
  EXPECT_TRUE(quant_scheme_from_name("q4_k_m")->k_mixture);
  EXPECT_FALSE(quant_scheme_from_name("q4_k")->k_mixture);
  EXPECT_EQ(quant_scheme_from_name("q4_k_m")->llama_file_type, 15u);
  EXPECT_EQ(quant_scheme_from_name("bf16")->llama_file_type, 32u);
  EXPECT_FALSE(quant_scheme_from_name("q3_k").has_value());
  EXPECT_EQ(quant_scheme_names().size(), 13u);
}

TEST(QuantRules, TensorKinds) {
  EXPECT_EQ(tensor_kind("blk.12.ffn_down_exps.weight").role, TensorRole::ffn_down_exps);
  EXPECT_EQ(tensor_kind("blk.12.ffn_down_exps.weight").layer, 12);
  EXPECT_EQ(tensor_kind("blk.0.ffn_gate_inp.weight").role, TensorRole::router);
  EXPECT_EQ(tensor_kind("output.weight").role, TensorRole::output);
  EXPECT_EQ(tensor_kind("blk.x.attn_q.weight").role, TensorRole::other);
  EXPECT_EQ(tensor_kind("blk.3.").role, TensorRole::other);
  EXPECT_EQ(tensor_kind("blk.").role, TensorRole::other);
}

TEST(QuantRules, NormsAndRoutersStayF32) {
  for (const char* s : {"f16", "bf16", "q8_0", "q4_0", "q4_k_m"}) {
    for (bool pure : {false, true}) {
      EXPECT_EQ(type_of(s, pure, "blk.0.attn_norm.weight", 1, 1536), TensorType::F32);
      EXPECT_EQ(type_of(s, pure, "output_norm.weight", 1, 1536), TensorType::F32);
      EXPECT_EQ(type_of(s, pure, "blk.3.ffn_gate_inp.weight", 2, 1536), TensorType::F32);
    }
  }
}

TEST(QuantRules, OutputGetsQ6K) {
  EXPECT_EQ(type_of("q4_0", false, "output.weight", 2, 1536), TensorType::Q6_K);
  EXPECT_EQ(type_of("q4_0", false, "token_embd.weight", 2, 1536), TensorType::Q4_0);
  EXPECT_EQ(type_of("q4_0", false, "token_embd.weight", 2, 1536, 32, /*tied=*/true), TensorType::Q6_K);
  EXPECT_EQ(type_of("q8_0", false, "output.weight", 2, 1536), TensorType::Q8_0);  // already more bits
  EXPECT_EQ(type_of("q4_0", true, "output.weight", 2, 1536), TensorType::Q4_0);   // --pure
  EXPECT_EQ(type_of("bf16", false, "output.weight", 2, 1536), TensorType::BF16);
}

TEST(QuantRules, KMixtureLayers) {
  int bumped32 = 0, bumped52 = 0;
  for (int il = 0; il < 32; ++il) bumped32 += uses_more_bits(il, 32);
  for (int il = 0; il < 52; ++il) bumped52 += uses_more_bits(il, 52);
  EXPECT_EQ(bumped32, 16);
  EXPECT_EQ(bumped52, 26);
  EXPECT_EQ(type_of("q4_k_m", false, "blk.0.attn_v.weight", 2, 1536), TensorType::Q6_K);
  EXPECT_EQ(type_of("q4_k_m", false, "blk.4.attn_v.weight", 2, 1536), TensorType::Q4_K);
  EXPECT_EQ(type_of("q4_k_m", false, "blk.6.ffn_down_exps.weight", 3, 768), TensorType::Q6_K);
  EXPECT_EQ(type_of("q4_k_m", false, "blk.31.ffn_down_exps.weight", 3, 768), TensorType::Q6_K);
  EXPECT_EQ(type_of("q4_k_m", false, "blk.6.ffn_up_exps.weight", 3, 1536), TensorType::Q4_K);
  EXPECT_EQ(type_of("q5_k_m", false, "blk.5.ffn_down_exps.weight", 3, 768), TensorType::Q5_K);
  EXPECT_EQ(type_of("q4_k_m", true, "blk.0.attn_v.weight", 2, 1536), TensorType::Q4_K);  // --pure
  EXPECT_EQ(type_of("q4_k", false, "blk.0.attn_v.weight", 2, 1536), TensorType::Q4_K);   // not _M
}

TEST(QuantRules, RowFallbacks) {
  EXPECT_EQ(type_of("q4_k", false, "blk.0.attn_q.weight", 2, 320), TensorType::Q5_0);
  EXPECT_EQ(type_of("q5_k", false, "blk.0.attn_q.weight", 2, 320), TensorType::Q5_1);
  EXPECT_EQ(type_of("q6_k", false, "blk.0.attn_q.weight", 2, 320), TensorType::Q8_0);
  EXPECT_EQ(type_of("q4_k_m", false, "output.weight", 2, 320), TensorType::Q8_0);  // Q6_K -> Q8_0
  EXPECT_EQ(type_of("q4_0", false, "blk.0.attn_q.weight", 2, 100), TensorType::F16);
  EXPECT_EQ(type_of("q4_k", true, "blk.0.attn_q.weight", 2, 48), TensorType::F16);
}

}  // namespace
}  // namespace smallthinker
