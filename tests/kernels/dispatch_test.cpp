// The dispatch point: ISA detection and tables, the dot-type pairing, and that SIMD tables
// really replace the hot entries (so the consistency tests compare different code).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "kernel_test_util.h"

namespace st {
namespace {

TEST(Dispatch, ScalarFirstAndActiveIsAvailable) {
  const auto isas = available_isas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.front(), Isa::scalar);
  EXPECT_NE(std::find(isas.begin(), isas.end(), active_isa()), isas.end());
  const char* forced = std::getenv("ST_FORCE_ISA");
  if (forced && *forced)
    EXPECT_EQ(isa_name(active_isa()), std::string_view(forced) == "ref" ? "scalar" : forced);
  else
    EXPECT_EQ(active_isa(), isas.back());  // the best one by default
}

TEST(Dispatch, DotTypePairs) {
  using T = TensorType;
  const std::pair<T, T> pairs[] = {{T::F32, T::F32},   {T::F16, T::F16},   {T::BF16, T::BF16}, {T::Q4_0, T::Q8_0},
                                   {T::Q4_1, T::Q8_1}, {T::Q5_0, T::Q8_0}, {T::Q5_1, T::Q8_1}, {T::Q8_0, T::Q8_0},
                                   {T::Q4_K, T::Q8_K}, {T::Q5_K, T::Q8_K}, {T::Q6_K, T::Q8_K},
                                   {T::Q2_K, T::Q8_K}, {T::Q3_K, T::Q8_K}, {T::IQ4_NL, T::Q8_0}, {T::IQ4_XS, T::Q8_K}};
  for (Isa isa : available_isas()) {
    for (auto [w, a] : pairs) {
      const auto& k = kernel_table(w, isa);
      EXPECT_EQ(k.type, w);
      EXPECT_EQ(k.vec_dot_type, a) << tensor_type_name(w);
      EXPECT_TRUE(k.dequantize_row && k.quantize_row && k.vec_dot && k.gemv && k.gemm) << tensor_type_name(w);
      EXPECT_TRUE(kernel_table(a, isa).quantize_row) << "activation type must be producible";
    }
    for (T act : {T::Q8_1, T::Q8_K}) {
      const auto& k = kernel_table(act, isa);
      EXPECT_TRUE(k.dequantize_row && k.quantize_row);
      EXPECT_FALSE(k.vec_dot || k.gemv || k.gemm) << "activation-only type";
    }
  }
  EXPECT_EQ(&kernel_table(T::Q4_0), &kernel_table(T::Q4_0, active_isa()));
}

TEST(Dispatch, SimdTablesReplaceHotKernels) {
  for (Isa isa : available_isas()) {
    if (isa == Isa::scalar) continue;
    for (TensorType t : test::weight_types()) {
      const auto& ref = kernel_table(t, Isa::scalar);
      const auto& k = kernel_table(t, isa);
      EXPECT_NE(k.vec_dot, ref.vec_dot) << test::type_isa_name(t, isa);
      EXPECT_NE(k.gemv, ref.gemv) << test::type_isa_name(t, isa);
      EXPECT_NE(k.gemm, ref.gemm) << test::type_isa_name(t, isa);
    }
    for (TensorType t : {TensorType::Q8_0, TensorType::Q8_1, TensorType::Q8_K})
      EXPECT_NE(kernel_table(t, isa).quantize_row, kernel_table(t, Isa::scalar).quantize_row);
  }
}

// On ARM the dotprod table must really use other integer kernels than plain NEON (else the
// consistency tests would compare the same code twice); skipped where SDOT is absent.
TEST(Dispatch, DotprodReplacesIntegerKernels) {
  const auto isas = available_isas();
  if (std::find(isas.begin(), isas.end(), Isa::neon_dotprod) == isas.end()) GTEST_SKIP() << "no dotprod on this CPU";
  for (TensorType t : test::weight_types()) {
    if (t == TensorType::F32 || t == TensorType::F16 || t == TensorType::BF16) continue;
    const auto& plain = kernel_table(t, Isa::neon);
    const auto& sdot = kernel_table(t, Isa::neon_dotprod);
    EXPECT_NE(sdot.vec_dot, plain.vec_dot) << tensor_type_name(t);
    EXPECT_NE(sdot.gemv, plain.gemv) << tensor_type_name(t);
    EXPECT_NE(sdot.gemm, plain.gemm) << tensor_type_name(t);
  }
}

// The low-bit types' AVX-512 entries must be their own (VNNI) kernels, not the AVX2 ones the
// table starts from, so the consistency and extreme-code tests really run them; skipped
// without AVX-512.
TEST(Dispatch, Avx512ReplacesLowBitKernels) {
  const auto isas = available_isas();
  if (std::find(isas.begin(), isas.end(), Isa::avx512) == isas.end()) GTEST_SKIP() << "no AVX-512 on this CPU";
  for (TensorType t : {TensorType::Q2_K, TensorType::Q3_K, TensorType::IQ4_NL, TensorType::IQ4_XS}) {
    const auto& avx2 = kernel_table(t, Isa::avx2);
    const auto& avx512 = kernel_table(t, Isa::avx512);
    EXPECT_NE(avx512.gemm, avx2.gemm) << tensor_type_name(t);
    if (t == TensorType::Q2_K || t == TensorType::Q3_K) {
      ASSERT_TRUE(avx512.gemm_groups && avx2.gemm_groups) << tensor_type_name(t);
      EXPECT_NE(avx512.gemm_groups, avx2.gemm_groups) << tensor_type_name(t);
    }
  }
  EXPECT_NE(kernel_table(TensorType::IQ4_NL, Isa::avx512).vec_dot, kernel_table(TensorType::IQ4_NL, Isa::avx2).vec_dot);
  EXPECT_NE(kernel_table(TensorType::IQ4_NL, Isa::avx512).gemv, kernel_table(TensorType::IQ4_NL, Isa::avx2).gemv);
}

TEST(Dispatch, UnusableIsaAndTypeThrow) {
#if defined(__x86_64__)
  EXPECT_THROW(kernel_table(TensorType::Q4_0, Isa::neon), std::runtime_error);
  EXPECT_THROW(kernel_table(TensorType::Q4_0, Isa::neon_dotprod), std::runtime_error);
#elif defined(__aarch64__)
  EXPECT_THROW(kernel_table(TensorType::Q4_0, Isa::avx2), std::runtime_error);
  EXPECT_THROW(kernel_table(TensorType::Q4_0, Isa::avx512), std::runtime_error);
#endif
  EXPECT_THROW(kernel_table(static_cast<TensorType>(4), Isa::scalar), std::invalid_argument);  // ggml's removed Q4_2
}

}  // namespace
}  // namespace st
