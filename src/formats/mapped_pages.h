// Read-only file mappings: dropping pages that will not be read again, and turning a fault in
// a mapping whose file changed underneath it into a clear fatal error.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace st {

// madvise(MADV_DONTNEED) on the whole pages inside bytes [begin, end) of a mapping of map_len
// bytes at `base`, so resident memory does not grow to the file size (a converter that has
// encoded a tensor, an engine that keeps its own copy of some weights). Partial pages at either
// end stay: they hold a neighbour's bytes.
void release_mapped_pages(const uint8_t* base, uint64_t map_len, uint64_t begin, uint64_t end);

// A file truncated (or rewritten in place) while it is mapped makes the next read of a page past
// its new end raise SIGBUS, which kills the process with a bare "Bus error". Watched mappings
// instead end the process with a message naming the file and exit status 1. The SIGBUS
// handler is installed on the first call; a fault outside every watched mapping keeps the
// default action. Up to kMaxWatchedMappings at once (more are not watched); thread-safe.
inline constexpr int kMaxWatchedMappings = 32;
void watch_mapping(const void* base, size_t len, const std::string& path);
void unwatch_mapping(const void* base);

}  // namespace st
