// The one dispatch point for tensor-type kernels. dispatch.cpp picks the instruction set
// once (CPU features, or ST_FORCE_ISA=scalar|avx2|avx512|neon) and every caller goes through
// kernel_table(type). Each SIMD kernel has a plain C++ twin in ref/ with the same signature;
// tests compare every ISA against ref/ and ref/ against the numpy oracle.
//
// Dot products follow ggml's scheme: weights stay in their storage type and the activation
// row is quantized once into the weight type's `vec_dot_type` (Q8_0 for Q4_0/Q5_0/Q8_0,
// Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants, F16/BF16/F32 for the float types), so a layer
// quantizes its input once and reuses it for every row.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "formats/tensor_type.h"

namespace st {

enum class Isa { scalar, avx2, avx512, neon };
std::string_view isa_name(Isa isa);

using DequantizeRowFn = void (*)(const void* src, float* dst, int64_t n);
using QuantizeRowFn = void (*)(const float* src, void* dst, int64_t n);
// Dot product of one weight row (storage type) with one activation row (vec_dot_type), n elements.
using VecDotFn = float (*)(int64_t n, const void* w_row, const void* act_row);
// y[r] = dot(w row r, act) for r in [0, n_rows); rows are `w_row_bytes` apart.
using GemvFn = void (*)(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                        const void* act, float* y);
// Y[t * ldy + r] = dot(w row r, act row t) for r < n_rows, t < n_tok; act rows are
// `act_row_bytes` apart. The batched form lets a kernel reuse each weight block for many tokens.
using GemmFn = void (*)(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                        const void* act, size_t act_row_bytes, int64_t n_tok, float* y, int64_t ldy);

struct KernelTable {
  TensorType type = TensorType::F32;
  TensorType vec_dot_type = TensorType::F32;
  DequantizeRowFn dequantize_row = nullptr;  // every type
  QuantizeRowFn quantize_row = nullptr;      // nullptr where the type cannot be produced
  VecDotFn vec_dot = nullptr;                // nullptr for activation-only types (Q8_1, Q8_K)
  GemvFn gemv = nullptr;
  GemmFn gemm = nullptr;
};

// Table for the active ISA (chosen once, thread-safe).
const KernelTable& kernel_table(TensorType type);
// Table for a specific ISA (tests and benchmarks); entries fall back to the next-best ISA
// where a kernel has no specialised version. Throws if the ISA is not usable on this CPU.
const KernelTable& kernel_table(TensorType type, Isa isa);
Isa active_isa();
std::vector<Isa> available_isas();  // those this CPU can run, scalar first

}  // namespace st
