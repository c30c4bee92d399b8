// Small element-wise ops of the forward pass: RMSNorm, NeoX rotary embedding, softmax.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace st::ops {

// y = x / sqrt(mean(x^2) + eps) * w  (sum of squares accumulated in double: n is up to a few
// thousand and this keeps the norm independent of summation order).
void rmsnorm(const float* x, const float* w, float* y, int64_t n, double eps);

// Rotary embedding, NeoX ("rotate-half") layout: within each head of `head_dim`, element d is
// paired with d + head_dim/2 and rotated by pos * theta^(-2d/head_dim), for d < head_dim/2.
class Rope {
 public:
  Rope(int64_t head_dim, double theta);
  // Rotates n_heads consecutive heads of one token in place.
  void apply(float* heads, int64_t n_heads, int64_t pos) const;

 private:
  int64_t head_dim_;
  std::vector<double> inv_freq_;  // [head_dim / 2]
};

// In-place softmax over x (max-subtracted; result sums to 1).
void softmax(std::span<float> x);

}  // namespace st::ops
