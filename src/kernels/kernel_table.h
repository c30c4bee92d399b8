// The one dispatch point for tensor-type kernels. dispatch.cpp picks the instruction set
// once (CPU features, or ST_FORCE_ISA=scalar|ref|avx2|avx512|neon|neon_dotprod; ref is another
// name for scalar) and every caller goes through
// kernel_table(type). Each SIMD kernel has a plain C++ twin in ref/ with the same signature;
// tests compare every ISA against ref/ and ref/ against the numpy oracle.
//
// Dot products follow ggml's scheme: weights stay in their storage type and the activation
// row is quantized once into the weight type's `vec_dot_type` (Q8_0 for Q4_0/Q5_0/Q8_0/IQ4_NL,
// Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants and IQ4_XS, F16/BF16/F32 for the float types), so a layer
// quantizes its input once and reuses it for every row.
//
// Contracts shared by every kernel:
// - n is a whole number of blocks of the type (row_fits); rows are whole blocks.
// - Row pointers are aligned to the block struct's alignment (2 bytes; 4 for Q8_K, 4 for
//   F32), which GGUF data (32-byte aligned, whole-block rows) and malloc'd buffers satisfy.
// - Dot products accumulate in f32 (int32 inside a block); results differ from ref/ only by
//   float summation order. Dequantization is bit-exact with ref/ on every ISA, and so are
//   the activation quantizers (Q8_0, Q8_1, Q8_K) and the F16/BF16 conversions.
// - Non-finite input to a quantizer yields a non-finite block (see ref/q8_0.cpp).
// - Kernels are single-threaded and re-entrant; the caller splits rows across threads.
//   gemv/gemm may use per-thread scratch memory (scratch.h), never allocated per call once
//   warm.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "formats/tensor_type.h"

namespace st {

enum class Isa { scalar, avx2, avx512, neon, neon_dotprod };
std::string_view isa_name(Isa isa);

using DequantizeRowFn = void (*)(const void* src, float* dst, int64_t n);
using QuantizeRowFn = void (*)(const float* src, void* dst, int64_t n);
// Dot product of one weight row (storage type) with one activation row (vec_dot_type), n elements.
using VecDotFn = float (*)(int64_t n, const void* w_row, const void* act_row);
// y[r] = dot(w row r, act) for r in [0, n_rows); rows are `w_row_bytes` apart.
using GemvFn = void (*)(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y);
// Y[t * ldy + r] = dot(w row r, act row t) for r < n_rows, t < n_tok; act rows are
// `act_row_bytes` apart. The batched form lets a kernel reuse each weight block for many tokens.
using GemmFn = void (*)(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                        size_t act_row_bytes, int64_t n_tok, float* y, int64_t ldy);

// y[i] = dot(w row rows[i], act) for i < n_rows: a gemv over a subset of rows (sparse ReGLU).
using GemvRowsFn = void (*)(int64_t n, const void* w, size_t w_row_bytes, const int32_t* rows, int64_t n_rows,
                            const void* act, float* y);

// The GemmFn contract on weights in row-group layout (kernels/row_groups.h): w at a group
// boundary, n_rows a multiple of 16, w_row_bytes the file's row size. Activations are Q8_0;
// act_sums[t * (n / 32) + b] is the sum of block b's codes of token t (quantize_acts keeps it),
// so the kernel needs no per-call pass over the activations for the weights' zero point.
using GemmGroupsFn = void (*)(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                              size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy);

// One token, two row ranges at once (decode): ya[r] = dot(wa row r, act) and yb[r] =
// dot(wb row r, act) for r < n_rows, both in row-group layout with the same row size, act and
// act_sums as for GemmGroupsFn. The kernel reads the two ranges alternately, block by block,
// so a core keeps two sequential streams going: from DRAM that reads ~25-40% faster than one
// stream at a time (kernels_bench pair/*). Bit-identical to two GemmGroupsFn calls.
using GemmGroupsPairFn = void (*)(int64_t n, const void* wa, const void* wb, size_t w_row_bytes, int64_t n_rows,
                                  const void* act, const int32_t* act_sums, float* ya, float* yb);

// y[t * ldy + rows[i]] = dot(w row rows[i], act row t) for i < n_rows, t < n_tok, on weights
// in the file's row layout (sparse ReGLU's up rows). Activations are Q8_0 with act_sums as for
// GemmGroupsFn. Its plain twin is vec_dot per row and token.
using GemmRowsFn = void (*)(int64_t n, const void* w, size_t w_row_bytes, const int32_t* rows, int64_t n_rows,
                            const void* act, size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y,
                            int64_t ldy);

// Rows of the table's type against f32 vectors: the attention inner loops over a K/V cache
// stored in that type (F32, F16, BF16, Q8_0, Q4_0), without converting the cache into a buffer.
// For Q8_0/Q4_0, n is a whole number of blocks (values as dequantize_row's, sums rounded in
// another order). The SIMD loops convert each K/V vector once for a group of x / p rows (the
// query heads of one KV head); ops::attention converts quantized blocks to f32 first only
// for big prefill tiles.
// y[r * ldy + j] = dot(x row r, w row j) for r < n_x, j < n_w (x rows ldx floats apart).
using DotRowsFn = void (*)(int64_t n, const float* x, int64_t ldx, int64_t n_x, const void* w, size_t w_row_bytes,
                           int64_t n_w, float* y, int64_t ldy);
// acc[r * ldacc + i] += sum over j < n_w of p[r * ldp + j] * (w row j)[i], for r < n_p, i < n.
using AxpyRowsFn = void (*)(int64_t n, const float* p, int64_t ldp, int64_t n_p, const void* w, size_t w_row_bytes,
                            int64_t n_w, float* acc, int64_t ldacc);

// Neuron bundles' down products (kernels/neuron_bundles.h), Q4_0/Q8_0 tables only:
// out[h - h0] += (sum over k < n_js of qa[js[k]] * code(h, js[k])) * (scale[h] * da) for h in
// [h0, h1), where code(h, j) is neuron j's down code for output h (column j at codes + j *
// col_stride) and scale[h] the fp16 at scales + 2h. h0 and h1 are multiples of 32; acc is
// scratch of h1 - h0 floats. Exact integer sums, scaled once per block.
using NeuronColumnsFn = void (*)(TensorType type, const uint8_t* scales, const uint8_t* codes, size_t col_stride,
                                 const int8_t* qa, float da, const int32_t* js, int n_js, int64_t h0, int64_t h1,
                                 float* acc, float* out);

struct KernelTable {
  TensorType type = TensorType::F32;
  TensorType vec_dot_type = TensorType::F32;
  DequantizeRowFn dequantize_row = nullptr;  // every type
  QuantizeRowFn quantize_row = nullptr;      // nullptr where the type cannot be produced
  VecDotFn vec_dot = nullptr;                // nullptr for activation-only types (Q8_1, Q8_K)
  GemvFn gemv = nullptr;
  GemmFn gemm = nullptr;
  GemvRowsFn gemv_rows = nullptr;            // optional: callers fall back to vec_dot per row
  // Optional: products on weights in row-group layout (kernels/row_groups.h).
  GemmGroupsFn gemm_groups = nullptr;
  GemmGroupsPairFn gemm_groups_pair = nullptr;  // optional, with gemm_groups
  // Optional: listed file-layout rows x a few tokens (see GemmRowsFn).
  GemmRowsFn gemm_rows = nullptr;
  // Optional: a faster twin of pack_row_groups (same bytes out); the expert cache re-lays
  // every expert it reads, so this runs per cache miss.
  void (*pack_groups)(const uint8_t* rows, int64_t n_rows, int64_t n_cols, uint8_t* groups) = nullptr;
  // K/V cache types only (F32, F16, BF16, Q8_0, Q4_0; nullptr otherwise): see DotRowsFn.
  DotRowsFn dot_rows = nullptr;
  AxpyRowsFn axpy_rows = nullptr;
  NeuronColumnsFn neuron_columns = nullptr;  // Q4_0/Q8_0 (see NeuronColumnsFn)
};

// The ISA's kernels that belong to no tensor type, filled like the tables (ref/, then the
// ISA's overrides).
struct IsaKernels {
  // Reads bytes [p, p + n) as fast as the core can and returns a checksum (kernels/memory_read.h).
  uint64_t (*read_all)(const void* p, size_t n) = nullptr;
};

// Table for the active ISA (chosen once, thread-safe; throws std::runtime_error if
// ST_FORCE_ISA names an unknown or unusable ISA, and std::invalid_argument for a type
// without kernels).
const KernelTable& kernel_table(TensorType type);
// Table for a specific ISA (tests and benchmarks); entries fall back to the next-best ISA
// where a kernel has no specialised version. Throws if the ISA is not usable on this CPU.
const KernelTable& kernel_table(TensorType type, Isa isa);
Isa active_isa();
const IsaKernels& isa_kernels();         // of the active ISA
const IsaKernels& isa_kernels(Isa isa);  // throws like kernel_table(type, isa)
std::vector<Isa> available_isas();  // those this CPU can run, scalar first

// True when `type` has a kernel table (kernel_table would not throw for it).
bool kernels_supported(TensorType type);
// True when `type` can be a weight (it has dot-product kernels).
bool weight_type_supported(TensorType type);
// The weight types with kernels, "f32, f16, bf16, q4_0, ...": for error messages that tell
// the user what a file must use instead.
std::string supported_weight_types();

}  // namespace st
