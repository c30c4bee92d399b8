// Anonymous memory for large, long-lived buffers: re-laid weights, the dense weights and the
// expert cache under a memory budget, KV caches. Page-aligned, and 2 MiB-aligned and advised
// onto transparent huge pages when it spans at least one (Debian's default THP mode is
// "madvise"). The kernel zeroes fresh memory on first touch; with 4 KiB pages that is one
// fault per 4 KiB, and re-laying a 4.3 GB Q8_0 model took ~11 s in a VM against ~6 s on huge
// pages. Untouched pages cost nothing, so a KV cache sized for the whole context grows with
// the tokens actually stored.
#pragma once
#include <cstddef>
#include <cstdint>

namespace st {

class PageBuffer {
 public:
  PageBuffer() = default;
  // Throws std::runtime_error naming `what` and the size when the memory is not there.
  // populate: fault every page in now (the budget is taken at once, visibly).
  PageBuffer(size_t bytes, const char* what, bool populate = false);
  ~PageBuffer() { reset(); }
  PageBuffer(PageBuffer&& o) noexcept : data_(o.data_), size_(o.size_), mapped_(o.mapped_) { o.data_ = nullptr; o.size_ = o.mapped_ = 0; }
  PageBuffer& operator=(PageBuffer&& o) noexcept;
  PageBuffer(const PageBuffer&) = delete;
  PageBuffer& operator=(const PageBuffer&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }  // as asked
  explicit operator bool() const { return data_ != nullptr; }
  void reset();  // gives the memory back to the system

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;  // whole pages
};

}  // namespace st
