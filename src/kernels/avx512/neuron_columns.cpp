// AVX-512 (VNNI) sparse down product over neuron bundles' columns (kernels/neuron_bundles.h;
// NeuronColumnsFn in kernel_table.h). The active neurons of a 32-neuron group go four at a time:
// their code columns are interleaved byte-wise in registers so that one vpdpbusd adds 4 neurons x 16
// outputs into int32 lanes (the integer sums are exact); each output then gets isum * (weight scale
// * activation scale), the dense kernels' arithmetic. A tail of fewer than 128 outputs goes neuron
// by neuron through float accumulators (integer-valued, so also exact: |sum| < 2^24). GCC 12's
// AVX-512 conversion intrinsics start from _mm512_undefined_*(), which its -Wmaybe-uninitialized
// reports as a false positive (the value is fully overwritten).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "formats/tensor_type.h"

namespace st::avx512 {

namespace {

// A 4 x 4 transpose of 128-bit lanes (lane L of result k = lane k of input L): turns "lane =
// chunk of outputs, register = 4-output step" into "register = 16 consecutive outputs".
inline void transpose_lanes(__m512i& a, __m512i& b, __m512i& c, __m512i& d) {
  const __m512i t0 = _mm512_shuffle_i32x4(a, b, 0x44), t1 = _mm512_shuffle_i32x4(a, b, 0xEE);
  const __m512i t2 = _mm512_shuffle_i32x4(c, d, 0x44), t3 = _mm512_shuffle_i32x4(c, d, 0xEE);
  a = _mm512_shuffle_i32x4(t0, t2, 0x88);
  b = _mm512_shuffle_i32x4(t0, t2, 0xDD);
  c = _mm512_shuffle_i32x4(t1, t3, 0x88);
  d = _mm512_shuffle_i32x4(t1, t3, 0xDD);
}

// Bytes i of v0..v3 (u8 codes of 4 neurons for the same 64 outputs) -> dword i of 4 registers
// (per 128-bit lane L: q[k] holds outputs 16L + 4k .. 16L + 4k + 3), accumulated against the
// 4 neurons' activations packed in one dword.
inline void quad_dot(__m512i v0, __m512i v1, __m512i v2, __m512i v3, __m512i a4, __m512i* acc) {
  const __m512i p01l = _mm512_unpacklo_epi8(v0, v1), p01h = _mm512_unpackhi_epi8(v0, v1);
  const __m512i p23l = _mm512_unpacklo_epi8(v2, v3), p23h = _mm512_unpackhi_epi8(v2, v3);
  acc[0] = _mm512_dpbusd_epi32(acc[0], _mm512_unpacklo_epi16(p01l, p23l), a4);
  acc[1] = _mm512_dpbusd_epi32(acc[1], _mm512_unpackhi_epi16(p01l, p23l), a4);
  acc[2] = _mm512_dpbusd_epi32(acc[2], _mm512_unpacklo_epi16(p01h, p23h), a4);
  acc[3] = _mm512_dpbusd_epi32(acc[3], _mm512_unpackhi_epi16(p01h, p23h), a4);
}

// 128 outputs starting at h of one group, every active neuron (in fours; a last partial quad
// is padded with activation 0). Q4_0 codes are u8 nibbles (+8); Q8_0 codes are made u8 by
// flipping the sign bit (+128): the caller subtracts zero * sum(a).
template <bool kQ4>
inline void tile_vnni(const uint8_t* codes, size_t cb, const int8_t* qa, const int32_t* js, int n_js, int64_t h,
                      __m512i isum[8]) {
  for (int p = 0; p < 8; ++p) isum[p] = _mm512_setzero_si512();
  const __m512i low4 = _mm512_set1_epi8(0x0F), flip = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int k = 0; k < n_js; k += 4) {
    const uint8_t* col[4];
    uint32_t a4 = 0;
    for (int i = 0; i < 4; ++i) {
      const int j = js[k + i < n_js ? k + i : k];
      col[i] = codes + static_cast<size_t>(j) * cb + static_cast<size_t>(kQ4 ? h / 2 : h);
      if (k + i < n_js) a4 |= static_cast<uint32_t>(static_cast<uint8_t>(qa[j])) << (8 * i);
    }
    const __m512i av = _mm512_set1_epi32(static_cast<int32_t>(a4));
    if constexpr (kQ4) {
      // 64 bytes = 128 outputs: lane L (16 bytes) holds outputs 32L..32L+15 (low nibbles)
      // and 32L+16..32L+31 (high nibbles).
      __m512i v[4], hi[4];
      for (int i = 0; i < 4; ++i) {
        const __m512i b = _mm512_loadu_si512(col[i]);
        v[i] = _mm512_and_si512(b, low4);
        hi[i] = _mm512_and_si512(_mm512_srli_epi16(b, 4), low4);
      }
      quad_dot(v[0], v[1], v[2], v[3], av, isum);
      quad_dot(hi[0], hi[1], hi[2], hi[3], av, isum + 4);
    } else {
      for (int s = 0; s < 2; ++s) {  // outputs h + 64s .. h + 64s + 63
        __m512i v[4];
        for (int i = 0; i < 4; ++i) v[i] = _mm512_xor_si512(_mm512_loadu_si512(col[i] + 64 * s), flip);
        quad_dot(v[0], v[1], v[2], v[3], av, isum + 4 * s);
      }
    }
  }
  // Registers back to consecutive outputs. Q4_0: isum[0..3] lane L -> outputs 32L + 0..15,
  // isum[4..7] -> 32L + 16..31; Q8_0: isum[4s..4s+3] lane L -> 64s + 16L + 0..15.
  transpose_lanes(isum[0], isum[1], isum[2], isum[3]);
  transpose_lanes(isum[4], isum[5], isum[6], isum[7]);
  if constexpr (kQ4) {  // order as 16-output steps: (0-15, 16-31, 32-47, ...)
    const __m512i t[8] = {isum[0], isum[4], isum[1], isum[5], isum[2], isum[6], isum[3], isum[7]};
    for (int p = 0; p < 8; ++p) isum[p] = t[p];
  }
}

}  // namespace

void neuron_columns_group(TensorType type, const uint8_t* scales, const uint8_t* codes, size_t cb, const int8_t* qa,
                          float da, const int32_t* js, int n_js, int64_t h0, int64_t h1, float* acc_mem, float* out) {
  const bool q4 = type == TensorType::Q4_0;
  int sum_qa = 0;
  for (int k = 0; k < n_js; ++k) sum_qa += qa[js[k]];
  const __m512 dav = _mm512_set1_ps(da);
  auto finish = [&](int64_t h, const __m512& isum, float* o) {
    const __m256i d16 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(scales + 2 * h));
    const __m512 scale = _mm512_mul_ps(_mm512_cvtph_ps(d16), dav);
    _mm512_storeu_ps(o, _mm512_add_ps(_mm512_loadu_ps(o), _mm512_mul_ps(isum, scale)));
  };
  int64_t h = h0;
  // Codes are offset by +8 (Q4_0 nibbles) or +128 (Q8_0 with its sign bit flipped).
  const __m512i zero_term = _mm512_set1_epi32((q4 ? 8 : 128) * sum_qa);
  for (; h + 128 <= h1; h += 128) {
    __m512i isum[8];
    if (q4) tile_vnni<true>(codes, cb, qa, js, n_js, h, isum);
    else tile_vnni<false>(codes, cb, qa, js, n_js, h, isum);
    for (int p = 0; p < 8; ++p)
      finish(h + 16 * p, _mm512_cvtepi32_ps(_mm512_sub_epi32(isum[p], zero_term)), out + (h - h0) + 16 * p);
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
  const __m512 tail_zero = _mm512_set1_ps(q4 ? static_cast<float>(8 * sum_qa) : 0.0f);
  for (int64_t i = 0; i < n; i += 16)
    finish(h + i, _mm512_sub_ps(_mm512_loadu_ps(acc_mem + i), tail_zero), out + (h - h0) + i);
}

}  // namespace st::avx512
