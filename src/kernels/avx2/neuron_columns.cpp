// AVX2 sparse down product over neuron bundles' columns (kernels/neuron_bundles.h; NeuronColumnsFn
// in kernel_table.h). The active neurons of a 32-neuron group are multiplied in integers, several
// neurons per instruction, with their code columns interleaved byte-wise in registers (the maddubs
// twin of avx512's vpdpbusd quads); each output's exact integer sum is then scaled once per group by
// (weight scale x activation scale), the dense kernels' arithmetic.
//
//  - Q4_0: pairs of neurons. Bytes of two columns interleaved -> maddubs (u8 nibbles x the two
//    s8 activations) gives c0*a0 + c1*a1 per output in int16, |.| <= 2*15*128 = 3840, so up to
//    8 pairs (16 neurons) add up in int16 before one widening to int32. The zero point 8 goes
//    through the sum of the activations.
//  - Q8_0: quads of neurons. Interleaved 4 bytes per output, the maddubs sign trick (|q| x a
//    with q's sign) and a madd give the 4 neurons' sum in int32. The trick cannot represent
//    -(-128): a group with an activation code of -128 (never produced by the Q8_0 quantizer)
//    takes the per-neuron path instead, so every input stays exact.
// Columns are contiguous and read once per group; the driver (down_impl) prefetches the next
// group's scales and active columns while this one is multiplied.
#include <immintrin.h>

#include <cstdint>

#include "formats/tensor_type.h"

namespace st::avx2 {

namespace {

// In-column prefetch distance in bytes (Q4_0 / Q8_0). The driver's prefetch of the next group
// is issued all at once and part of it does not arrive (or is evicted) in time; each tile
// asks again, a few lines ahead in every column it reads. Measured from DRAM on Zen 3: 128 /
// 256 bytes beat 0, 512 and the next-group prefetch alone.
constexpr size_t kAheadQ4 = 128, kAheadQ8 = 256;

inline void prefetch(const uint8_t* p) { _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0); }

// out[0..8) += isum * (8 fp16 weight scales at d16 x da).
inline void finish8(__m256i isum, const uint8_t* d16, __m256 dav, float* out) {
  const __m256 scale = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d16))), dav);
  _mm256_storeu_ps(out, _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), scale, _mm256_loadu_ps(out)));
}

// Q4_0, outputs [h, h + 64) (kHalf: only [h, h + 32), the range's last 32 outputs) of every
// active pair. s32[2q + m] receives outputs h + 8q + 32m .. + 7.
template <bool kHalf>
inline void tile_q4(const uint8_t* const* c0, const uint8_t* const* c1, const int32_t* ap, int n_pairs, int64_t h,
                    __m256i s32[8]) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const size_t off = static_cast<size_t>(h / 2);
  for (int p0 = 0; p0 < n_pairs; p0 += 8) {
    const int p1 = p0 + 8 < n_pairs ? p0 + 8 : n_pairs;
    __m256i s16[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int p = p0; p < p1; ++p) {
      if ((h & 64) == 0) {  // once per 64-byte line of the columns
        prefetch(c0[p] + off + kAheadQ4);
        prefetch(c1[p] + off + kAheadQ4);
      }
      __m256i b0, b1;
      if constexpr (kHalf) {  // 16 bytes: reading 32 could run past the last column
        b0 = _mm256_zextsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c0[p] + off)));
        b1 = _mm256_zextsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c1[p] + off)));
      } else {
        b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c0[p] + off));
        b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c1[p] + off));
      }
      // Byte i of a 32-byte load: low nibble = output 32(i/16) + i%16, high nibble = that + 16.
      const __m256i lo = _mm256_unpacklo_epi8(b0, b1), hi = _mm256_unpackhi_epi8(b0, b1);
      const __m256i av = _mm256_set1_epi32(ap[p]);
      s16[0] = _mm256_add_epi16(s16[0], _mm256_maddubs_epi16(_mm256_and_si256(lo, low4), av));  // 0..7 | 32..39
      s16[1] = _mm256_add_epi16(s16[1], _mm256_maddubs_epi16(_mm256_and_si256(hi, low4), av));  // 8..15 | 40..47
      s16[2] = _mm256_add_epi16(s16[2], _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(lo, 4), low4), av));
      s16[3] = _mm256_add_epi16(s16[3], _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(hi, 4), low4), av));
    }
    for (int q = 0; q < 4; ++q) {
      const __m256i a = _mm256_cvtepi16_epi32(_mm256_castsi256_si128(s16[q]));
      s32[2 * q] = p0 == 0 ? a : _mm256_add_epi32(s32[2 * q], a);
      if constexpr (!kHalf) {
        const __m256i b = _mm256_cvtepi16_epi32(_mm256_extracti128_si256(s16[q], 1));
        s32[2 * q + 1] = p0 == 0 ? b : _mm256_add_epi32(s32[2 * q + 1], b);
      }
    }
  }
}

void group_q4(const uint8_t* scales, const uint8_t* codes, size_t cb, const int8_t* qa, float da, const int32_t* js,
              int n_js, int64_t h0, int64_t h1, float* out) {
  // Pairs (a lone last neuron gets a partner of activation 0); ap = the two activation bytes,
  // repeated in every 16-bit lane.
  const uint8_t* c0[16];
  const uint8_t* c1[16];
  int32_t ap[16];
  int sum_qa = 0;
  const int n_pairs = (n_js + 1) / 2;
  for (int p = 0; p < n_pairs; ++p) {
    const int j0 = js[2 * p], j1 = 2 * p + 1 < n_js ? js[2 * p + 1] : j0;
    const int a0 = qa[j0], a1 = 2 * p + 1 < n_js ? qa[j1] : 0;
    sum_qa += a0 + a1;
    c0[p] = codes + static_cast<size_t>(j0) * cb;
    c1[p] = codes + static_cast<size_t>(j1) * cb;
    const uint32_t pair = static_cast<uint32_t>(static_cast<uint8_t>(a0)) | static_cast<uint32_t>(static_cast<uint8_t>(a1)) << 8;
    ap[p] = static_cast<int32_t>(pair | pair << 16);
  }
  if (n_pairs == 0) return;
  const __m256i zero = _mm256_set1_epi32(8 * sum_qa);
  const __m256 dav = _mm256_set1_ps(da);
  int64_t h = h0;
  for (; h + 64 <= h1; h += 64) {
    __m256i s32[8] = {};
    tile_q4<false>(c0, c1, ap, n_pairs, h, s32);
    for (int k = 0; k < 8; ++k) {
      const int64_t o = h + 8 * (k / 2) + 32 * (k % 2);
      finish8(_mm256_sub_epi32(s32[k], zero), scales + 2 * o, dav, out + (o - h0));
    }
  }
  if (h < h1) {  // 32 outputs left
    __m256i s32[8] = {};
    tile_q4<true>(c0, c1, ap, n_pairs, h, s32);
    for (int q = 0; q < 4; ++q) {
      const int64_t o = h + 8 * q;
      finish8(_mm256_sub_epi32(s32[2 * q], zero), scales + 2 * o, dav, out + (o - h0));
    }
  }
}

void group_q8(const uint8_t* scales, const uint8_t* codes, size_t cb, const int8_t* qa, float da, const int32_t* js,
              int n_js, int64_t h0, int64_t h1, float* out) {
  // Quads (missing neurons of the last one: activation 0, any valid column); a4 = the four
  // activation bytes, repeated in every 32-bit lane.
  const uint8_t* col[8][4];
  int32_t a4[8];
  const int n_quads = (n_js + 3) / 4;
  for (int q = 0; q < n_quads; ++q) {
    uint32_t packed = 0;
    for (int i = 0; i < 4; ++i) {
      const int k = 4 * q + i < n_js ? 4 * q + i : 4 * q;
      col[q][i] = codes + static_cast<size_t>(js[k]) * cb;
      if (4 * q + i < n_js) packed |= static_cast<uint32_t>(static_cast<uint8_t>(qa[js[k]])) << (8 * i);
    }
    a4[q] = static_cast<int32_t>(packed);
  }
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256 dav = _mm256_set1_ps(da);
  for (int64_t h = h0; h < h1; h += 32) {
    __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int q = 0; q < n_quads; ++q) {
      if ((h & 32) == 0)  // once per 64-byte line of the columns
        for (int i = 0; i < 4; ++i) prefetch(col[q][i] + h + kAheadQ8);
      const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(col[q][0] + h));
      const __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(col[q][1] + h));
      const __m256i v2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(col[q][2] + h));
      const __m256i v3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(col[q][3] + h));
      const __m256i p01l = _mm256_unpacklo_epi8(v0, v1), p01h = _mm256_unpackhi_epi8(v0, v1);
      const __m256i p23l = _mm256_unpacklo_epi8(v2, v3), p23h = _mm256_unpackhi_epi8(v2, v3);
      // Dword i of each: the 4 neurons' codes of one output; acc[0] = outputs 0..3 | 16..19,
      // acc[1] = 4..7 | 20..23, acc[2] = 8..11 | 24..27, acc[3] = 12..15 | 28..31.
      const __m256i w[4] = {_mm256_unpacklo_epi16(p01l, p23l), _mm256_unpackhi_epi16(p01l, p23l),
                            _mm256_unpacklo_epi16(p01h, p23h), _mm256_unpackhi_epi16(p01h, p23h)};
      const __m256i a = _mm256_set1_epi32(a4[q]);
      for (int k = 0; k < 4; ++k) {
        // |w| * (a with w's sign): each int16 pair sum is within +-2 * 128 * 127.
        const __m256i m = _mm256_maddubs_epi16(_mm256_sign_epi8(w[k], w[k]), _mm256_sign_epi8(a, w[k]));
        acc[k] = _mm256_add_epi32(acc[k], _mm256_madd_epi16(m, ones));
      }
    }
    float* o = out + (h - h0);
    const uint8_t* d = scales + 2 * h;
    finish8(_mm256_permute2x128_si256(acc[0], acc[1], 0x20), d, dav, o);
    finish8(_mm256_permute2x128_si256(acc[2], acc[3], 0x20), d + 16, dav, o + 8);
    finish8(_mm256_permute2x128_si256(acc[0], acc[1], 0x31), d + 32, dav, o + 16);
    finish8(_mm256_permute2x128_si256(acc[2], acc[3], 0x31), d + 48, dav, o + 24);
  }
}

// Neuron by neuron through float accumulators (integer-valued, exact: |sum| < 2^24): the
// Q8_0 path for a group with an activation code of -128.
void group_q8_per_neuron(const uint8_t* scales, const uint8_t* codes, size_t cb, const int8_t* qa, float da,
                         const int32_t* js, int n_js, int64_t h0, int64_t h1, float* acc, float* out) {
  const int64_t n = h1 - h0;
  for (int64_t i = 0; i < n; i += 8) _mm256_storeu_ps(acc + i, _mm256_setzero_ps());
  for (int k = 0; k < n_js; ++k) {
    const __m256 av = _mm256_set1_ps(static_cast<float>(qa[js[k]]));
    const uint8_t* col = codes + static_cast<size_t>(js[k]) * cb + static_cast<size_t>(h0);
    for (int64_t i = 0; i < n; i += 8) {
      const __m256 w = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(col + i))));
      _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(av, w, _mm256_loadu_ps(acc + i)));
    }
  }
  const __m256 dav = _mm256_set1_ps(da);
  for (int64_t i = 0; i < n; i += 8) {
    const __m256 scale = _mm256_mul_ps(
        _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales + 2 * (h0 + i)))), dav);
    _mm256_storeu_ps(out + i, _mm256_fmadd_ps(_mm256_loadu_ps(acc + i), scale, _mm256_loadu_ps(out + i)));
  }
}

}  // namespace

void neuron_columns_group(TensorType type, const uint8_t* scales, const uint8_t* codes, size_t col_stride, const int8_t* qa,
                          float da, const int32_t* js, int n_js, int64_t h0, int64_t h1, float* acc, float* out) {
  if (type == TensorType::Q4_0) return group_q4(scales, codes, col_stride, qa, da, js, n_js, h0, h1, out);
  for (int k = 0; k < n_js; ++k)
    if (qa[js[k]] == -128) return group_q8_per_neuron(scales, codes, col_stride, qa, da, js, n_js, h0, h1, acc, out);
  group_q8(scales, codes, col_stride, qa, da, js, n_js, h0, h1, out);
}

}  // namespace st::avx2
