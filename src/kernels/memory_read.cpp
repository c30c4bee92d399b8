#include "kernels/memory_read.h"

#include "kernels/kernel_table.h"

namespace st {

uint64_t read_all(const void* p, size_t n) { return isa_kernels().read_all(p, n); }

}  // namespace st
