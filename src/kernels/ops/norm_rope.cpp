#include "kernels/ops/norm_rope.h"

#include <algorithm>
#include <cmath>

namespace st::ops {

void rmsnorm(const float* x, const float* w, float* y, int64_t n, double eps) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale * w[i];
}

Rope::Rope(int64_t head_dim, double theta) : head_dim_(head_dim), inv_freq_(static_cast<size_t>(head_dim / 2)) {
  for (int64_t i = 0; i < head_dim / 2; ++i)
    inv_freq_[static_cast<size_t>(i)] = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(head_dim));
}

void Rope::apply(float* heads, int64_t n_heads, int64_t pos) const {
  const int64_t half = head_dim_ / 2;
  // Angles in double: positions reach tens of thousands, where float angles lose digits.
  float cs[512], sn[512];
  for (int64_t base = 0; base < half; base += 512) {
    const int64_t m = std::min<int64_t>(512, half - base);
    for (int64_t i = 0; i < m; ++i) {
      const double a = static_cast<double>(pos) * inv_freq_[static_cast<size_t>(base + i)];
      cs[i] = static_cast<float>(std::cos(a));
      sn[i] = static_cast<float>(std::sin(a));
    }
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = heads + h * head_dim_;
      for (int64_t i = 0; i < m; ++i) {
        const float x0 = v[base + i], x1 = v[base + i + half];
        v[base + i] = x0 * cs[i] - x1 * sn[i];
        v[base + i + half] = x0 * sn[i] + x1 * cs[i];
      }
    }
  }
}

void softmax(std::span<float> x) {
  if (x.empty()) return;
  const float mx = *std::max_element(x.begin(), x.end());
  double sum = 0;
  for (auto& v : x) {
    v = std::exp(v - mx);
    sum += v;
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (auto& v : x) v *= inv;
}

}  // namespace st::ops
