// Block geometry must match ggml byte for byte: GGUF files written by llama.cpp are read
// with these sizes, and a wrong one silently shifts every following tensor.
#include <gtest/gtest.h>

#include "formats/tensor_type.h"

namespace st {
namespace {

TEST(TensorType, BlockSizesMatchGgml) {
  struct Expect {
    TensorType type;
    uint32_t ggml_id;
    int64_t block_size;
    size_t block_bytes;
  };
  const Expect expected[] = {
      {TensorType::F32, 0, 1, 4},       {TensorType::F16, 1, 1, 2},       {TensorType::Q4_0, 2, 32, 18},
      {TensorType::Q4_1, 3, 32, 20},    {TensorType::Q5_0, 6, 32, 22},    {TensorType::Q5_1, 7, 32, 24},
      {TensorType::Q8_0, 8, 32, 34},    {TensorType::Q8_1, 9, 32, 36},    {TensorType::Q4_K, 12, 256, 144},
      {TensorType::Q5_K, 13, 256, 176}, {TensorType::Q6_K, 14, 256, 210}, {TensorType::Q8_K, 15, 256, 292},
      {TensorType::BF16, 30, 1, 2},
      // ggml-common.h: block_q2_K, block_q3_K, the i-quants, and the types we only name.
      {TensorType::Q2_K, 10, 256, 84},      {TensorType::Q3_K, 11, 256, 110},    {TensorType::IQ2_XXS, 16, 256, 66},
      {TensorType::IQ2_XS, 17, 256, 74},    {TensorType::IQ3_XXS, 18, 256, 98},  {TensorType::IQ1_S, 19, 256, 50},
      {TensorType::IQ4_NL, 20, 32, 18},     {TensorType::IQ3_S, 21, 256, 110},   {TensorType::IQ2_S, 22, 256, 82},
      {TensorType::IQ4_XS, 23, 256, 136},   {TensorType::I8, 24, 1, 1},          {TensorType::I16, 25, 1, 2},
      {TensorType::I32, 26, 1, 4},          {TensorType::I64, 27, 1, 8},         {TensorType::F64, 28, 1, 8},
      {TensorType::IQ1_M, 29, 256, 56},     {TensorType::Q4_0_4_4, 31, 32, 18},  {TensorType::Q4_0_4_8, 32, 32, 18},
      {TensorType::Q4_0_8_8, 33, 32, 18},   {TensorType::TQ1_0, 34, 256, 54},    {TensorType::TQ2_0, 35, 256, 66},
      {TensorType::IQ4_NL_4_4, 36, 32, 18}, {TensorType::IQ4_NL_4_8, 37, 32, 18}, {TensorType::IQ4_NL_8_8, 38, 32, 18},
      {TensorType::MXFP4, 39, 32, 17},
  };
  for (const auto& e : expected) {
    SCOPED_TRACE(std::string(tensor_type_name(e.type)));
    const auto info = tensor_type_info(e.ggml_id);
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->type, e.type);
    EXPECT_EQ(info->block_size, e.block_size);
    EXPECT_EQ(info->block_bytes, e.block_bytes);
    EXPECT_EQ(row_bytes(e.type, e.block_size * 3), e.block_bytes * 3);
    EXPECT_EQ(tensor_type_from_name(tensor_type_name(e.type)), e.type);
  }
}

TEST(TensorType, RowBytesOfRealShapes) {
  EXPECT_EQ(row_bytes(TensorType::Q4_0, 2560), 2560u / 32 * 18);
  EXPECT_EQ(row_bytes(TensorType::Q6_K, 1536), 1536u / 256 * 210);
  EXPECT_EQ(row_bytes(TensorType::BF16, 768), 1536u);
  EXPECT_EQ(row_bytes(TensorType::F32, 5), 20u);
}

TEST(TensorType, PartialBlocksAreRejected) {
  EXPECT_FALSE(row_fits(TensorType::Q4_K, 128));
  EXPECT_TRUE(row_fits(TensorType::Q4_K, 512));
  EXPECT_THROW(row_bytes(TensorType::Q8_0, 33), std::invalid_argument);
}

TEST(TensorType, UnknownIdsAndNames) {
  EXPECT_FALSE(tensor_type_info(4).has_value());  // Q4_2, removed from ggml before GGUF
  EXPECT_FALSE(tensor_type_info(99).has_value());
  EXPECT_EQ(tensor_type_from_name("Q4_K"), TensorType::Q4_K);
  EXPECT_EQ(tensor_type_from_name("IQ2_XXS"), TensorType::IQ2_XXS);
  EXPECT_FALSE(tensor_type_from_name("q3_k_m").has_value());  // a scheme, not a type
}

// Every id gets a printable label, with or without a layout: errors and inspect use it.
TEST(TensorType, LabelsNameEveryId) {
  EXPECT_EQ(type_label(TensorType::IQ2_XS), "iq2_xs");
  EXPECT_EQ(type_label(39u), "mxfp4");
  EXPECT_EQ(type_label(4u), "q4_2 (removed from ggml)");
  EXPECT_EQ(type_label(99u), "type 99 (unknown)");
  EXPECT_EQ(tensor_type_name(static_cast<TensorType>(99)), "unknown");
  EXPECT_FALSE(has_layout(static_cast<TensorType>(99)));
  EXPECT_TRUE(has_layout(TensorType::TQ1_0));
  EXPECT_THROW(row_bytes(static_cast<TensorType>(99), 32), std::invalid_argument);
}

}  // namespace
}  // namespace st
