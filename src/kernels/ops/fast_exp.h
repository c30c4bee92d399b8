// exp over short float arrays for the softmax, written so the compiler vectorizes it with
// the baseline instruction set (no libm call per element: a decode step's attention takes
// tens of thousands of exponentials, which as expf calls were ~10% of a long-context step).
// Cephes' expf: range reduction by n = round(x / ln 2) and a degree-5 polynomial, within
// ~2 ulp of expf for the inputs a softmax feeds it (<= 0); below about -87 the result is
// ~1e-38 instead of a denormal or 0 (nothing next to the softmax's 1 for its maximum).
#pragma once
#include <bit>
#include <cstdint>

namespace st::ops {

// y[i] = exp(x[i] - shift) for i < n, where x[i] <= shift (x and y may be the same array).
inline void exp_shifted(const float* x, float shift, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i] - shift;
    // k = round(v / ln 2): adding 1.5 * 2^23 leaves k in the low mantissa bits (exact for
    // |k| < 2^22). No float clamp and no float->int conversion: with either, GCC 12 leaves
    // the loop scalar. Far below the range, k is clamped so 2^k stays a normal float.
    const float t = v * 1.44269504088896341f + 12582912.0f;
    const float fn = t - 12582912.0f;
    int32_t k = std::bit_cast<int32_t>(t) - 0x4B400000;
    k = k < -126 ? -126 : k;
    float r = v - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float e = p * r * r + r + 1.0f;
    y[i] = e * std::bit_cast<float>((k + 127) << 23);  // e * 2^k
  }
}

}  // namespace st::ops
