// Tensor element types, numbered as ggml numbers them (the GGUF on-disk ids), with their
// block geometry. Quantized types store rows as whole blocks of `block_size` elements.
//
// The table knows every id ggml has defined, so that a file using a type this engine cannot
// compute with still opens (inspect shows it, sizes and all) and the error at load time names
// the type. Which types have kernels is the kernels layer's business (kernels_supported()).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace st {

enum class TensorType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,  // activations only (dot partner of Q4_1/Q5_1)
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,  // activations only (dot partner of the K-quants)
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  Q4_0_4_4 = 31,  // 31-33, 36-38: interleaved in-memory layouts ggml once wrote to files, since removed
  Q4_0_4_8 = 32,
  Q4_0_8_8 = 33,
  TQ1_0 = 34,
  TQ2_0 = 35,
  IQ4_NL_4_4 = 36,
  IQ4_NL_4_8 = 37,
  IQ4_NL_8_8 = 38,
  MXFP4 = 39,
};

struct TensorTypeInfo {
  TensorType type;
  std::string_view name;  // "q4_0", as llama.cpp prints it (lower case)
  int64_t block_size;     // elements per block
  size_t block_bytes;     // bytes per block
};

// The layout of a ggml type id; nullopt for ids without one (never assigned, or ggml's
// pre-GGUF Q4_2/Q4_3 whose layout no GGUF file can hold).
std::optional<TensorTypeInfo> tensor_type_info(uint32_t ggml_id);
// Throws std::invalid_argument for a value without a layout.
const TensorTypeInfo& tensor_type_info(TensorType type);
std::optional<TensorType> tensor_type_from_name(std::string_view name);  // "q4_0", "Q4_0", "f16", ...
// The name of a type with a layout ("q4_k"); "unknown" otherwise (see type_label).
std::string_view tensor_type_name(TensorType t);
// For messages and tables: "q4_k", "q4_2 (removed from ggml)", "type 99 (unknown)".
std::string type_label(uint32_t ggml_id);
inline std::string type_label(TensorType t) { return type_label(static_cast<uint32_t>(t)); }
// True when the id has a layout (sizes can be computed).
inline bool has_layout(TensorType t) { return tensor_type_info(static_cast<uint32_t>(t)).has_value(); }

// Bytes of one row of n elements; n must be a multiple of the block size.
size_t row_bytes(TensorType type, int64_t n);
// False when n is not a whole number of blocks.
bool row_fits(TensorType type, int64_t n);

}  // namespace st
