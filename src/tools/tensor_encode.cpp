#include "tools/tensor_encode.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "formats/gguf.h"
#include "formats/mapped_pages.h"
#include "kernels/kernel_table.h"
#include "kernels/thread_pool.h"

namespace smallthinker {

double EncodeError::relative_rms() const { return ref2 > 0 ? std::sqrt(err2 / ref2) : (err2 > 0 ? INFINITY : 0.0); }

EncodeError encode_rows(const RowSource& src, st::TensorType type, std::span<uint8_t> dst, st::ThreadPool& pool) {
  const st::KernelTable& kt = st::kernel_table(type);
  const int64_t n = src.n_cols;
  const size_t rb = st::row_bytes(type, n);
  const auto threads = static_cast<size_t>(pool.size());
  // Per thread: the input row, its dequantized image, and partial sums (no sharing, no locks).
  struct Scratch {
    std::vector<float> x, q;
    double err2 = 0, ref2 = 0;
  };
  std::vector<Scratch> scratch(threads);
  for (auto& s : scratch) {
    s.x.resize(static_cast<size_t>(n));
    s.q.resize(static_cast<size_t>(n));
  }
  constexpr uint64_t kBatchBytes = uint64_t{32} << 20;
  const uint64_t per_row = std::max<uint64_t>(1, src.source_bytes_per_row);
  const int64_t batch = std::max<int64_t>(1, static_cast<int64_t>(kBatchBytes / per_row));
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, n));
  for (int64_t first = 0; first < src.n_rows; first += batch) {
    const int64_t last = std::min(src.n_rows, first + batch);
    pool.parallel_for(last - first, grain, [&](int64_t b, int64_t e, int t) {
      Scratch& s = scratch[static_cast<size_t>(t)];
      for (int64_t r = first + b; r < first + e; ++r) {
        src.read(r, s.x.data());
        uint8_t* out = dst.data() + static_cast<size_t>(r) * rb;
        kt.quantize_row(s.x.data(), out, n);
        kt.dequantize_row(out, s.q.data(), n);
        double e2 = 0, r2 = 0;
        for (int64_t i = 0; i < n; ++i) {
          const double x = s.x[static_cast<size_t>(i)], d = s.q[static_cast<size_t>(i)] - x;
          e2 += d * d;
          r2 += x * x;
        }
        s.err2 += e2;
        s.ref2 += r2;
      }
    });
    if (src.release) src.release(first, last);
  }
  EncodeError total;
  for (const auto& s : scratch) {
    total.err2 += s.err2;
    total.ref2 += s.ref2;
  }
  return total;
}

void release_gguf_range(const st::GgufFile& file, uint64_t begin, uint64_t end) {
  st::release_mapped_pages(file.bytes(), file.file_size(), begin, end);
}

}  // namespace smallthinker
