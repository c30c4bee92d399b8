// AVX2 + FMA + F16C kernels. Only dispatch.cpp includes this, and only calls into it after it
// has checked the CPU. Same signatures as ref/ (kernel_table.h).
#pragma once
#include "kernels/kernel_table.h"

namespace st::avx2 {

// Replaces the entries of `table` (built from ref/) that have an AVX2 version.
void override_kernels(KernelTable& table);

}  // namespace st::avx2
