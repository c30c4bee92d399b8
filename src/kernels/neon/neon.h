// ARM NEON kernels (aarch64). registry.cpp fills the plain-NEON entries (ARMv8.0 Advanced
// SIMD, every aarch64 CPU); integer_dotprod.cpp, compiled with +dotprod, replaces the integer dot
// kernels with SDOT versions and is only reached when dispatch.cpp saw HWCAP_ASIMDDP.
#pragma once
#include "kernels/kernel_table.h"

namespace st::neon {

void override_kernels(KernelTable& t);          // plain NEON, on top of ref/
void override_kernels_dotprod(KernelTable& t);  // SDOT, on top of override_kernels

}  // namespace st::neon
