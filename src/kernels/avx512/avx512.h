// AVX-512 (F/BW/VL/DQ) + VNNI kernels, used on top of the AVX2 table. Only dispatch.cpp
// includes this, after checking the CPU.
#pragma once
#include "kernels/kernel_table.h"

namespace st::avx512 {

// Replaces the entries of `table` (already holding the AVX2 versions) that have an AVX-512
// version; `has_bf16` enables the AVX512_BF16 ones.
void override_kernels(KernelTable& table, bool has_bf16);

}  // namespace st::avx512
