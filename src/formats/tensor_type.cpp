#include "formats/tensor_type.h"

#include <array>
#include <cctype>
#include <stdexcept>
#include <string>

namespace st {
namespace {

constexpr std::array<TensorTypeInfo, 13> kTypes{{
    {TensorType::F32, "f32", 1, 4},
    {TensorType::F16, "f16", 1, 2},
    {TensorType::Q4_0, "q4_0", 32, 2 + 16},
    {TensorType::Q4_1, "q4_1", 32, 2 + 2 + 16},
    {TensorType::Q5_0, "q5_0", 32, 2 + 4 + 16},
    {TensorType::Q5_1, "q5_1", 32, 2 + 2 + 4 + 16},
    {TensorType::Q8_0, "q8_0", 32, 2 + 32},
    {TensorType::Q8_1, "q8_1", 32, 2 + 2 + 32},
    {TensorType::Q4_K, "q4_k", 256, 2 + 2 + 12 + 128},
    {TensorType::Q5_K, "q5_k", 256, 2 + 2 + 12 + 32 + 128},
    {TensorType::Q6_K, "q6_k", 256, 128 + 64 + 16 + 2},
    {TensorType::Q8_K, "q8_k", 256, 4 + 256 + 2 * 16},
    {TensorType::BF16, "bf16", 1, 2},
}};

}  // namespace

std::optional<TensorTypeInfo> tensor_type_info(uint32_t ggml_id) {
  for (const auto& t : kTypes)
    if (static_cast<uint32_t>(t.type) == ggml_id) return t;
  return std::nullopt;
}

const TensorTypeInfo& tensor_type_info(TensorType type) {
  for (const auto& t : kTypes)
    if (t.type == type) return t;
  throw std::invalid_argument("unknown tensor type id " + std::to_string(static_cast<uint32_t>(type)));
}

std::optional<TensorType> tensor_type_from_name(std::string_view name) {
  std::string lower(name);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& t : kTypes)
    if (t.name == lower) return t.type;
  return std::nullopt;
}

bool row_fits(TensorType type, int64_t n) {
  const auto& info = tensor_type_info(type);
  return n >= 0 && n % info.block_size == 0;
}

size_t row_bytes(TensorType type, int64_t n) {
  const auto& info = tensor_type_info(type);
  if (!row_fits(type, n))
    throw std::invalid_argument("row of " + std::to_string(n) + " elements is not a whole number of " +
                                std::string(info.name) + " blocks (" + std::to_string(info.block_size) + ")");
  return static_cast<size_t>(n / info.block_size) * info.block_bytes;
}

}  // namespace st
