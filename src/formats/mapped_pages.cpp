#include "formats/mapped_pages.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>

namespace st {

void release_mapped_pages(const uint8_t* base, uint64_t map_len, uint64_t begin, uint64_t end) {
  if (!base) return;
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t first = (begin + page - 1) / page * page;
  const uint64_t last = std::min(end, map_len) / page * page;
  if (first < last) madvise(const_cast<uint8_t*>(base) + first, last - first, MADV_DONTNEED);
}

}  // namespace st
