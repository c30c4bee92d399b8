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
// Keys per split of a decode step's context (split-K): a step has one query tile per kv head
// (2 for the 4B), too few items for the cores, so a long context is cut into chunks attended
// separately and merged like one more online-softmax step. The chunk size is fixed (never
// derived from the thread count), so the result is the same for any number of threads.
constexpr int64_t kSplitKeys = 512;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

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

// Block-quantized K/V rows of a big tile (prefill) are converted once per block into f32,
// which its many query rows then read as f32 (AVX2: 10% faster than the codes in place at 96
// rows; AVX-512 alike). A few rows (a decode step's query heads of one KV head) read the codes
// in place: the dot/axpy loops convert each key once for all of them (kernels_bench
// attention/q8_0/t1/decode: 1.6x faster than converting). Float types are read in place.
constexpr int64_t kConvertRows = 24;
bool convert_per_block(TensorType t, int64_t rows) {
  return rows > kConvertRows && (t == TensorType::Q8_0 || t == TensorType::Q4_0);
}

const uint8_t* rows_as_f32(const KernelTable& kt, const uint8_t* rows, size_t row_bytes, int64_t n, int64_t hd,
                           std::vector<float>& buf) {
  for (int64_t j = 0; j < n; ++j) kt.dequantize_row(rows + static_cast<size_t>(j) * row_bytes, buf.data() + j * hd, hd);
  return reinterpret_cast<const uint8_t*>(buf.data());
}

void check_segments(const std::vector<KvSegment>& segments, int64_t hd) {
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
}

// One work item's query rows: row r is token t0 + r / group, query head g * group + r % group.
struct Tile {
  int g = 0;  // kv head
  int64_t t0 = 0, t1 = 0;
  int64_t rows() const { return t1 - t0; }
};

struct Job {
  const AttentionShape& s;
  const float* q;
  const int64_t* q_pos;
  const std::vector<KvSegment>& segments;
  int group;
  int64_t q_stride;
  float scale;
  int64_t first_key(int64_t p) const { return s.window > 0 ? std::max<int64_t>(0, p - s.window + 1) : 0; }
};

// The keys [lo, hi) that any token of the tile may see.
void tile_key_range(const Job& job, const Tile& tile, int64_t& lo, int64_t& hi) {
  lo = std::numeric_limits<int64_t>::max();
  hi = -1;
  for (int64_t t = tile.t0; t < tile.t1; ++t) {
    lo = std::min(lo, job.first_key(job.q_pos[t]));
    hi = std::max(hi, job.q_pos[t] + 1);
  }
}

// Online softmax over one block of scores (already q.k): scales them, rescales the row's
// accumulator to the new maximum and leaves exp weights (0 off the mask) in the scores.
// Returns false when no key of the block is visible to any row.
bool softmax_block(const Job& job, const Tile& tile, int64_t b0, int64_t nb, Scratch& sc, int64_t hd) {
  bool any = false;
  const int64_t n_rows = tile.rows() * job.group;
  for (int64_t r = 0; r < n_rows; ++r) {
    const int64_t p = job.q_pos[tile.t0 + r / job.group];
    const int64_t j0 = std::clamp<int64_t>(job.first_key(p) - b0, 0, nb), j1 = std::clamp<int64_t>(p + 1 - b0, 0, nb);
    float* sr = sc.scores.data() + r * kKeyBlock;
    if (j0 >= j1) {  // no key of this block is visible to the row
      std::fill(sr, sr + nb, 0.0f);
      continue;
    }
    any = true;
    float bmax = kNegInf;
    for (int64_t j = j0; j < j1; ++j) bmax = std::max(bmax, sr[j] *= job.scale);
    // Rescale what was accumulated under the old maximum.
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
  return any;
}

// The tile's rows over keys [key_lo, key_hi) into sc.m, sc.l, sc.acc (unnormalised). Scores
// come from the cached K rows in place (dot_rows: each key vector converted once for a group
// of query rows, in registers) and P V adds the cached V rows in place (axpy_rows), except
// the quantized blocks of big tiles (convert_per_block).
void attend_keys(const Job& job, const Tile& tile, int64_t key_lo, int64_t key_hi, Scratch& sc) {
  const int64_t hd = job.s.head_dim, rows = tile.rows() * job.group;
  for (int64_t t = tile.t0; t < tile.t1; ++t)
    std::memcpy(sc.q.data() + (t - tile.t0) * job.group * hd,
                job.q + t * job.q_stride + static_cast<int64_t>(tile.g) * job.group * hd,
                static_cast<size_t>(job.group * hd) * sizeof(float));
  std::fill(sc.acc.begin(), sc.acc.begin() + rows * hd, 0.0f);
  std::fill(sc.m.begin(), sc.m.begin() + rows, kNegInf);
  std::fill(sc.l.begin(), sc.l.begin() + rows, 0.0f);
  const KernelTable& f32 = kernel_table(TensorType::F32);
  for (const KvSegment& seg : job.segments) {
    const int64_t a = std::max(key_lo, seg.first_pos), b = std::min(key_hi, seg.first_pos + seg.n_pos);
    if (a >= b) continue;
    const bool k_conv = convert_per_block(seg.k_type, rows), v_conv = convert_per_block(seg.v_type, rows);
    const KernelTable& kt = k_conv ? f32 : kernel_table(seg.k_type);
    const KernelTable& vt = v_conv ? f32 : kernel_table(seg.v_type);
    const size_t k_stride = k_conv ? static_cast<size_t>(hd) * 4 : seg.k_row_bytes;
    const size_t v_stride = v_conv ? static_cast<size_t>(hd) * 4 : seg.v_row_bytes;
    const size_t k_head = row_bytes(seg.k_type, tile.g * hd), v_head = row_bytes(seg.v_type, tile.g * hd);
    for (int64_t b0 = a; b0 < b; b0 += kKeyBlock) {
      const int64_t nb = std::min(kKeyBlock, b - b0);
      const size_t first = static_cast<size_t>(b0 - seg.first_pos);
      const uint8_t* k_rows = seg.k + first * seg.k_row_bytes + k_head;
      const uint8_t* v_rows = seg.v + first * seg.v_row_bytes + v_head;
      if (k_conv) k_rows = rows_as_f32(kernel_table(seg.k_type), k_rows, seg.k_row_bytes, nb, hd, sc.kf);
      // scores[r, j] = q_r . k_j
      kt.dot_rows(hd, sc.q.data(), hd, rows, k_rows, k_stride, nb, sc.scores.data(), kKeyBlock);
      if (!softmax_block(job, tile, b0, nb, sc, hd)) continue;
      // acc[r] += sum_j w[r, j] v_j
      if (v_conv) v_rows = rows_as_f32(kernel_table(seg.v_type), v_rows, seg.v_row_bytes, nb, hd, sc.vf);
      vt.axpy_rows(hd, sc.scores.data(), kKeyBlock, rows, v_rows, v_stride, nb, sc.acc.data(), hd);
    }
  }
}

// out rows of the tile = acc / l.
void write_rows(const Job& job, const Tile& tile, const float* acc, const float* l, float* out) {
  const int64_t hd = job.s.head_dim, rows = tile.rows() * job.group;
  for (int64_t r = 0; r < rows; ++r) {
    const float inv = l[r] > 0 ? 1.0f / l[r] : 0.0f;
    const int64_t t = tile.t0 + r / job.group;
    float* o = out + t * job.q_stride + (static_cast<int64_t>(tile.g) * job.group + r % job.group) * hd;
    for (int64_t d = 0; d < hd; ++d) o[d] = acc[r * hd + d] * inv;
  }
}

// Prefill (and short decode contexts): work item = (kv head, tile of consecutive query tokens)
// over the keys the tile may see. A sliding-window tile starts at its first visible key, so
// the fully masked blocks before the window are never read.
void attend_tiles(const Job& job, int64_t n_tok, float* out, ThreadPool& pool) {
  const int64_t hd = job.s.head_dim;
  const int64_t tile_tok = std::max<int64_t>(1, kTileRows / job.group);
  const int64_t n_tiles = (n_tok + tile_tok - 1) / tile_tok;
  const int64_t n_items = static_cast<int64_t>(job.s.n_head_kv) * n_tiles;
  const int64_t max_rows = std::min(tile_tok, n_tok) * job.group;
  pool.parallel_for(n_items, 1, [&](int64_t begin, int64_t end, int) {
    thread_local Scratch sc;
    sc.fit(max_rows, hd);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t0 = (item % n_tiles) * tile_tok;
      const Tile tile{static_cast<int>(item / n_tiles), t0, std::min(n_tok, t0 + tile_tok)};
      int64_t lo = 0, hi = 0;
      tile_key_range(job, tile, lo, hi);
      attend_keys(job, tile, lo, hi, sc);
      write_rows(job, tile, sc.acc.data(), sc.l.data(), out);
    }
  });
}

// Decode (all n_tok tokens in one tile per kv head) over a long context: work item = (kv
// head, chunk of kSplitKeys keys). Each chunk leaves its running max m_c, sum l_c and
// unnormalised output acc_c; the merge is the online softmax's step across chunks:
// M = max m_c, out = sum_c acc_c e^(m_c - M) / sum_c l_c e^(m_c - M), in chunk order.
void attend_split(const Job& job, int64_t n_tok, int64_t lo, int64_t hi, float* out, ThreadPool& pool) {
  const int64_t hd = job.s.head_dim, rows = n_tok * job.group;
  const int64_t n_chunks = (hi - lo + kSplitKeys - 1) / kSplitKeys;
  const int64_t n_items = static_cast<int64_t>(job.s.n_head_kv) * n_chunks;
  const int64_t part = rows * (hd + 2);  // one item's acc rows, then m and l per row
  thread_local std::vector<float> partials;  // the calling thread's; only grows
  if (partials.size() < static_cast<size_t>(n_items * part)) partials.resize(static_cast<size_t>(n_items * part));
  float* parts = partials.data();
  pool.parallel_for(n_items, 1, [&](int64_t begin, int64_t end, int) {
    thread_local Scratch sc;
    sc.fit(rows, hd);
    for (int64_t item = begin; item < end; ++item) {
      const Tile tile{static_cast<int>(item / n_chunks), 0, n_tok};
      const int64_t c0 = lo + (item % n_chunks) * kSplitKeys;
      attend_keys(job, tile, c0, std::min(hi, c0 + kSplitKeys), sc);
      float* p = parts + item * part;
      std::copy(sc.acc.begin(), sc.acc.begin() + rows * hd, p);
      std::copy(sc.m.begin(), sc.m.begin() + rows, p + rows * hd);
      std::copy(sc.l.begin(), sc.l.begin() + rows, p + rows * hd + rows);
    }
  });
  std::vector<float> acc(static_cast<size_t>(rows * hd)), l(static_cast<size_t>(rows));
  for (int g = 0; g < job.s.n_head_kv; ++g) {
    const float* first = parts + static_cast<int64_t>(g) * n_chunks * part;
    for (int64_t r = 0; r < rows; ++r) {
      float m = kNegInf;
      for (int64_t c = 0; c < n_chunks; ++c) m = std::max(m, first[c * part + rows * hd + r]);
      float* ar = acc.data() + r * hd;
      std::fill(ar, ar + hd, 0.0f);
      float sum = 0.0f;
      for (int64_t c = 0; c < n_chunks; ++c) {
        const float* p = first + c * part;
        const float mc = p[rows * hd + r];
        if (mc == kNegInf) continue;  // no key of the chunk visible to the row
        const float w = std::exp(mc - m);
        sum += p[rows * hd + rows + r] * w;
        for (int64_t d = 0; d < hd; ++d) ar[d] += p[r * hd + d] * w;
      }
      l[static_cast<size_t>(r)] = sum;
    }
    write_rows(job, Tile{g, 0, n_tok}, acc.data(), l.data(), out);
  }
}

}  // namespace

void attention(const AttentionShape& s, const float* q, const int64_t* q_pos, int64_t n_tok,
               const std::vector<KvSegment>& segments, float* out, ThreadPool& pool) {
  const int64_t hd = s.head_dim;
  check_segments(segments, hd);
  const Job job{s, q, q_pos, segments, s.n_head / s.n_head_kv, static_cast<int64_t>(s.n_head) * hd,
                static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)))};
  const int64_t tile_tok = std::max<int64_t>(1, kTileRows / job.group);
  if (n_tok <= tile_tok) {
    int64_t lo = 0, hi = 0;
    tile_key_range(job, Tile{0, 0, n_tok}, lo, hi);
    if (hi - lo > kSplitKeys) return attend_split(job, n_tok, lo, hi, out, pool);
  }
  attend_tiles(job, n_tok, out, pool);
}

}  // namespace st::ops
