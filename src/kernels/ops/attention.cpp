#include "kernels/ops/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/kernel_table.h"
#include "kernels/thread_pool.h"

namespace st::ops {
namespace {

constexpr int64_t kKeyBlock = 64;  // keys per block: scores of one block fit in L1

// Per-thread scratch, sized once per call.
struct Scratch {
  std::vector<float> k, v;        // [kKeyBlock, head_dim] dequantized rows of one kv head
  std::vector<float> scores;      // [n_q, kKeyBlock]
};

}  // namespace

void attention(const AttentionShape& s, const float* q, const int64_t* q_pos, int64_t n_tok,
               const std::vector<KvSegment>& segments, float* out, ThreadPool& pool) {
  const int64_t hd = s.head_dim;
  const int group = s.n_head / s.n_head_kv;  // query heads per kv head (GQA)
  const int64_t q_stride = static_cast<int64_t>(s.n_head) * hd;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const KernelTable& f32 = kernel_table(TensorType::F32);

  // Work item = (kv head, query token). All `group` query heads of that token share the
  // dequantized key/value blocks, so each block is converted once per item.
  const int64_t n_items = static_cast<int64_t>(s.n_head_kv) * n_tok;
  std::vector<Scratch> scratch(static_cast<size_t>(pool.size()));
  for (auto& sc : scratch) {
    sc.k.resize(static_cast<size_t>(kKeyBlock * hd));
    sc.v.resize(static_cast<size_t>(kKeyBlock * hd));
    sc.scores.resize(static_cast<size_t>(group * kKeyBlock));
  }

  pool.parallel_for(n_items, 1, [&](int64_t begin, int64_t end, int thread) {
    Scratch& sc = scratch[static_cast<size_t>(thread)];
    float m[64], l[64];  // running max and sum per query head of the group (group <= 64)
    for (int64_t item = begin; item < end; ++item) {
      const int g = static_cast<int>(item / n_tok);
      const int64_t t = item % n_tok;
      const int64_t p = q_pos[t];
      const int64_t lo = s.window > 0 ? std::max<int64_t>(0, p - s.window + 1) : 0;
      const float* qg = q + t * q_stride + static_cast<int64_t>(g) * group * hd;  // [group, hd]
      float* og = out + t * q_stride + static_cast<int64_t>(g) * group * hd;
      std::fill(og, og + group * hd, 0.0f);
      std::fill(m, m + group, -std::numeric_limits<float>::infinity());
      std::fill(l, l + group, 0.0f);

      for (const KvSegment& seg : segments) {
        const int64_t a = std::max(lo, seg.first_pos);
        const int64_t b = std::min(p + 1, seg.first_pos + seg.n_pos);
        const KernelTable& kt = kernel_table(seg.type);
        const size_t head_off = static_cast<size_t>(g * hd) * (seg.type == TensorType::F32 ? 4 : 2);
        for (int64_t b0 = a; b0 < b; b0 += kKeyBlock) {
          const int64_t nb = std::min(kKeyBlock, b - b0);
          for (int64_t j = 0; j < nb; ++j) {
            const size_t row = static_cast<size_t>(b0 + j - seg.first_pos) * seg.row_bytes + head_off;
            kt.dequantize_row(seg.k + row, sc.k.data() + j * hd, hd);
            kt.dequantize_row(seg.v + row, sc.v.data() + j * hd, hd);
          }
          // scores[h, j] = q_h . k_j
          f32.gemm(hd, sc.k.data(), static_cast<size_t>(hd) * 4, nb, qg, static_cast<size_t>(hd) * 4, group,
                   sc.scores.data(), kKeyBlock);
          for (int h = 0; h < group; ++h) {
            float* sh = sc.scores.data() + h * kKeyBlock;
            float bmax = -std::numeric_limits<float>::infinity();
            for (int64_t j = 0; j < nb; ++j) {
              sh[j] *= scale;
              bmax = std::max(bmax, sh[j]);
            }
            // Online softmax: rescale what was accumulated under the old maximum.
            const float new_m = std::max(m[h], bmax);
            const float corr = std::exp(m[h] - new_m);
            float* oh = og + h * hd;
            if (corr != 1.0f) {
              l[h] *= corr;
              for (int64_t d = 0; d < hd; ++d) oh[d] *= corr;
            }
            m[h] = new_m;
            for (int64_t j = 0; j < nb; ++j) {
              const float w = std::exp(sh[j] - new_m);
              l[h] += w;
              const float* vj = sc.v.data() + j * hd;
              for (int64_t d = 0; d < hd; ++d) oh[d] += w * vj[d];
            }
          }
        }
      }
      for (int h = 0; h < group; ++h) {
        const float inv = l[h] > 0 ? 1.0f / l[h] : 0.0f;
        for (int64_t d = 0; d < hd; ++d) og[h * hd + d] *= inv;
      }
    }
  });
}

}  // namespace st::ops
