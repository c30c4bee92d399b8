#include "kernels/page_buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace st {
namespace {
constexpr size_t kHugePage = size_t{2} << 20;
}  // namespace

PageBuffer::PageBuffer(size_t bytes, const char* what, bool populate) : size_(bytes) {
  if (bytes == 0) return;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  mapped_ = (bytes + page - 1) / page * page;
  const bool huge = mapped_ >= kHugePage;
  // Over-map by a huge page less one page, then trim both ends to a 2 MiB-aligned start.
  const size_t span = huge ? mapped_ + kHugePage - page : mapped_;
  void* m = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED)
    throw std::runtime_error(std::string("cannot allocate ") + std::to_string(bytes) + " bytes for " + what + ": " +
                             std::strerror(errno));
  auto* base = static_cast<uint8_t*>(m);
  data_ = base;
  if (huge) {
    const auto addr = reinterpret_cast<uintptr_t>(base);
    data_ = reinterpret_cast<uint8_t*>((addr + kHugePage - 1) / kHugePage * kHugePage);
    const size_t head = static_cast<size_t>(data_ - base), tail = span - head - mapped_;
    if (head) munmap(base, head);
    if (tail) munmap(data_ + mapped_, tail);
    madvise(data_, mapped_, MADV_HUGEPAGE);  // advice: without THP the pages are 4 KiB
  }
  // One write per page (the memory reads as zero already). MADV_POPULATE_WRITE would do the
  // same, but only on Linux >= 5.14, and qemu-user accepts it without doing anything.
  if (populate)
    for (size_t o = 0; o < mapped_; o += page) reinterpret_cast<volatile uint8_t*>(data_)[o] = 0;
}

PageBuffer& PageBuffer::operator=(PageBuffer&& o) noexcept {
  if (this != &o) {
    reset();
    data_ = o.data_, size_ = o.size_, mapped_ = o.mapped_;
    o.data_ = nullptr, o.size_ = o.mapped_ = 0;
  }
  return *this;
}

void PageBuffer::reset() {
  if (data_) munmap(data_, mapped_);
  data_ = nullptr;
  size_ = mapped_ = 0;
}

}  // namespace st
