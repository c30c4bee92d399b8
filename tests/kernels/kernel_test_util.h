// Shared helpers for the kernel tests: random rows in any type, and error bounds for dot
// products. Header-only; each *_test.cpp includes it.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "formats/tensor_type.h"
#include "kernels/blocks.h"
#include "kernels/kernel_table.h"

namespace st::test {

inline const std::vector<TensorType>& weight_types() {
  static const std::vector<TensorType> t{TensorType::F32,  TensorType::F16,  TensorType::BF16,   TensorType::Q4_0,
                                         TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1,   TensorType::Q8_0,
                                         TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K,   TensorType::Q5_K,
                                         TensorType::Q6_K, TensorType::IQ4_NL, TensorType::IQ4_XS};
  return t;
}

inline const std::vector<TensorType>& all_types() {
  static const std::vector<TensorType> t = [] {
    auto v = weight_types();
    v.push_back(TensorType::Q8_1);
    v.push_back(TensorType::Q8_K);
    return v;
  }();
  return t;
}

inline std::string type_isa_name(TensorType t, Isa isa) {
  return std::string(tensor_type_name(t)) + "/" + std::string(isa_name(isa));
}

inline std::vector<float> gaussian(int64_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

// n_rows rows of n elements quantized with the reference quantizer, `row_bytes` apart.
inline std::vector<uint8_t> quantized_rows(TensorType type, int64_t n, int64_t n_rows, size_t row_stride, uint32_t seed,
                                           float sigma = 1.0f) {
  std::vector<uint8_t> out(row_stride * static_cast<size_t>(n_rows) + 64, 0xCD);
  const auto& q = kernel_table(type, Isa::scalar).quantize_row;
  for (int64_t r = 0; r < n_rows; ++r) {
    auto x = gaussian(n, seed + static_cast<uint32_t>(r) * 7919u, sigma);
    q(x.data(), out.data() + static_cast<size_t>(r) * row_stride, n);
  }
  return out;
}

// Where a block keeps its fp16/float scales (d, and m/dmin/s where present): tests that fill
// blocks with random bytes restore these so the values stay finite.
struct ByteSpan {
  size_t offset, length;
};
inline ByteSpan scale_field(TensorType type) {
  switch (type) {
    case TensorType::Q4_0:
    case TensorType::Q5_0:
    case TensorType::Q8_0:
    case TensorType::IQ4_NL:
    case TensorType::IQ4_XS: return {0, 2};
    case TensorType::Q2_K: return {80, 4};
    case TensorType::Q3_K: return {108, 2};
    case TensorType::Q4_1:
    case TensorType::Q5_1:
    case TensorType::Q8_1: return {0, 4};
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q8_K: return {0, 4};
    case TensorType::Q6_K: return {208, 2};
    default: return {0, 0};
  }
}

// Copy of one row with every quantization code set to zero, leaving scales and mins. Its
// dequantization is the per-element offset (-8d, m, -dmin*m, -32*d*sc, ...), whose size
// bounds the cancellation a dot product may go through.
inline std::vector<uint8_t> zero_codes(TensorType type, const uint8_t* row, int64_t n) {
  const size_t bytes = row_bytes(type, n);
  std::vector<uint8_t> out(row, row + bytes);
  const auto& info = tensor_type_info(type);
  const int64_t nb = n / info.block_size;
  for (int64_t b = 0; b < nb; ++b) {
    uint8_t* p = out.data() + static_cast<size_t>(b) * info.block_bytes;
    switch (type) {
      case TensorType::Q4_0: std::memset(p + 2, 0, 16); break;
      case TensorType::Q4_1: std::memset(p + 4, 0, 16); break;
      case TensorType::Q5_0: std::memset(p + 2, 0, 20); break;
      case TensorType::Q5_1: std::memset(p + 4, 0, 20); break;
      case TensorType::Q8_0: std::memset(p + 2, 0, 32); break;
      case TensorType::Q4_K: std::memset(p + 16, 0, 128); break;
      case TensorType::Q5_K: std::memset(p + 16, 0, 160); break;
      case TensorType::Q6_K: std::memset(p, 0, 192); break;
      case TensorType::Q2_K: std::memset(p + 16, 0, 64); break;
      case TensorType::Q3_K: std::memset(p, 0, 96); break;
      // IQ4 codes index a grid without a zero point: no offset.
      case TensorType::IQ4_NL:
      case TensorType::IQ4_XS: return std::vector<uint8_t>(bytes, 0);
      default: return std::vector<uint8_t>(bytes, 0);  // float types have no offset
    }
  }
  return out;
}

// Sum over i of (|w_i| + |offset_i|) * |a_i|, in double: the scale of the rounding error any
// correct summation order may make.
inline double dot_magnitude(TensorType type, const uint8_t* w_row, const uint8_t* act_row, int64_t n) {
  const auto& wt = kernel_table(type, Isa::scalar);
  const auto& at = kernel_table(wt.vec_dot_type, Isa::scalar);
  std::vector<float> w(static_cast<size_t>(n)), w0(static_cast<size_t>(n)), a(static_cast<size_t>(n));
  wt.dequantize_row(w_row, w.data(), n);
  auto z = zero_codes(type, w_row, n);
  wt.dequantize_row(z.data(), w0.data(), n);
  at.dequantize_row(act_row, a.data(), n);
  double m = 0;
  for (size_t i = 0; i < w.size(); ++i)
    m += (std::fabs(static_cast<double>(w[i])) + std::fabs(static_cast<double>(w0[i]))) *
         std::fabs(static_cast<double>(a[i]));
  return m;
}

}  // namespace st::test
