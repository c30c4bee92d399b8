// ARM NEON kernels (aarch64). registry.cpp fills the plain-NEON entries (ARMv8.0 Advanced
// SIMD, every aarch64 CPU); integer_dotprod.cpp, compiled with +dotprod, replaces the integer dot
// kernels with SDOT versions and is only reached when dispatch.cpp saw HWCAP_ASIMDDP.
#pragma once
#include "kernels/kernel_table.h"

namespace st::neon {

void override_kernels(KernelTable& t);          // plain NEON, on top of ref/
void override_kernels_dotprod(KernelTable& t);  // SDOT, on top of override_kernels

// Row-group products (kernels/row_groups.h) of Q4_0 / Q8_0 tables, other types untouched:
// row_groups.cpp (plain NEON, with the packer) and row_groups_dotprod.cpp (SDOT).
void set_row_group_kernels(KernelTable& t);
void set_row_group_kernels_dotprod(KernelTable& t);

}  // namespace st::neon
