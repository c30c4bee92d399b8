// AVX2 + FMA + F16C kernels. Only dispatch.cpp includes this, and only calls into it after it
// has checked the CPU. Same signatures as ref/ (kernel_table.h).
#pragma once
#include "kernels/kernel_table.h"

namespace st::avx2 {

// Replaces the entries of `table` (built from ref/) that have an AVX2 version.
void override_kernels(KernelTable& table);

// Neuron bundles' column groups (NeuronColumnsFn: neuron_columns.cpp) and the bandwidth
// probe's reads (IsaKernels::read_all: memory_read.cpp).
void neuron_columns_group(TensorType type, const uint8_t* scales, const uint8_t* codes, size_t col_stride,
                          const int8_t* qa, float da, const int32_t* js, int n_js, int64_t h0, int64_t h1, float* acc,
                          float* out);
uint64_t read_all(const void* p, size_t n);

}  // namespace st::avx2
