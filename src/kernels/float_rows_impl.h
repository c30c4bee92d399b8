// The attention loops over float rows (DotRowsFn and AxpyRowsFn in kernel_table.h), written
// once over a vector policy and compiled in each ISA folder with that folder's flags
// (avx2/float_rows.cpp, neon/float_rows.cpp). Everything has internal linkage: the same
// template compiled with different -m flags must never be merged by the linker.
//
// V (the ISA's f32 vector): `vec`, `W` lanes, zero(), load(const float*), store(float*, vec),
//   fma(a, b, c) = a * b + c, broadcast(float), reduce4(a, b, c, d, float out[4]) = the four
//   horizontal sums.
// L (the row's storage type): load(row, i) = elements i .. i + W - 1 as f32; load1(row, i).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace st::float_rows {
namespace {

// Four rows of w at a time against each x row: every x vector load serves four products,
// and the four sums are reduced together.
template <class V, class L>
void dot_rows(int64_t n, const float* x, int64_t ldx, int64_t n_x, const void* w, size_t w_row_bytes, int64_t n_w,
              float* y, int64_t ldy) {
  constexpr int64_t W = V::W;
  const auto* wb = static_cast<const uint8_t*>(w);
  const int64_t nv = n / W * W;
  for (int64_t j = 0; j < n_w; j += 4) {
    const int64_t jn = std::min<int64_t>(4, n_w - j);
    const uint8_t* row[4];
    for (int64_t k = 0; k < 4; ++k)  // past the end: the last row again, its sums dropped
      row[k] = wb + static_cast<size_t>(j + std::min(k, jn - 1)) * w_row_bytes;
    for (int64_t r = 0; r < n_x; ++r) {
      const float* xr = x + r * ldx;
      typename V::vec a0 = V::zero(), a1 = V::zero(), a2 = V::zero(), a3 = V::zero();
      for (int64_t i = 0; i < nv; i += W) {
        const typename V::vec xv = V::load(xr + i);
        a0 = V::fma(xv, L::load(row[0], i), a0);
        a1 = V::fma(xv, L::load(row[1], i), a1);
        a2 = V::fma(xv, L::load(row[2], i), a2);
        a3 = V::fma(xv, L::load(row[3], i), a3);
      }
      float s[4];
      V::reduce4(a0, a1, a2, a3, s);
      for (int64_t i = nv; i < n; ++i)
        for (int k = 0; k < 4; ++k) s[k] += xr[i] * L::load1(row[k], i);
      for (int64_t k = 0; k < jn; ++k) y[r * ldy + j + k] = s[k];
    }
  }
}

// R query rows x KJ key rows per pass, all R * KJ sums in registers: each key vector is loaded
// (and converted from f16 / bf16 / codes) once for R rows instead of once per row, and each
// query vector once for KJ keys. With few rows (a decode step: the 6 or 7 query heads of a KV
// head) this is the loop's whole cost, the K rows read once for all heads that share them.
// Rows past n_x and keys past n_w repeat the last one, their sums dropped. Needs n % W == 0.
// (R * KJ) % 4 == 0.
template <class V, class L, int R, int KJ>
void dot_rows_shared(int64_t n, const float* x, int64_t ldx, int64_t n_x, const void* w, size_t w_row_bytes,
                     int64_t n_w, float* y, int64_t ldy) {
  constexpr int64_t W = V::W;
  static_assert((R * KJ) % 4 == 0);
  const auto* wb = static_cast<const uint8_t*>(w);
  for (int64_t r0 = 0; r0 < n_x; r0 += R) {
    const int64_t rn = std::min<int64_t>(R, n_x - r0);
    if constexpr (R > 2) {
      if (rn <= 2) {  // a short remainder (7 = 6 + 1 heads per KV head): two rows at a time
        dot_rows_shared<V, L, 2, KJ>(n, x + r0 * ldx, ldx, rn, w, w_row_bytes, n_w, y + r0 * ldy, ldy);
        return;
      }
    }
    const float* xr[R];
    for (int64_t r = 0; r < R; ++r) xr[r] = x + (r0 + std::min<int64_t>(r, rn - 1)) * ldx;
    for (int64_t j = 0; j < n_w; j += KJ) {
      const int64_t jn = std::min<int64_t>(KJ, n_w - j);
      const uint8_t* row[KJ];
      for (int64_t k = 0; k < KJ; ++k) row[k] = wb + static_cast<size_t>(j + std::min<int64_t>(k, jn - 1)) * w_row_bytes;
      typename V::vec a[R * KJ];
      for (auto& v : a) v = V::zero();
      for (int64_t i = 0; i < n; i += W) {
        typename V::vec kv[KJ];
        for (int k = 0; k < KJ; ++k) kv[k] = L::load(row[k], i);
        for (int r = 0; r < R; ++r) {
          const typename V::vec xv = V::load(xr[r] + i);
          for (int k = 0; k < KJ; ++k) a[r * KJ + k] = V::fma(xv, kv[k], a[r * KJ + k]);
        }
      }
      float s[R * KJ];
      for (int q = 0; q < R * KJ; q += 4) V::reduce4(a[q], a[q + 1], a[q + 2], a[q + 3], s + q);
      for (int64_t r = 0; r < rn; ++r)
        for (int64_t k = 0; k < jn; ++k) y[(r0 + r) * ldy + j + k] = s[r * KJ + k];
    }
  }
}

// The shared loop where the head size allows it (n a whole number of vectors), else the
// one-row loop above.
template <class V, class L, int R, int KJ>
void dot_rows_grouped(int64_t n, const float* x, int64_t ldx, int64_t n_x, const void* w, size_t w_row_bytes,
                      int64_t n_w, float* y, int64_t ldy) {
  if (n % V::W == 0)
    dot_rows_shared<V, L, R, KJ>(n, x, ldx, n_x, w, w_row_bytes, n_w, y, ldy);
  else
    dot_rows<V, L>(n, x, ldx, n_x, w, w_row_bytes, n_w, y, ldy);
}

// acc rows in pairs, C vectors of each at a time, held in registers over all n_w rows of w:
// each converted w vector feeds both rows.
template <class V, class L, int C>
void axpy_chunk(int64_t i0, const float* p, int64_t ldp, int64_t n_p, const uint8_t* wb, size_t w_row_bytes,
                int64_t n_w, float* acc, int64_t ldacc) {
  constexpr int64_t W = V::W;
  for (int64_t r = 0; r < n_p; r += 2) {
    const bool two = r + 1 < n_p;
    float* out0 = acc + r * ldacc + i0;
    float* out1 = two ? out0 + ldacc : out0;
    const float* p0 = p + r * ldp;
    const float* p1 = two ? p0 + ldp : p0;
    typename V::vec a0[C], a1[C];
    for (int c = 0; c < C; ++c) {
      a0[c] = V::load(out0 + c * W);
      a1[c] = V::load(out1 + c * W);
    }
    for (int64_t j = 0; j < n_w; ++j) {
      const uint8_t* row = wb + static_cast<size_t>(j) * w_row_bytes;
      const typename V::vec b0 = V::broadcast(p0[j]), b1 = V::broadcast(p1[j]);
      for (int c = 0; c < C; ++c) {
        const typename V::vec wv = L::load(row, i0 + c * W);
        a0[c] = V::fma(b0, wv, a0[c]);
        a1[c] = V::fma(b1, wv, a1[c]);
      }
    }
    for (int c = 0; c < C; ++c) {
      if (two) V::store(out1 + c * W, a1[c]);
      V::store(out0 + c * W, a0[c]);  // after out1: with one row left, out1 aliases out0
    }
  }
}

// R acc rows x C vectors of each in registers over all n_w rows of w: each w vector is loaded
// (and converted) once for R rows -- the V rows read once for all query heads of a KV head.
// Rows past n_p repeat the last one and are not stored. Needs n % (C * W) == 0 from i0 on.
template <class V, class L, int R, int C>
void axpy_shared_chunk(int64_t i0, const float* p, int64_t ldp, int64_t n_p, const uint8_t* wb, size_t w_row_bytes,
                       int64_t n_w, float* acc, int64_t ldacc) {
  constexpr int64_t W = V::W;
  for (int64_t r0 = 0; r0 < n_p; r0 += R) {
    const int64_t rn = std::min<int64_t>(R, n_p - r0);
    if constexpr (R > 2) {
      if (rn <= 2) {  // a short remainder (7 = 6 + 1 heads per KV head): two rows at a time
        axpy_shared_chunk<V, L, 2, C>(i0, p + r0 * ldp, ldp, rn, wb, w_row_bytes, n_w, acc + r0 * ldacc, ldacc);
        return;
      }
    }
    const float* pr[R];
    float* out[R];
    for (int64_t r = 0; r < R; ++r) {
      const int64_t rr = r0 + std::min<int64_t>(r, rn - 1);
      pr[r] = p + rr * ldp;
      out[r] = acc + rr * ldacc + i0;
    }
    typename V::vec a[R][C];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) a[r][c] = V::load(out[r] + c * W);
    for (int64_t j = 0; j < n_w; ++j) {
      const uint8_t* row = wb + static_cast<size_t>(j) * w_row_bytes;
      typename V::vec wv[C];
      for (int c = 0; c < C; ++c) wv[c] = L::load(row, i0 + c * W);
      for (int r = 0; r < R; ++r) {
        const typename V::vec b = V::broadcast(pr[r][j]);
        for (int c = 0; c < C; ++c) a[r][c] = V::fma(b, wv[c], a[r][c]);
      }
    }
    for (int64_t r = 0; r < rn; ++r)  // only the real rows: a repeated one aliases the last
      for (int c = 0; c < C; ++c) V::store(out[r] + c * W, a[r][c]);
  }
}

template <class V, class L>
void axpy_rows(int64_t n, const float* p, int64_t ldp, int64_t n_p, const void* w, size_t w_row_bytes, int64_t n_w,
               float* acc, int64_t ldacc) {
  constexpr int64_t W = V::W;
  const auto* wb = static_cast<const uint8_t*>(w);
  int64_t i0 = 0;
  for (; i0 + 4 * W <= n; i0 += 4 * W) axpy_chunk<V, L, 4>(i0, p, ldp, n_p, wb, w_row_bytes, n_w, acc, ldacc);
  for (; i0 + W <= n; i0 += W) axpy_chunk<V, L, 1>(i0, p, ldp, n_p, wb, w_row_bytes, n_w, acc, ldacc);
  for (int64_t r = 0; r < n_p && i0 < n; ++r)
    for (int64_t j = 0; j < n_w; ++j) {
      const uint8_t* row = wb + static_cast<size_t>(j) * w_row_bytes;
      for (int64_t i = i0; i < n; ++i) acc[r * ldacc + i] += p[r * ldp + j] * L::load1(row, i);
    }
}

// The shared loop where the head size is a whole number of vectors (four at a time, then
// one), else axpy_rows.
template <class V, class L, int R>
void axpy_rows_grouped(int64_t n, const float* p, int64_t ldp, int64_t n_p, const void* w, size_t w_row_bytes,
                       int64_t n_w, float* acc, int64_t ldacc) {
  constexpr int64_t W = V::W;
  if constexpr (requires { L::load1(w, 0); }) {  // float rows; block rows are whole vectors
    if (n % W != 0) return axpy_rows<V, L>(n, p, ldp, n_p, w, w_row_bytes, n_w, acc, ldacc);
  }
  const auto* wb = static_cast<const uint8_t*>(w);
  int64_t i0 = 0;
  for (; i0 + 4 * W <= n; i0 += 4 * W) axpy_shared_chunk<V, L, R, 4>(i0, p, ldp, n_p, wb, w_row_bytes, n_w, acc, ldacc);
  for (; i0 < n; i0 += W) axpy_shared_chunk<V, L, R, 1>(i0, p, ldp, n_p, wb, w_row_bytes, n_w, acc, ldacc);
}

}  // namespace
}  // namespace st::float_rows

namespace st::float_rows {
namespace {

// Rows of 32-element blocks (Q8_0, Q4_0: n a multiple of 32). L: codes(row, i) = the W codes
// from element i as f32, scale(row, i) = the scale of the block holding element i. The scale
// is applied once per block: dot = sum over blocks of d * (x . codes), and axpy adds
// (p * d) * codes -- the same values as code * scale, rounded in another order (the tests'
// tolerance covers it; ref/ is the element-by-element definition).
template <class V, class L>
void dot_rows_blocks(int64_t n, const float* x, int64_t ldx, int64_t n_x, const void* w, size_t w_row_bytes,
                     int64_t n_w, float* y, int64_t ldy) {
  constexpr int64_t W = V::W, B = 32;
  const auto* wb = static_cast<const uint8_t*>(w);
  for (int64_t j = 0; j < n_w; j += 4) {
    const int64_t jn = std::min<int64_t>(4, n_w - j);
    const uint8_t* row[4];
    for (int64_t k = 0; k < 4; ++k)  // past the end: the last row again, its sums dropped
      row[k] = wb + static_cast<size_t>(j + std::min(k, jn - 1)) * w_row_bytes;
    for (int64_t r = 0; r < n_x; ++r) {
      const float* xr = x + r * ldx;
      typename V::vec a[4] = {V::zero(), V::zero(), V::zero(), V::zero()};
      for (int64_t b = 0; b < n; b += B) {
        typename V::vec s[4] = {V::zero(), V::zero(), V::zero(), V::zero()};
        for (int64_t i = b; i < b + B; i += W) {
          const typename V::vec xv = V::load(xr + i);
          for (int k = 0; k < 4; ++k) s[k] = V::fma(xv, L::codes(row[k], i), s[k]);
        }
        for (int k = 0; k < 4; ++k) a[k] = V::fma(s[k], V::broadcast(L::scale(row[k], b)), a[k]);
      }
      float out[4];
      V::reduce4(a[0], a[1], a[2], a[3], out);
      for (int64_t k = 0; k < jn; ++k) y[r * ldy + j + k] = out[k];
    }
  }
}

// A block row's values as f32 for dot_rows_shared: code * scale, which is exact in f32 (an
// 8-bit code times an f16 scale needs at most 19 significant bits), so the same values as
// dequantize_row's.
template <class V, class L>
struct ScaledCodes {
  static typename V::vec load(const void* row, int64_t i) {
    return V::fma(L::codes(row, i), V::broadcast(L::scale(row, i)), V::zero());
  }
};

template <class V, class L>
void axpy_rows_blocks(int64_t n, const float* p, int64_t ldp, int64_t n_p, const void* w, size_t w_row_bytes,
                      int64_t n_w, float* acc, int64_t ldacc) {
  constexpr int64_t W = V::W, B = 32, C = B / W;
  const auto* wb = static_cast<const uint8_t*>(w);
  for (int64_t i0 = 0; i0 < n; i0 += B) {
    for (int64_t r = 0; r < n_p; r += 2) {  // acc rows in pairs, one block's worth in registers
      const bool two = r + 1 < n_p;
      float* out0 = acc + r * ldacc + i0;
      float* out1 = two ? out0 + ldacc : out0;
      const float* p0 = p + r * ldp;
      const float* p1 = two ? p0 + ldp : p0;
      typename V::vec a0[C], a1[C];
      for (int64_t c = 0; c < C; ++c) {
        a0[c] = V::load(out0 + c * W);
        a1[c] = V::load(out1 + c * W);
      }
      for (int64_t j = 0; j < n_w; ++j) {
        const uint8_t* row = wb + static_cast<size_t>(j) * w_row_bytes;
        const float d = L::scale(row, i0);
        const typename V::vec b0 = V::broadcast(p0[j] * d), b1 = V::broadcast(p1[j] * d);
        for (int64_t c = 0; c < C; ++c) {
          const typename V::vec wv = L::codes(row, i0 + c * W);
          a0[c] = V::fma(b0, wv, a0[c]);
          a1[c] = V::fma(b1, wv, a1[c]);
        }
      }
      for (int64_t c = 0; c < C; ++c) {
        if (two) V::store(out1 + c * W, a1[c]);
        V::store(out0 + c * W, a0[c]);  // after out1: with one row left, out1 aliases out0
      }
    }
  }
}

}  // namespace
}  // namespace st::float_rows
