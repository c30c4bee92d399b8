// ops::attention against a direct double-precision softmax(q k^T / sqrt(d)) v, with keys
// spread over several segments (as a wrapped ring buffer plus the fresh batch provide them).
#include "kernels/ops/attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <optional>
#include <random>

#include "kernels/kernel_table.h"
#include "kernels/thread_pool.h"

namespace st::ops {
namespace {

struct Case {
  int n_head, n_head_kv;
  int64_t head_dim, window, n_pos, n_tok;
  TensorType cache_type;                // K's (and V's unless v_type is given)
  std::optional<TensorType> v_type = {};
};

class AttentionTest : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionTest, MatchesDirectSoftmax) {
  const Case c = GetParam();
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t kvw = c.n_head_kv * c.head_dim, qw = c.n_head * c.head_dim;
  std::vector<float> k(static_cast<size_t>(c.n_pos * kvw)), v(k.size()), q(static_cast<size_t>(c.n_tok * qw));
  for (auto* buf : {&k, &v, &q})
    for (auto& x : *buf) x = nd(rng) * 1.5f;

  // Positions [0, n_pos - n_tok) are "cached" in cache_type, split into two segments out of
  // order (a wrapped ring); the last n_tok positions are the fresh f32 batch.
  const int64_t n_cached = c.n_pos - c.n_tok;
  const TensorType k_type = c.cache_type, v_type = c.v_type.value_or(c.cache_type);
  const size_t krow = row_bytes(k_type, kvw), vrow = row_bytes(v_type, kvw);
  std::vector<uint8_t> kc(krow * static_cast<size_t>(n_cached)), vc(vrow * static_cast<size_t>(n_cached));
  const KernelTable& kt = kernel_table(k_type);
  const KernelTable& vt = kernel_table(v_type);
  for (int64_t p = 0; p < n_cached; ++p) {
    kt.quantize_row(k.data() + p * kvw, kc.data() + static_cast<size_t>(p) * krow, kvw);
    vt.quantize_row(v.data() + p * kvw, vc.data() + static_cast<size_t>(p) * vrow, kvw);
    // The reference sees the same rounded values the cache holds.
    kt.dequantize_row(kc.data() + static_cast<size_t>(p) * krow, k.data() + p * kvw, kvw);
    vt.dequantize_row(vc.data() + static_cast<size_t>(p) * vrow, v.data() + p * kvw, kvw);
  }
  std::vector<KvSegment> segs;
  const size_t split = static_cast<size_t>(n_cached / 3);
  segs.push_back({static_cast<int64_t>(split), n_cached - static_cast<int64_t>(split), k_type, v_type,
                  kc.data() + split * krow, vc.data() + split * vrow, krow, vrow});
  segs.push_back({0, static_cast<int64_t>(split), k_type, v_type, kc.data(), vc.data(), krow, vrow});
  const size_t f32_row = static_cast<size_t>(kvw) * 4;
  segs.push_back({n_cached, c.n_tok, TensorType::F32, TensorType::F32,
                  reinterpret_cast<const uint8_t*>(k.data() + n_cached * kvw),
                  reinterpret_cast<const uint8_t*>(v.data() + n_cached * kvw), f32_row, f32_row});

  std::vector<int64_t> pos(static_cast<size_t>(c.n_tok));
  for (int64_t t = 0; t < c.n_tok; ++t) pos[static_cast<size_t>(t)] = n_cached + t;
  std::vector<float> out(q.size()), out1(q.size());
  ThreadPool pool(2), pool1(1);
  const AttentionShape shape{c.n_head, c.n_head_kv, c.head_dim, c.window};
  attention(shape, q.data(), pos.data(), c.n_tok, segs, out.data(), pool);
  // Work is cut the same way for any thread count (the decode split included): bit-identical.
  attention(shape, q.data(), pos.data(), c.n_tok, segs, out1.data(), pool1);
  ASSERT_EQ(0, std::memcmp(out.data(), out1.data(), out.size() * sizeof(float))) << "1 and 2 threads differ";

  const int group = c.n_head / c.n_head_kv;
  for (int64_t t = 0; t < c.n_tok; ++t) {
    const int64_t p = pos[static_cast<size_t>(t)];
    const int64_t lo = c.window > 0 ? std::max<int64_t>(0, p - c.window + 1) : 0;
    for (int h = 0; h < c.n_head; ++h) {
      const float* qh = q.data() + t * qw + h * c.head_dim;
      const int64_t g = h / group;
      std::vector<double> w;
      double mx = -1e300;
      for (int64_t j = lo; j <= p; ++j) {
        double s = 0;
        for (int64_t d = 0; d < c.head_dim; ++d) s += static_cast<double>(qh[d]) * k[static_cast<size_t>(j * kvw + g * c.head_dim + d)];
        s /= std::sqrt(static_cast<double>(c.head_dim));
        w.push_back(s);
        mx = std::max(mx, s);
      }
      double sum = 0;
      for (auto& x : w) sum += (x = std::exp(x - mx));
      for (int64_t d = 0; d < c.head_dim; ++d) {
        double o = 0;
        for (int64_t j = lo; j <= p; ++j) o += w[static_cast<size_t>(j - lo)] * v[static_cast<size_t>(j * kvw + g * c.head_dim + d)];
        o /= sum;
        ASSERT_NEAR(out[static_cast<size_t>(t * qw + h * c.head_dim + d)], o, 2e-5 * (1 + std::fabs(o)))
            << "token " << t << " head " << h << " dim " << d;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionTest,
                         ::testing::Values(Case{4, 2, 32, 0, 150, 1, TensorType::F32},
                                           Case{4, 2, 32, 0, 150, 40, TensorType::F16},
                                           Case{6, 1, 64, 0, 70, 70, TensorType::F32},     // all fresh, decode-free prefill
                                           Case{7, 1, 16, 9, 100, 30, TensorType::F16},    // window shorter than batch
                                           Case{4, 4, 8, 64, 200, 1, TensorType::F32},     // window crosses segments
                                           Case{2, 1, 128, 3, 20, 5, TensorType::F32},
                                           // 4B heads, many query tiles, a window inside a tile's key range
                                           Case{12, 2, 128, 40, 300, 200, TensorType::F16},
                                           // quantized caches (head sizes whole blocks of 32, odd counts of them)
                                           Case{6, 2, 96, 0, 150, 1, TensorType::Q8_0},
                                           Case{6, 2, 96, 0, 150, 40, TensorType::Q4_0},
                                           Case{7, 1, 32, 9, 100, 30, TensorType::Q8_0, TensorType::F16},
                                           Case{4, 2, 160, 0, 90, 3, TensorType::BF16, TensorType::Q4_0},
                                           Case{12, 2, 128, 40, 300, 200, TensorType::Q8_0, TensorType::Q8_0},
                                           // deep contexts: decode split into key chunks (GQA 6 and 7,
                                           // odd lengths, windows past and inside a chunk, every type)
                                           Case{12, 2, 32, 0, 5001, 1, TensorType::F16},
                                           Case{12, 2, 32, 0, 5001, 1, TensorType::Q8_0},
                                           Case{12, 2, 64, 0, 2049, 3, TensorType::Q4_0},
                                           Case{14, 2, 32, 4096, 5003, 1, TensorType::BF16},
                                           Case{14, 2, 32, 4096, 5003, 7, TensorType::Q8_0, TensorType::Q4_0},
                                           Case{7, 1, 32, 700, 1537, 13, TensorType::F16, TensorType::Q8_0},
                                           Case{12, 2, 32, 0, 513, 1, TensorType::F32},  // one key past a chunk
                                           // prefill tiles far past a sliding window
                                           Case{14, 2, 32, 300, 3001, 257, TensorType::Q4_0, TensorType::F16}));

// Quantized K/V need a head slice that is whole blocks: anything else is refused, not misread.
TEST(Attention, RefusesHeadSizesThatSplitABlock) {
  std::vector<float> q(4 * 48), out(q.size());
  std::vector<uint8_t> k(row_bytes(TensorType::Q8_0, 96)), v(k.size());
  std::vector<KvSegment> segs{{0, 1, TensorType::Q8_0, TensorType::Q8_0, k.data(), v.data(), k.size(), v.size()}};
  const int64_t pos = 0;
  ThreadPool pool(1);
  EXPECT_THROW(attention({4, 2, 48, 0}, q.data(), &pos, 1, segs, out.data(), pool), std::invalid_argument);
}

}  // namespace
}  // namespace st::ops
