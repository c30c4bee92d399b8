// Under a memory budget the dense weights (attention, routers, lm_head) are copied out of
// the file into anonymous memory, reading through the page cache in chunks and dropping the
// pages behind, so the process never holds the file's pages on top of its budget. Token
// embeddings stay on storage and are read one row per token.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/page_buffer.h"
#include "model/expert_source.h"
#include "model/weight_packing.h"
#include "model/weights.h"

namespace st {

class GgufFile;

class DenseWeights {
 public:
  // Rewrites the dense views of `weights` to point into memory owned by this object and
  // clears token_embd's data pointer when embeddings are read on demand (untied lm_head).
  DenseWeights(const GgufFile& file, ModelWeights& weights, const ByteProgress& progress = {});
  ~DenseWeights();
  DenseWeights(const DenseWeights&) = delete;
  DenseWeights& operator=(const DenseWeights&) = delete;

  uint64_t bytes() const { return bytes_; }
  RowReader* embedding_reader() { return embeddings_on_demand_ ? &embedding_reader_ : nullptr; }

 private:
  class EmbeddingReader final : public RowReader {
   public:
    void read_row(int64_t row, uint8_t* dst) override;
    std::string path;
    int fd = -1;
    uint64_t offset = 0;
    size_t row_bytes = 0;
    int64_t n_rows = 0;
  };
  PageBuffer memory_;
  uint64_t bytes_ = 0;
  bool embeddings_on_demand_ = false;
  EmbeddingReader embedding_reader_;
};

// Turns off readahead for the file's mapping (MADV_RANDOM).
void disable_readahead(const GgufFile& file);

// Drops the file's pages from this process and from the page cache (after metadata parsing).
void drop_file_pages(const GgufFile& file);

}  // namespace st
