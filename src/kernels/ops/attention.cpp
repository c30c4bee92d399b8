#include "kernels/ops/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/kernel_table.h"
#include "kernels/thread_pool.h"

namespace st::ops {
namespace {

constexpr int64_t kKeyBlock = 64;  // keys per block: one block's scores and K/V rows fit in L1
// Query rows (tokens x the kv head's query heads) per work item. A prefill tile converts each
// key/value block once for all its rows and multiplies them as two small matrix products
// (scores = Q K^T, then P V), instead of once per query token with a vector loop per key.
constexpr int64_t kTileRows = 96;

// Per-thread scratch, sized once per call.
struct Scratch {
  std::vector<float> q;       // [rows, hd] the tile's query rows, contiguous
  std::vector<float> k;       // [kKeyBlock, hd] dequantized key rows of one kv head
  std::vector<float> vt;      // [hd, kKeyBlock] dequantized values, transposed (rows = dims)
  std::vector<float> v_row;   // [hd] one value row before transposing
  std::vector<float> scores;  // [rows, kKeyBlock] scores, then softmax weights (0 off the mask)
  std::vector<float> pv;      // [rows, hd] one block's P V
  std::vector<float> acc;     // [rows, hd] running output under the online softmax
  std::vector<float> m, l;    // [rows] running max and sum
};

}  // namespace

void attention(const AttentionShape& s, const float* q, const int64_t* q_pos, int64_t n_tok,
               const std::vector<KvSegment>& segments, float* out, ThreadPool& pool) {
  const int64_t hd = s.head_dim;
  const int group = s.n_head / s.n_head_kv;  // query heads per kv head (GQA)
  const int64_t q_stride = static_cast<int64_t>(s.n_head) * hd;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const KernelTable& f32 = kernel_table(TensorType::F32);
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();

  // Work item = (kv head, tile of consecutive query tokens). All `group` query heads of the
  // tile's tokens share each converted key/value block.
  const int64_t tile_tok = std::max<int64_t>(1, kTileRows / group);
  const int64_t n_tiles = (n_tok + tile_tok - 1) / tile_tok;
  const int64_t n_items = static_cast<int64_t>(s.n_head_kv) * n_tiles;
  const int64_t max_rows = std::min(tile_tok, n_tok) * group;
  std::vector<Scratch> scratch(static_cast<size_t>(pool.size()));
  for (auto& sc : scratch) {
    sc.q.resize(static_cast<size_t>(max_rows * hd));
    sc.k.resize(static_cast<size_t>(kKeyBlock * hd));
    sc.vt.resize(static_cast<size_t>(kKeyBlock * hd));
    sc.v_row.resize(static_cast<size_t>(hd));
    sc.scores.resize(static_cast<size_t>(max_rows * kKeyBlock));
    sc.pv.resize(static_cast<size_t>(max_rows * hd));
    sc.acc.resize(static_cast<size_t>(max_rows * hd));
    sc.m.resize(static_cast<size_t>(max_rows));
    sc.l.resize(static_cast<size_t>(max_rows));
  }

  pool.parallel_for(n_items, 1, [&](int64_t begin, int64_t end, int thread) {
    Scratch& sc = scratch[static_cast<size_t>(thread)];
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
        const KernelTable& kt = kernel_table(seg.type);
        const size_t head_off = static_cast<size_t>(g * hd) * (seg.type == TensorType::F32 ? 4 : 2);
        for (int64_t b0 = a; b0 < b; b0 += kKeyBlock) {
          const int64_t nb = std::min(kKeyBlock, b - b0);
          for (int64_t j = 0; j < nb; ++j) {
            const size_t row = static_cast<size_t>(b0 + j - seg.first_pos) * seg.row_bytes + head_off;
            kt.dequantize_row(seg.k + row, sc.k.data() + j * hd, hd);
            kt.dequantize_row(seg.v + row, sc.v_row.data(), hd);
            for (int64_t d = 0; d < hd; ++d) sc.vt[static_cast<size_t>(d * kKeyBlock + j)] = sc.v_row[static_cast<size_t>(d)];
          }
          for (int64_t d = 0; d < hd; ++d)  // keys past the block's end weigh 0
            std::fill(sc.vt.begin() + d * kKeyBlock + nb, sc.vt.begin() + (d + 1) * kKeyBlock, 0.0f);
          // scores[r, j] = q_r . k_j
          f32.gemm(hd, sc.k.data(), static_cast<size_t>(hd) * 4, nb, sc.q.data(), static_cast<size_t>(hd) * 4, rows,
                   sc.scores.data(), kKeyBlock);
          bool any = false;
          for (int64_t r = 0; r < rows; ++r) {
            const int64_t p = q_pos[t0 + r / group];
            const int64_t lo = s.window > 0 ? std::max<int64_t>(0, p - s.window + 1) : 0;
            const int64_t j0 = std::clamp<int64_t>(lo - b0, 0, nb), j1 = std::clamp<int64_t>(p + 1 - b0, 0, nb);
            float* sr = sc.scores.data() + r * kKeyBlock;
            if (j0 >= j1) {  // no key of this block is visible to the row
              std::fill(sr, sr + kKeyBlock, 0.0f);
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
            float sum = 0.0f;
            std::fill(sr, sr + j0, 0.0f);
            for (int64_t j = j0; j < j1; ++j) sum += (sr[j] = std::exp(sr[j] - new_m));
            std::fill(sr + j1, sr + kKeyBlock, 0.0f);
            sc.l[static_cast<size_t>(r)] += sum;
          }
          if (!any) continue;
          // pv[r, d] = sum_j w[r, j] v_j[d] = vt row d . weights row r
          f32.gemm(kKeyBlock, sc.vt.data(), static_cast<size_t>(kKeyBlock) * 4, hd, sc.scores.data(),
                   static_cast<size_t>(kKeyBlock) * 4, rows, sc.pv.data(), hd);
          for (int64_t i = 0; i < rows * hd; ++i) sc.acc[static_cast<size_t>(i)] += sc.pv[static_cast<size_t>(i)];
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
