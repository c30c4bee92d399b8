// Scalar column group of neuron bundles (NeuronColumnsFn, kernels/neuron_bundles.h): the exact
// integer sums, scaled once per 32-neuron block; every ISA's kernel is tested against it.
#include <cstring>

#include "kernels/float_convert.h"
#include "kernels/ref/ref.h"

namespace st::ref {
namespace {

// Q4_0 code column: 32 outputs per 16 bytes, output h in the low nibble of byte h (of its
// chunk), output h + 16 in the high nibble.
inline uint8_t get_q4(const uint8_t* col, int64_t h) {
  const uint8_t b = col[(h / 32) * 16 + (h % 16)];
  return (h % 32) < 16 ? (b & 0x0F) : (b >> 4);
}

}  // namespace

void neuron_columns_group(TensorType type, const uint8_t* scales, const uint8_t* codes, size_t col_stride,
                          const int8_t* qa, float da, const int32_t* js, int n_js, int64_t h0, int64_t h1,
                          float* /*acc*/, float* out) {
  for (int64_t h = h0; h < h1; ++h) {
    int isum = 0;
    for (int k = 0; k < n_js; ++k) {
      const uint8_t* col = codes + static_cast<size_t>(js[k]) * col_stride;
      const int q = type == TensorType::Q4_0 ? get_q4(col, h) - 8 : static_cast<int8_t>(col[h]);
      isum += q * qa[js[k]];
    }
    uint16_t d;
    std::memcpy(&d, scales + 2 * h, 2);
    out[h - h0] += static_cast<float>(isum) * (fp16_to_fp32(d) * da);
  }
}

}  // namespace st::ref
