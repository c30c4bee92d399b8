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
  EXPECT_EQ(quant_scheme_from_name("Q3_K_M")->llama_file_type, 12u);
  EXPECT_EQ(quant_scheme_from_name("q2_k")->llama_file_type, 10u);
  EXPECT_EQ(quant_scheme_from_name("iq4_xs")->llama_file_type, 30u);
  EXPECT_EQ(quant_scheme_from_name("iq4_nl")->base, TensorType::IQ4_NL);
  EXPECT_EQ(quant_scheme_names().size(), 20u);
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

// The low-bit mixtures on the 4B model's shapes (32 layers): what each role gets.
TEST(QuantRules, LowBitMixtures) {
  const auto t = [](const char* s, const char* name, int n_dims = 2, int64_t ne0 = 1536) {
    return type_of(s, false, name, n_dims, ne0);
  };
  // q2_k: gate/up experts Q2_K, down and attention Q3_K, attn_v Q4_K, lm_head Q6_K.
  EXPECT_EQ(t("q2_k", "blk.5.ffn_up_exps.weight", 3), TensorType::Q2_K);
  EXPECT_EQ(t("q2_k", "blk.5.ffn_gate_exps.weight", 3), TensorType::Q2_K);
  EXPECT_EQ(t("q2_k", "blk.5.ffn_down_exps.weight", 3, 768), TensorType::Q3_K);
  EXPECT_EQ(t("q2_k", "blk.5.attn_q.weight"), TensorType::Q3_K);
  EXPECT_EQ(t("q2_k", "blk.5.attn_v.weight"), TensorType::Q4_K);
  EXPECT_EQ(t("q2_k", "output.weight"), TensorType::Q6_K);
  EXPECT_EQ(t("q2_k", "blk.5.ffn_gate_inp.weight"), TensorType::F32);
  // q3_k_s: Q3_K everywhere but lm_head.
  EXPECT_EQ(t("q3_k_s", "blk.0.attn_v.weight"), TensorType::Q3_K);
  EXPECT_EQ(t("q3_k_s", "blk.0.ffn_down_exps.weight", 3, 768), TensorType::Q3_K);
  // q3_k_m: attn_v Q5_K, attn_output Q4_K, down Q4_K in the "more bits" layers only.
  EXPECT_EQ(t("q3_k_m", "blk.4.attn_v.weight"), TensorType::Q5_K);
  EXPECT_EQ(t("q3_k_m", "blk.4.attn_output.weight"), TensorType::Q4_K);
  EXPECT_EQ(t("q3_k_m", "blk.6.ffn_down_exps.weight", 3, 768), TensorType::Q4_K);
  EXPECT_EQ(t("q3_k_m", "blk.5.ffn_down_exps.weight", 3, 768), TensorType::Q3_K);
  EXPECT_EQ(t("q3_k_m", "blk.6.ffn_up_exps.weight", 3), TensorType::Q3_K);
  // q3_k_l: every down projection Q5_K.
  EXPECT_EQ(t("q3_k_l", "blk.5.ffn_down_exps.weight", 3, 768), TensorType::Q5_K);
  EXPECT_EQ(t("q3_k_l", "blk.5.attn_k.weight"), TensorType::Q3_K);
  // q4_k_s: Q5_K attn_v / down in the first eighth of the layers.
  EXPECT_EQ(t("q4_k_s", "blk.3.attn_v.weight"), TensorType::Q5_K);
  EXPECT_EQ(t("q4_k_s", "blk.4.ffn_down_exps.weight", 3, 768), TensorType::Q4_K);
  // iq4_xs / iq4_nl: the base type, lm_head Q6_K; IQ4_XS rows not a multiple of 256 -> IQ4_NL.
  EXPECT_EQ(t("iq4_xs", "blk.5.ffn_up_exps.weight", 3), TensorType::IQ4_XS);
  EXPECT_EQ(t("iq4_xs", "blk.5.attn_q.weight", 2, 320), TensorType::IQ4_NL);
  EXPECT_EQ(t("iq4_nl", "output.weight"), TensorType::Q6_K);
  EXPECT_EQ(t("q3_k_s", "blk.5.attn_q.weight", 2, 320), TensorType::IQ4_NL);
  EXPECT_EQ(t("iq4_nl", "blk.5.attn_q.weight", 2, 100), TensorType::F16);
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
