// AVX-512 (F/BW/VL/DQ) + VNNI kernels, used on top of the AVX2 table. Only dispatch.cpp
// includes this, after checking the CPU.
#pragma once
#include "kernels/kernel_table.h"

namespace st::avx512 {

// Replaces the entries of `table` (already holding the AVX2 versions) that have an AVX-512
// version; `has_bf16` enables the AVX512_BF16 ones.
void override_kernels(KernelTable& table, bool has_bf16);

// Neuron bundles' column groups (NeuronColumnsFn: neuron_columns.cpp) and the bandwidth
// probe's reads (IsaKernels::read_all: memory_read.cpp).
void neuron_columns_group(TensorType type, const uint8_t* scales, const uint8_t* codes, size_t col_stride,
                          const int8_t* qa, float da, const int32_t* js, int n_js, int64_t h0, int64_t h1, float* acc,
                          float* out);
uint64_t read_all(const void* p, size_t n);

}  // namespace st::avx512
