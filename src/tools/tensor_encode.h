// Encoding one tensor row by row into a GGUF tensor type, on a thread pool, measuring what
// the encoding lost. Shared by convert (rows from safetensors) and quantize (rows from GGUF).
// Rows are processed in batches; after each batch the source may drop the pages it read, so
// streaming a file larger than RAM keeps the resident set small.
#pragma once
#include <cstdint>
#include <functional>
#include <span>

#include "formats/tensor_type.h"

namespace st {
class ThreadPool;
class GgufFile;
}

namespace smallthinker {

struct RowSource {
  int64_t n_rows = 0;
  int64_t n_cols = 0;
  // Writes row `row` as n_cols floats; called concurrently from several threads.
  std::function<void(int64_t row, float* out)> read;
  // Rows [first, last) will not be read again (may be empty).
  std::function<void(int64_t first, int64_t last)> release;
  uint64_t source_bytes_per_row = 0;  // sizes the batches (about 32 MiB of source each)
};

struct EncodeError {
  double err2 = 0;  // sum (q - x)^2
  double ref2 = 0;  // sum x^2
  double relative_rms() const;
};

// Fills `dst` (n_rows rows of `type`) from `src`, and measures the dequantized result against
// the input.
EncodeError encode_rows(const RowSource& src, st::TensorType type, std::span<uint8_t> dst, st::ThreadPool& pool);

// Drops the pages of bytes [begin, end) of a mapped GGUF file from the resident set.
void release_gguf_range(const st::GgufFile& file, uint64_t begin, uint64_t end);

}  // namespace smallthinker
