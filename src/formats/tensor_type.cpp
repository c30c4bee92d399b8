#include "formats/tensor_type.h"

#include <array>
#include <cctype>
#include <stdexcept>
#include <string>

namespace st {
namespace {

using T = TensorType;

// ggml's block geometry (ggml-common.h), byte for byte: a wrong size here silently shifts
// every tensor that follows in a file.
constexpr std::array<TensorTypeInfo, 38> kTypes{{
    {T::F32, "f32", 1, 4},
    {T::F16, "f16", 1, 2},
    {T::Q4_0, "q4_0", 32, 2 + 16},
    {T::Q4_1, "q4_1", 32, 2 + 2 + 16},
    {T::Q5_0, "q5_0", 32, 2 + 4 + 16},
    {T::Q5_1, "q5_1", 32, 2 + 2 + 4 + 16},
    {T::Q8_0, "q8_0", 32, 2 + 32},
    {T::Q8_1, "q8_1", 32, 2 + 2 + 32},
    {T::Q2_K, "q2_k", 256, 16 + 64 + 2 + 2},        // scales+mins, 2-bit codes, d, dmin
    {T::Q3_K, "q3_k", 256, 32 + 64 + 12 + 2},       // high bits, low 2 bits, 6-bit scales, d
    {T::Q4_K, "q4_k", 256, 2 + 2 + 12 + 128},
    {T::Q5_K, "q5_k", 256, 2 + 2 + 12 + 32 + 128},
    {T::Q6_K, "q6_k", 256, 128 + 64 + 16 + 2},
    {T::Q8_K, "q8_k", 256, 4 + 256 + 2 * 16},
    {T::IQ2_XXS, "iq2_xxs", 256, 2 + 64},           // d, 32 x u16 grid/sign words
    {T::IQ2_XS, "iq2_xs", 256, 2 + 64 + 8},         // d, 32 x u16, 8 scale bytes
    {T::IQ3_XXS, "iq3_xxs", 256, 2 + 96},           // d, 64 grid bytes + 32 sign/scale bytes
    {T::IQ1_S, "iq1_s", 256, 2 + 32 + 16},          // d, 32 grid bytes, 8 x u16 high bits
    {T::IQ4_NL, "iq4_nl", 32, 2 + 16},              // d, 16 nibble bytes
    {T::IQ3_S, "iq3_s", 256, 2 + 64 + 8 + 32 + 4},  // d, qs, qh, signs, scales
    {T::IQ2_S, "iq2_s", 256, 2 + 64 + 8 + 8},       // d, qs (grid + signs), qh, scales
    {T::IQ4_XS, "iq4_xs", 256, 2 + 2 + 4 + 128},    // d, scales_h, scales_l, nibbles
    {T::I8, "i8", 1, 1},
    {T::I16, "i16", 1, 2},
    {T::I32, "i32", 1, 4},
    {T::I64, "i64", 1, 8},
    {T::F64, "f64", 1, 8},
    {T::IQ1_M, "iq1_m", 256, 32 + 16 + 8},          // qs, qh, scales (d lives in the scales)
    {T::BF16, "bf16", 1, 2},
    {T::Q4_0_4_4, "q4_0_4x4", 32, 2 + 16},          // Q4_0 blocks, interleaved across rows
    {T::Q4_0_4_8, "q4_0_4x8", 32, 2 + 16},
    {T::Q4_0_8_8, "q4_0_8x8", 32, 2 + 16},
    {T::TQ1_0, "tq1_0", 256, 48 + 4 + 2},           // base-3 packed trits, 4 x 4 trits, d
    {T::TQ2_0, "tq2_0", 256, 64 + 2},               // 2-bit trits, d
    {T::IQ4_NL_4_4, "iq4_nl_4x4", 32, 2 + 16},      // IQ4_NL blocks, interleaved across rows
    {T::IQ4_NL_4_8, "iq4_nl_4x8", 32, 2 + 16},
    {T::IQ4_NL_8_8, "iq4_nl_8x8", 32, 2 + 16},
    {T::MXFP4, "mxfp4", 32, 1 + 16},                // shared E8M0 exponent byte, 16 bytes of FP4 codes
}};

const TensorTypeInfo* find(uint32_t id) {
  for (const auto& t : kTypes)
    if (static_cast<uint32_t>(t.type) == id) return &t;
  return nullptr;
}

}  // namespace

std::optional<TensorTypeInfo> tensor_type_info(uint32_t ggml_id) {
  if (const auto* t = find(ggml_id)) return *t;
  return std::nullopt;
}

const TensorTypeInfo& tensor_type_info(TensorType type) {
  if (const auto* t = find(static_cast<uint32_t>(type))) return *t;
  throw std::invalid_argument(type_label(type) + " has no known block layout");
}

std::string_view tensor_type_name(TensorType t) {
  const auto* i = find(static_cast<uint32_t>(t));
  return i ? i->name : std::string_view("unknown");
}

std::string type_label(uint32_t id) {
  if (const auto* t = find(id)) return std::string(t->name);
  if (id == 4 || id == 5) return std::string(id == 4 ? "q4_2" : "q4_3") + " (removed from ggml)";
  return "type " + std::to_string(id) + " (unknown)";
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
