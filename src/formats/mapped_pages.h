// Dropping pages of a read-only file mapping that will not be read again (a converter that has
// encoded a tensor, an engine that keeps its own copy of some weights), so resident memory
// does not grow to the file size.
#pragma once
#include <cstdint>

namespace st {

// madvise(MADV_DONTNEED) on the whole pages inside bytes [begin, end) of a mapping of map_len
// bytes at `base`. Partial pages at either end stay: they hold a neighbour's bytes.
void release_mapped_pages(const uint8_t* base, uint64_t map_len, uint64_t begin, uint64_t end);

}  // namespace st
