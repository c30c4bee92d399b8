// AVX-512 sparse down product over neuron columns (kernels/neuron_columns.h): for each active
// neuron of a 32-neuron group, its column of codes times its int8 activation is added into
// float accumulators (integer-valued, so exact: |sum| <= 32 * 127 * 128 < 2^24); then each
// output gets acc * (weight scale * activation scale), the dense kernels' arithmetic.
// GCC 12's AVX-512 conversion intrinsics start from _mm512_undefined_*(), which its
// -Wmaybe-uninitialized reports as a false positive (the value is fully overwritten).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "formats/tensor_type.h"

namespace st::avx512 {


namespace {

// 128 outputs of one group held in 8 registers while every active neuron of the group adds
// its piece of column (64 bytes of Q4_0 codes, 128 of Q8_0): no accumulator memory traffic.
template <bool kQ4>
inline void group_block(const uint8_t* codes, size_t cb, const int8_t* qa, const int32_t* js, int n_js, int64_t h,
                        __m512 acc[8]) {
  for (int p = 0; p < 8; ++p) acc[p] = _mm512_setzero_ps();
  const __m128i low = _mm_set1_epi8(0x0F);
  for (int k = 0; k < n_js; ++k) {
    const __m512 av = _mm512_set1_ps(static_cast<float>(qa[js[k]]));
    if constexpr (kQ4) {
      const uint8_t* col = codes + static_cast<size_t>(js[k]) * cb + static_cast<size_t>(h / 2);
      for (int c = 0; c < 4; ++c) {  // 4 chunks of 32 outputs: 16 bytes each
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(col + 16 * c));
        const __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(b, low)));
        const __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(b, 4), low)));
        acc[2 * c] = _mm512_fmadd_ps(av, lo, acc[2 * c]);
        acc[2 * c + 1] = _mm512_fmadd_ps(av, hi, acc[2 * c + 1]);
      }
    } else {
      const uint8_t* col = codes + static_cast<size_t>(js[k]) * cb + static_cast<size_t>(h);
      for (int p = 0; p < 8; ++p) {
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(col + 16 * p));
        acc[p] = _mm512_fmadd_ps(av, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b)), acc[p]);
      }
    }
  }
}

}  // namespace

void neuron_columns_group(TensorType type, const uint8_t* scales, const uint8_t* codes, int64_t n_out, const int8_t* qa,
                          float da, const int32_t* js, int n_js, int64_t h0, int64_t h1, float* acc_mem, float* out) {
  const bool q4 = type == TensorType::Q4_0;
  const size_t cb = static_cast<size_t>(q4 ? n_out / 2 : n_out);
  int sum_qa = 0;
  if (q4)
    for (int k = 0; k < n_js; ++k) sum_qa += qa[js[k]];
  // Q4_0 codes are stored +8: subtract 8 * sum(a) once instead of per element. The sums are
  // integers below 2^24, so these float accumulations are exact.
  const __m512 zero_term = _mm512_set1_ps(static_cast<float>(8 * sum_qa));
  const __m512 dav = _mm512_set1_ps(da);
  auto finish = [&](int64_t h, const __m512& isum_raw, float* o) {
    const __m256i d16 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(scales + 2 * h));
    const __m512 scale = _mm512_mul_ps(_mm512_cvtph_ps(d16), dav);
    _mm512_storeu_ps(o, _mm512_add_ps(_mm512_loadu_ps(o), _mm512_mul_ps(_mm512_sub_ps(isum_raw, zero_term), scale)));
  };
  int64_t h = h0;
  for (; h + 128 <= h1; h += 128) {
    __m512 acc[8];
    if (q4) group_block<true>(codes, cb, qa, js, n_js, h, acc);
    else group_block<false>(codes, cb, qa, js, n_js, h, acc);
    // Q4_0 registers hold outputs in chunk order: (h..h+15, h+16..h+31) per 32.
    for (int p = 0; p < 8; ++p) finish(h + 16 * p, acc[p], out + (h - h0) + 16 * p);
  }
  if (h == h1) return;
  // A tail shorter than 128 outputs (multiple of 32): through memory accumulators.
  const int64_t n = h1 - h;
  for (int64_t i = 0; i < n; i += 16) _mm512_storeu_ps(acc_mem + i, _mm512_setzero_ps());
  const __m128i low = _mm_set1_epi8(0x0F);
  for (int k = 0; k < n_js; ++k) {
    const __m512 av = _mm512_set1_ps(static_cast<float>(qa[js[k]]));
    if (q4) {
      const uint8_t* col = codes + static_cast<size_t>(js[k]) * cb + static_cast<size_t>(h / 2);
      for (int64_t i = 0; i < n; i += 32) {
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(col + i / 2));
        const __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(b, low)));
        const __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(b, 4), low)));
        _mm512_storeu_ps(acc_mem + i, _mm512_fmadd_ps(av, lo, _mm512_loadu_ps(acc_mem + i)));
        _mm512_storeu_ps(acc_mem + i + 16, _mm512_fmadd_ps(av, hi, _mm512_loadu_ps(acc_mem + i + 16)));
      }
    } else {
      const uint8_t* col = codes + static_cast<size_t>(js[k]) * cb + static_cast<size_t>(h);
      for (int64_t i = 0; i < n; i += 16) {
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(col + i));
        _mm512_storeu_ps(acc_mem + i, _mm512_fmadd_ps(av, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b)), _mm512_loadu_ps(acc_mem + i)));
      }
    }
  }
  for (int64_t i = 0; i < n; i += 16) finish(h + i, _mm512_loadu_ps(acc_mem + i), out + (h - h0) + i);
}

}  // namespace st::avx512
