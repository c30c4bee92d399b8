// AVX2 sparse down product over neuron columns: the 8-lane twin of avx512/neuron_columns.cpp
// (same exact integer-valued float accumulation, same final scaling).
#include <immintrin.h>

#include <cstdint>

#include "formats/tensor_type.h"

namespace st::avx2 {

// The next active neuron's column is at an unpredictable distance: ask for its cache lines
// while this one is being multiplied.
inline void prefetch_column(const uint8_t* p, int64_t bytes) {
  for (int64_t o = 0; o < bytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(p + o), _MM_HINT_T0);
}

void neuron_columns_group(TensorType type, const uint8_t* scales, const uint8_t* codes, int64_t n_out, const int8_t* qa,
                          float da, const int32_t* js, int n_js, int64_t h0, int64_t h1, float* acc, float* out) {
  const int64_t n = h1 - h0;
  for (int64_t i = 0; i < n; i += 8) _mm256_storeu_ps(acc + i, _mm256_setzero_ps());
  int sum_qa = 0;
  auto add8 = [](float* a, __m256 av, __m128i bytes8, bool is_signed) {
    const __m256i v = is_signed ? _mm256_cvtepi8_epi32(bytes8) : _mm256_cvtepu8_epi32(bytes8);
    _mm256_storeu_ps(a, _mm256_fmadd_ps(av, _mm256_cvtepi32_ps(v), _mm256_loadu_ps(a)));
  };
  if (type == TensorType::Q4_0) {
    const size_t cb = static_cast<size_t>(n_out / 2);
    const __m128i low = _mm_set1_epi8(0x0F);
    for (int k = 0; k < n_js; ++k) {
      const int a = qa[js[k]];
      sum_qa += a;
      const __m256 av = _mm256_set1_ps(static_cast<float>(a));
      const uint8_t* col = codes + static_cast<size_t>(js[k]) * cb + static_cast<size_t>(h0 / 2);
      if (k + 1 < n_js) prefetch_column(codes + static_cast<size_t>(js[k + 1]) * cb + static_cast<size_t>(h0 / 2), n / 2);
      for (int64_t i = 0; i < n; i += 32) {
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(col + i / 2));
        const __m128i lo = _mm_and_si128(b, low), hi = _mm_and_si128(_mm_srli_epi16(b, 4), low);
        add8(acc + i, av, lo, false);
        add8(acc + i + 8, av, _mm_srli_si128(lo, 8), false);
        add8(acc + i + 16, av, hi, false);
        add8(acc + i + 24, av, _mm_srli_si128(hi, 8), false);
      }
    }
  } else {  // Q8_0
    const size_t cb = static_cast<size_t>(n_out);
    for (int k = 0; k < n_js; ++k) {
      const __m256 av = _mm256_set1_ps(static_cast<float>(qa[js[k]]));
      const uint8_t* col = codes + static_cast<size_t>(js[k]) * cb + static_cast<size_t>(h0);
      if (k + 1 < n_js) prefetch_column(codes + static_cast<size_t>(js[k + 1]) * cb + static_cast<size_t>(h0), n);
      for (int64_t i = 0; i < n; i += 16) {
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(col + i));
        add8(acc + i, av, b, true);
        add8(acc + i + 8, av, _mm_srli_si128(b, 8), true);
      }
    }
  }
  const __m256 zero_term = _mm256_set1_ps(static_cast<float>(8 * sum_qa));
  const __m256 dav = _mm256_set1_ps(da);
  for (int64_t i = 0; i < n; i += 8) {
    const __m128i d16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(scales + 2 * (h0 + i)));
    const __m256 scale = _mm256_mul_ps(_mm256_cvtph_ps(d16), dav);
    const __m256 isum = _mm256_sub_ps(_mm256_loadu_ps(acc + i), zero_term);
    _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(out + i), _mm256_mul_ps(isum, scale)));
  }
}

}  // namespace st::avx2
