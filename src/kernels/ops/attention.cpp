#include "kernels/ops/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "kernels/kernel_table.h"
#include "kernels/ops/fast_exp.h"
#include "kernels/thread_pool.h"

namespace st::ops {
namespace {

constexpr int64_t kKeyBlock = 64;  // keys per block: one block's scores and K/V rows fit in L1
// Query rows (tokens x the kv head's query heads) per work item: every row of a tile goes
// over each key/value block while it is in L1. Tile sizes from 24 to 384 rows measured
// alike (kernels_bench attention/f16/prefill/512); this one leaves enough items to share.
constexpr int64_t kTileRows = 96;

// Per-thread scratch; it only grows (a decode step runs attention once per layer, and
// allocating and zeroing it every time cost more than the arithmetic).
struct Scratch {
  std::vector<float> q;       // [rows, hd] the tile's query rows, contiguous
  std::vector<float> scores;  // [rows, kKeyBlock] scores, then softmax weights (0 off the mask)
  std::vector<float> acc;     // [rows, hd] running output under the online softmax
  std::vector<float> m, l;    // [rows] running max and sum
  std::vector<float> kf, vf;  // [kKeyBlock, hd] a block of Q8_0/Q4_0 keys / values in f32
  void fit(int64_t rows, int64_t hd) {
    auto grow = [](std::vector<float>& v, int64_t n) {
      if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
    };
    grow(q, rows * hd);
    grow(scores, rows * kKeyBlock);
    grow(acc, rows * hd);
    grow(m, rows);
    grow(l, rows);
    grow(kf, kKeyBlock * hd);
    grow(vf, kKeyBlock * hd);
  }
};

// Block-quantized K/V rows are converted once per tile into f32 (each query row of the tile
// then reads them as f32): a decode step's query heads of one kv head would otherwise each
// convert every code again. Float types are read in place.
bool convert_per_tile(TensorType t) { return t == TensorType::Q8_0 || t == TensorType::Q4_0; }

const uint8_t* rows_as_f32(const KernelTable& kt, const uint8_t* rows, size_t row_bytes, int64_t n, int64_t hd,
                           std::vector<float>& buf) {
  for (int64_t j = 0; j < n; ++j) kt.dequantize_row(rows + static_cast<size_t>(j) * row_bytes, buf.data() + j * hd, hd);
  return reinterpret_cast<const uint8_t*>(buf.data());
}

}  // namespace

void attention(const AttentionShape& s, const float* q, const int64_t* q_pos, int64_t n_tok,
               const std::vector<KvSegment>& segments, float* out, ThreadPool& pool) {
  const int64_t hd = s.head_dim;
  const int group = s.n_head / s.n_head_kv;  // query heads per kv head (GQA)
  const int64_t q_stride = static_cast<int64_t>(s.n_head) * hd;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  for (const KvSegment& seg : segments) {
    if (!kernel_table(seg.k_type).dot_rows)
      throw std::invalid_argument("attention: no K kernels for cache type " + std::string(tensor_type_name(seg.k_type)));
    if (!kernel_table(seg.v_type).axpy_rows)
      throw std::invalid_argument("attention: no V kernels for cache type " + std::string(tensor_type_name(seg.v_type)));
    if (!row_fits(seg.k_type, hd) || !row_fits(seg.v_type, hd))
      throw std::invalid_argument("attention: head size " + std::to_string(hd) + " is not a whole number of " +
                                  std::string(tensor_type_name(row_fits(seg.k_type, hd) ? seg.v_type : seg.k_type)) +
                                  " blocks");
  }

  // Work item = (kv head, tile of consecutive query tokens). Scores come from the cached K
  // rows in place (dot_rows: each key row is converted once per query row it meets, in L1)
  // and P V adds the cached V rows in place (axpy_rows): no f32 copy or transpose of a block.
  const int64_t tile_tok = std::max<int64_t>(1, kTileRows / group);
  const int64_t n_tiles = (n_tok + tile_tok - 1) / tile_tok;
  const int64_t n_items = static_cast<int64_t>(s.n_head_kv) * n_tiles;
  const int64_t max_rows = std::min(tile_tok, n_tok) * group;
  pool.parallel_for(n_items, 1, [&](int64_t begin, int64_t end, int) {
    thread_local Scratch sc;
    sc.fit(max_rows, hd);
    for (int64_t item = begin; item < end; ++item) {
      const int g = static_cast<int>(item / n_tiles);
      const int64_t t0 = (item % n_tiles) * tile_tok, t1 = std::min(n_tok, t0 + tile_tok);
      const int64_t rows = (t1 - t0) * group;  // row r: token t0 + r / group, head r % group
      // The keys any token of the tile may see.
      int64_t key_lo = std::numeric_limits<int64_t>::max(), key_hi = -1;
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t p = q_pos[t];
        key_lo = std::min(key_lo, s.window > 0 ? std::max<int64_t>(0, p - s.window + 1) : 0);
        key_hi = std::max(key_hi, p + 1);
      }
      for (int64_t t = t0; t < t1; ++t)
        std::memcpy(sc.q.data() + (t - t0) * group * hd, q + t * q_stride + static_cast<int64_t>(g) * group * hd,
                    static_cast<size_t>(group * hd) * sizeof(float));
      std::fill(sc.acc.begin(), sc.acc.begin() + rows * hd, 0.0f);
      std::fill(sc.m.begin(), sc.m.begin() + rows, kNegInf);
      std::fill(sc.l.begin(), sc.l.begin() + rows, 0.0f);

      for (const KvSegment& seg : segments) {
        const int64_t a = std::max(key_lo, seg.first_pos);
        const int64_t b = std::min(key_hi, seg.first_pos + seg.n_pos);
        const KernelTable& f32 = kernel_table(TensorType::F32);
        const bool k_conv = convert_per_tile(seg.k_type), v_conv = convert_per_tile(seg.v_type);
        const KernelTable& kt = k_conv ? f32 : kernel_table(seg.k_type);
        const KernelTable& vt = v_conv ? f32 : kernel_table(seg.v_type);
        const size_t k_stride = k_conv ? static_cast<size_t>(hd) * 4 : seg.k_row_bytes;
        const size_t v_stride = v_conv ? static_cast<size_t>(hd) * 4 : seg.v_row_bytes;
        const size_t k_head = row_bytes(seg.k_type, g * hd), v_head = row_bytes(seg.v_type, g * hd);
        for (int64_t b0 = a; b0 < b; b0 += kKeyBlock) {
          const int64_t nb = std::min(kKeyBlock, b - b0);
          const size_t first = static_cast<size_t>(b0 - seg.first_pos);
          const uint8_t* k_rows = seg.k + first * seg.k_row_bytes + k_head;
          const uint8_t* v_rows = seg.v + first * seg.v_row_bytes + v_head;
          if (k_conv) k_rows = rows_as_f32(kernel_table(seg.k_type), k_rows, seg.k_row_bytes, nb, hd, sc.kf);
          // scores[r, j] = q_r . k_j
          kt.dot_rows(hd, sc.q.data(), hd, rows, k_rows, k_stride, nb, sc.scores.data(), kKeyBlock);
          bool any = false;
          for (int64_t r = 0; r < rows; ++r) {
            const int64_t p = q_pos[t0 + r / group];
            const int64_t lo = s.window > 0 ? std::max<int64_t>(0, p - s.window + 1) : 0;
            const int64_t j0 = std::clamp<int64_t>(lo - b0, 0, nb), j1 = std::clamp<int64_t>(p + 1 - b0, 0, nb);
            float* sr = sc.scores.data() + r * kKeyBlock;
            if (j0 >= j1) {  // no key of this block is visible to the row
              std::fill(sr, sr + nb, 0.0f);
              continue;
            }
            any = true;
            float bmax = kNegInf;
            for (int64_t j = j0; j < j1; ++j) bmax = std::max(bmax, sr[j] *= scale);
            // Online softmax: rescale what was accumulated under the old maximum.
            float& m = sc.m[static_cast<size_t>(r)];
            const float new_m = std::max(m, bmax);
            const float corr = std::exp(m - new_m);
            if (corr != 1.0f) {
              sc.l[static_cast<size_t>(r)] *= corr;
              float* ar = sc.acc.data() + r * hd;
              for (int64_t d = 0; d < hd; ++d) ar[d] *= corr;
            }
            m = new_m;
            exp_shifted(sr + j0, new_m, sr + j0, j1 - j0);
            float sum = 0.0f;
            for (int64_t j = j0; j < j1; ++j) sum += sr[j];
            std::fill(sr, sr + j0, 0.0f);
            std::fill(sr + j1, sr + nb, 0.0f);
            sc.l[static_cast<size_t>(r)] += sum;
          }
          // acc[r] += sum_j w[r, j] v_j
          if (any) {
            if (v_conv) v_rows = rows_as_f32(kernel_table(seg.v_type), v_rows, seg.v_row_bytes, nb, hd, sc.vf);
            vt.axpy_rows(hd, sc.scores.data(), kKeyBlock, rows, v_rows, v_stride, nb, sc.acc.data(), hd);
          }
        }
      }
      for (int64_t r = 0; r < rows; ++r) {
        const float l = sc.l[static_cast<size_t>(r)];
        const float inv = l > 0 ? 1.0f / l : 0.0f;
        const int64_t t = t0 + r / group;
        float* o = out + t * q_stride + (static_cast<int64_t>(g) * group + r % group) * hd;
        for (int64_t d = 0; d < hd; ++d) o[d] = sc.acc[static_cast<size_t>(r * hd + d)] * inv;
      }
    }
  });
}

}  // namespace st::ops
