#include "runtime/dense_weights.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "formats/gguf.h"
#include "model/weight_packing.h"

namespace st {
namespace {

constexpr size_t kChunk = 4u << 20;

// Reads [offset, offset + n) into dst through the page cache, dropping each chunk after use.
void read_dropping(int fd, const std::string& path, uint64_t offset, uint8_t* dst, size_t n) {
  size_t done = 0;
  while (done < n) {
    const size_t want = std::min(kChunk, n - done);
    const ssize_t got = pread(fd, dst + done, want, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0)
      throw std::runtime_error(path + ": reading weights at offset " + std::to_string(offset + done) + " failed: " +
                               (got == 0 ? std::string("the file is truncated") : std::strerror(errno)));
    posix_fadvise(fd, static_cast<off_t>(offset + done), got, POSIX_FADV_DONTNEED);
    done += static_cast<size_t>(got);
  }
}

}  // namespace

void disable_readahead(const GgufFile& file) {
  madvise(const_cast<uint8_t*>(file.bytes()), file.file_size(), MADV_RANDOM);
}

void drop_file_pages(const GgufFile& file) {
  // The mapping's pages were touched only while parsing metadata; unmap them from this
  // process (MADV_DONTNEED) and ask the kernel to drop them from the page cache.
  const long page = sysconf(_SC_PAGESIZE);
  const size_t len = static_cast<size_t>((file.data_offset() + static_cast<uint64_t>(page) - 1) / static_cast<uint64_t>(page)) *
                     static_cast<size_t>(page);
  madvise(const_cast<uint8_t*>(file.bytes()), std::min<size_t>(len, file.file_size()), MADV_DONTNEED);
  const int fd = ::open(file.path().c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

DenseWeights::DenseWeights(const GgufFile& file, ModelWeights& w, const ByteProgress& progress) {
  std::vector<TensorView*> views = dense_matmul_views(w);
  if (w.tied_output) views.push_back(&w.output);  // also the embedding table: copied, never packed
  embeddings_on_demand_ = !w.tied_output;
  for (const TensorView* v : views) bytes_ += (v->n_bytes() + 63) / 64 * 64;
  memory_ = PageBuffer(bytes_, "the dense weights");

  const int fd = ::open(file.path().c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(file.path() + ": " + std::strerror(errno));
  // No readahead: it would pull pages beyond each range into the page cache, where the
  // DONTNEED after each chunk cannot see them.
  posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
  uint8_t* at = memory_.data();
  const uint8_t* map_base = file.bytes();
  try {
    for (TensorView* v : views) {
      // The view points into the file mapping: its file offset is its distance from the base.
      const uint64_t offset = static_cast<uint64_t>(v->data - map_base);
      read_dropping(fd, file.path(), offset, at, v->n_bytes());
      if (v == &w.output && w.tied_output) w.token_embd.data = at;
      v->data = at;
      at += (v->n_bytes() + 63) / 64 * 64;
      if (progress) progress(static_cast<uint64_t>(at - memory_.data()), bytes_);
    }
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (embeddings_on_demand_) {
    embedding_reader_.path = file.path();
    embedding_reader_.fd = fd;
    embedding_reader_.offset = file.find_tensor("token_embd.weight")->file_offset;
    embedding_reader_.row_bytes = w.token_embd.row_bytes;
    embedding_reader_.n_rows = w.token_embd.n_rows;
    w.token_embd.data = nullptr;
  } else {
    ::close(fd);
  }
}

DenseWeights::~DenseWeights() {
  if (embedding_reader_.fd >= 0) ::close(embedding_reader_.fd);
}

void DenseWeights::EmbeddingReader::read_row(int64_t row, uint8_t* dst) {
  if (row < 0 || row >= n_rows) throw std::out_of_range("embedding row " + std::to_string(row) + " out of range");
  read_dropping(fd, path, offset + static_cast<uint64_t>(row) * row_bytes, dst, row_bytes);
}

}  // namespace st
