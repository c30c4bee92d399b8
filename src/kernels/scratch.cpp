// Compiled without ISA flags on purpose: called from every ISA folder.
#include "kernels/scratch.h"

#include <cstdlib>
#include <memory>
#include <new>

namespace st {

namespace {

struct Free {
  void operator()(void* p) const { std::free(p); }
};

// One grow-only, 64-byte aligned buffer of the calling thread.
template <int kSlot>
void* thread_buffer(size_t bytes) {
  thread_local std::unique_ptr<void, Free> buffer;
  thread_local size_t capacity = 0;
  if (bytes > capacity) {
    const size_t want = (bytes + bytes / 2 + 63) / 64 * 64;  // headroom against regrowth
    buffer.reset();
    capacity = 0;
    buffer.reset(std::aligned_alloc(64, want));
    if (!buffer) throw std::bad_alloc();
    capacity = want;
  }
  return buffer.get();
}

}  // namespace

void* kernel_scratch(size_t bytes) { return thread_buffer<0>(bytes); }

void* staging_scratch(size_t bytes) { return thread_buffer<1>(bytes); }

}  // namespace st
