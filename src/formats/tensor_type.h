// Tensor element types, numbered as ggml numbers them (the GGUF on-disk ids), with their
// block geometry. Quantized types store rows as whole blocks of `block_size` elements.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
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
  Q8_1 = 9,   // activations only (dot partner of Q4_1/Q5_1)
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,  // activations only (dot partner of the K-quants)
  BF16 = 30,
};

struct TensorTypeInfo {
  TensorType type;
  std::string_view name;  // "q4_0", as llama.cpp prints it (lower case)
  int64_t block_size;     // elements per block
  size_t block_bytes;     // bytes per block
};

// nullopt for ids this engine does not support (the GGUF reader reports them by number).
std::optional<TensorTypeInfo> tensor_type_info(uint32_t ggml_id);
const TensorTypeInfo& tensor_type_info(TensorType type);
std::optional<TensorType> tensor_type_from_name(std::string_view name);  // "q4_0", "Q4_0", "f16", ...
inline std::string_view tensor_type_name(TensorType t) { return tensor_type_info(t).name; }

// Bytes of one row of n elements; n must be a multiple of the block size.
size_t row_bytes(TensorType type, int64_t n);
// False when n is not a whole number of blocks.
bool row_fits(TensorType type, int64_t n);

}  // namespace st
