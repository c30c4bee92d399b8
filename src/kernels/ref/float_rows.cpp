// The attention inner loops on K/V rows (kernel_table.h: DotRowsFn, AxpyRowsFn), plainly:
// each row element converted to f32 (a Q8_0/Q4_0 element is its code times the block's scale,
// exactly as dequantize_row computes it), products summed in order in f32.
#include "kernels/blocks.h"
#include "kernels/float_convert.h"
#include "kernels/kernel_table.h"
#include "kernels/ref/ref.h"

namespace st::ref {
namespace {

struct LoadF32 {
  static float at(const void* row, int64_t i) { return static_cast<const float*>(row)[i]; }
};
struct LoadF16 {
  static float at(const void* row, int64_t i) { return fp16_to_fp32(static_cast<const uint16_t*>(row)[i]); }
};
struct LoadBF16 {
  static float at(const void* row, int64_t i) { return bf16_to_fp32(static_cast<const uint16_t*>(row)[i]); }
};

struct LoadQ8_0 {
  static float at(const void* row, int64_t i) {
    const BlockQ8_0& b = static_cast<const BlockQ8_0*>(row)[i / kQK];
    return static_cast<float>(b.qs[i % kQK]) * fp16_to_fp32(b.d);
  }
};
struct LoadQ4_0 {
  static float at(const void* row, int64_t i) {
    const BlockQ4_0& b = static_cast<const BlockQ4_0*>(row)[i / kQK];
    const int j = static_cast<int>(i % kQK);
    const int code = j < kQK / 2 ? b.qs[j] & 0x0F : b.qs[j - kQK / 2] >> 4;
    return static_cast<float>(code - 8) * fp16_to_fp32(b.d);
  }
};

template <class Load>
void dot_rows(int64_t n, const float* x, int64_t ldx, int64_t n_x, const void* w, size_t w_row_bytes, int64_t n_w,
              float* y, int64_t ldy) {
  for (int64_t j = 0; j < n_w; ++j) {
    const void* row = static_cast<const uint8_t*>(w) + static_cast<size_t>(j) * w_row_bytes;
    for (int64_t r = 0; r < n_x; ++r) {
      float sum = 0;
      for (int64_t i = 0; i < n; ++i) sum += x[r * ldx + i] * Load::at(row, i);
      y[r * ldy + j] = sum;
    }
  }
}

template <class Load>
void axpy_rows(int64_t n, const float* p, int64_t ldp, int64_t n_p, const void* w, size_t w_row_bytes, int64_t n_w,
               float* acc, int64_t ldacc) {
  for (int64_t j = 0; j < n_w; ++j) {
    const void* row = static_cast<const uint8_t*>(w) + static_cast<size_t>(j) * w_row_bytes;
    for (int64_t r = 0; r < n_p; ++r) {
      const float pj = p[r * ldp + j];
      for (int64_t i = 0; i < n; ++i) acc[r * ldacc + i] += pj * Load::at(row, i);
    }
  }
}

}  // namespace

void set_float_rows(KernelTable& t) {
  switch (t.type) {
    case TensorType::F32:
      t.dot_rows = dot_rows<LoadF32>;
      t.axpy_rows = axpy_rows<LoadF32>;
      break;
    case TensorType::F16:
      t.dot_rows = dot_rows<LoadF16>;
      t.axpy_rows = axpy_rows<LoadF16>;
      break;
    case TensorType::BF16:
      t.dot_rows = dot_rows<LoadBF16>;
      t.axpy_rows = axpy_rows<LoadBF16>;
      break;
    case TensorType::Q8_0:
      t.dot_rows = dot_rows<LoadQ8_0>;
      t.axpy_rows = axpy_rows<LoadQ8_0>;
      break;
    case TensorType::Q4_0:
      t.dot_rows = dot_rows<LoadQ4_0>;
      t.axpy_rows = axpy_rows<LoadQ4_0>;
      break;
    default: break;
  }
}

}  // namespace st::ref
