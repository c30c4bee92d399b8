// Per-thread scratch memory for kernels that repack data (the batched gemm tiles). Grows on
// demand and is reused, so steady-state calls never allocate. The pointer is valid until the
// same thread asks again; kernels must not call each other while holding it.
#pragma once
#include <cstddef>

namespace st {

// At least `bytes` bytes, 64-byte aligned, owned by the calling thread.
void* kernel_scratch(size_t bytes);

// A second such buffer for code that stages data and then calls a kernel with it (matmul's
// row staging): holding kernel_scratch across that call would hand the kernel the same
// memory it is reading from or writing to (or free it, when the kernel's request grows it).
void* staging_scratch(size_t bytes);

}  // namespace st
