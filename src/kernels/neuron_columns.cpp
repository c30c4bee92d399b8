// Neuron-column layout of expert down matrices and the sparse down product (see the header).
#include "kernels/neuron_columns.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/float_convert.h"
#include "kernels/kernel_table.h"

namespace st {

#if ST_HAVE_X86_KERNELS
namespace avx2 {
void neuron_columns_group(TensorType type, const uint8_t* scales, const uint8_t* codes, int64_t n_out, const int8_t* qa,
                          float da, const int32_t* js, int n_js, int64_t h0, int64_t h1, float* acc, float* out);
}
namespace avx512 {
void neuron_columns_group(TensorType type, const uint8_t* scales, const uint8_t* codes, int64_t n_out, const int8_t* qa,
                          float da, const int32_t* js, int n_js, int64_t h0, int64_t h1, float* acc, float* out);
}
#endif
#if ST_HAVE_NEON_KERNELS
namespace neon {
void neuron_columns_group(TensorType type, const uint8_t* scales, const uint8_t* codes, int64_t n_out, const int8_t* qa,
                          float da, const int32_t* js, int n_js, int64_t h0, int64_t h1, float* acc, float* out);
// SDOT (neon/neuron_columns_dotprod.cpp): only for Isa::neon_dotprod, i.e. after HWCAP_ASIMDDP.
void neuron_columns_group_dotprod(TensorType type, const uint8_t* scales, const uint8_t* codes, int64_t n_out,
                                  const int8_t* qa, float da, const int32_t* js, int n_js, int64_t h0, int64_t h1,
                                  float* acc, float* out);
}  // namespace neon
#endif

namespace {

bool is_block_type(TensorType t) { return t == TensorType::Q4_0 || t == TensorType::Q8_0; }

size_t code_bytes_per_neuron(TensorType t, int64_t n_out) {
  return t == TensorType::Q4_0 ? static_cast<size_t>(n_out / 2) : static_cast<size_t>(n_out);
}

// Bytes of one 32-neuron group: n_out scales, then 32 code columns.
size_t group_bytes(TensorType t, int64_t n_out) {
  return static_cast<size_t>(n_out) * 2 + kQK * code_bytes_per_neuron(t, n_out);
}

size_t float_bytes(TensorType t) { return t == TensorType::F32 ? 4 : 2; }

// Q4_0 code column: 32 outputs per 16 bytes, output h in the low nibble of byte h (of its
// chunk), output h+16 in the high nibble.
inline uint8_t get_q4(const uint8_t* col, int64_t h) {
  const uint8_t b = col[(h / 32) * 16 + (h % 16)];
  return (h % 32) < 16 ? (b & 0x0F) : (b >> 4);
}

using GroupFn = void (*)(TensorType, const uint8_t*, const uint8_t*, int64_t, const int8_t*, float, const int32_t*, int,
                         int64_t, int64_t, float*, float*);

// Scalar group product: the exact integer sums of the dense reference, scaled the same way.
void group_ref(TensorType type, const uint8_t* scales, const uint8_t* codes, int64_t n_out, const int8_t* qa, float da,
               const int32_t* js, int n_js, int64_t h0, int64_t h1, float* /*acc*/, float* out) {
  const size_t cb = code_bytes_per_neuron(type, n_out);
  for (int64_t h = h0; h < h1; ++h) {
    int isum = 0;
    for (int k = 0; k < n_js; ++k) {
      const uint8_t* col = codes + static_cast<size_t>(js[k]) * cb;
      const int q = type == TensorType::Q4_0 ? get_q4(col, h) - 8 : static_cast<int8_t>(col[h]);
      isum += q * qa[js[k]];
    }
    uint16_t d;
    std::memcpy(&d, scales + 2 * h, 2);
    out[h - h0] += static_cast<float>(isum) * (fp16_to_fp32(d) * da);
  }
}

GroupFn group_fn(Isa isa) {
#if ST_HAVE_X86_KERNELS
  switch (isa) {
    case Isa::avx512: return avx512::neuron_columns_group;
    case Isa::avx2: return avx2::neuron_columns_group;
    default: break;
  }
#elif ST_HAVE_NEON_KERNELS
  switch (isa) {
    case Isa::neon_dotprod: return neon::neuron_columns_group_dotprod;
    case Isa::neon: return neon::neuron_columns_group;
    default: break;
  }
#else
  (void)isa;
#endif
  return group_ref;
}

// dst[c][r] = src[r][c] for an n_rows x n_cols matrix of elem-byte values (the float layouts).
void transpose(const uint8_t* src, int64_t n_rows, int64_t n_cols, size_t elem, uint8_t* dst) {
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t c = 0; c < n_cols; ++c)
      std::memcpy(dst + (static_cast<size_t>(c) * static_cast<size_t>(n_rows) + static_cast<size_t>(r)) * elem,
                  src + (static_cast<size_t>(r) * static_cast<size_t>(n_cols) + static_cast<size_t>(c)) * elem, elem);
}

float float_value(TensorType t, const uint8_t* p) {
  if (t == TensorType::F32) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  uint16_t u;
  std::memcpy(&u, p, 2);
  return t == TensorType::F16 ? fp16_to_fp32(u) : bf16_to_fp32(u);
}

// A 32-neuron group's active neurons (index within the group).
struct ActiveGroup {
  int64_t g;
  int n;
  int32_t js[kQK];
};

// Per-thread list of a call's active groups (no allocation per call once warm).
std::vector<ActiveGroup>& group_lists() {
  thread_local std::vector<ActiveGroup> groups;
  return groups;
}

void down_impl(GroupFn group, TensorType type, const uint8_t* cols, int64_t n_out, int64_t n_ff, const void* act_row,
               std::span<const int32_t> active, int64_t h0, int64_t h1, float* out) {
  std::fill(out, out + (h1 - h0), 0.0f);
  if (!is_block_type(type)) {
    // Float types: out += a_j * column j, in ascending j like the dense dot product.
    const size_t fb = float_bytes(type);
    const auto* a = static_cast<const uint8_t*>(act_row);
    for (int32_t j : active) {
      const float aj = float_value(type, a + static_cast<size_t>(j) * fb);
      if (aj == 0.0f) continue;
      const uint8_t* col = cols + static_cast<size_t>(j) * static_cast<size_t>(n_out) * fb;
      for (int64_t h = h0; h < h1; ++h) out[h - h0] += float_value(type, col + static_cast<size_t>(h) * fb) * aj;
    }
    return;
  }
  const auto* ab = static_cast<const BlockQ8_0*>(act_row);
  const size_t gb = group_bytes(type, n_out);
  std::vector<float> acc_heap;
  float acc_stack[4096];
  float* acc = acc_stack;
  if (h1 - h0 > 4096) {
    acc_heap.resize(static_cast<size_t>(h1 - h0));
    acc = acc_heap.data();
  }
  // Active neurons (non-zero activation) per group, then the groups in order. Before a group
  // is computed, the next group's scales and first active columns are prefetched (the SIMD
  // kernels prefetch further columns of a group as they go): each neuron's column is a short
  // stream the hardware prefetchers do not pick up in time.
  const size_t cb = code_bytes_per_neuron(type, n_out);
  const bool q4 = type == TensorType::Q4_0;
  std::vector<ActiveGroup>& groups = group_lists();
  groups.clear();
  for (size_t i = 0; i < active.size();) {
    ActiveGroup grp{active[i] / kQK, 0, {}};
    const BlockQ8_0& blk = ab[grp.g];
    for (; i < active.size() && active[i] / kQK == grp.g; ++i) {
      const int32_t j = active[i] % kQK;
      if (blk.qs[j] != 0) grp.js[grp.n++] = j;
    }
    if (grp.n > 0) groups.push_back(grp);
  }
  const size_t c0 = static_cast<size_t>(q4 ? h0 / 2 : h0), c1 = static_cast<size_t>(q4 ? h1 / 2 : h1);
  auto prefetch = [&](const ActiveGroup& grp) {
    const uint8_t* base = cols + static_cast<size_t>(grp.g) * gb;
    for (int64_t o = 2 * h0; o < 2 * h1; o += 64) __builtin_prefetch(base + o, 0, 2);
    const uint8_t* codes = base + static_cast<size_t>(n_out) * 2;
    for (int k = 0; k < grp.n; ++k)
      for (size_t o = c0; o < c1; o += 64) __builtin_prefetch(codes + static_cast<size_t>(grp.js[k]) * cb + o, 0, 2);
  };
  if (!groups.empty()) prefetch(groups[0]);
  for (size_t i = 0; i < groups.size(); ++i) {
    if (i + 1 < groups.size()) prefetch(groups[i + 1]);
    const ActiveGroup& grp = groups[i];
    const uint8_t* base = cols + static_cast<size_t>(grp.g) * gb;
    group(type, base, base + static_cast<size_t>(n_out) * 2, n_out, ab[grp.g].qs, fp16_to_fp32(ab[grp.g].d), grp.js,
          grp.n, h0, h1, acc, out);
  }
  (void)n_ff;
}

}  // namespace

bool neuron_columns_supported(TensorType type, int64_t n_out, int64_t n_ff) {
  switch (type) {
    case TensorType::Q4_0:
    case TensorType::Q8_0: return n_out % kQK == 0 && n_ff % kQK == 0;
    case TensorType::F32:
    case TensorType::F16:
    case TensorType::BF16: return true;
    default: return false;
  }
}

void rows_to_neuron_columns(TensorType type, const uint8_t* rows, int64_t n_out, int64_t n_ff, uint8_t* cols) {
  if (!neuron_columns_supported(type, n_out, n_ff))
    throw std::invalid_argument("neuron columns: unsupported type or shape " + std::string(tensor_type_name(type)));
  if (!is_block_type(type)) return transpose(rows, n_out, n_ff, float_bytes(type), cols);
  const int64_t n_groups = n_ff / kQK;
  const size_t bb = type == TensorType::Q4_0 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0);
  const size_t row_bytes = static_cast<size_t>(n_groups) * bb;
  const size_t gb = group_bytes(type, n_out), cb = code_bytes_per_neuron(type, n_out);
  for (int64_t g = 0; g < n_groups; ++g) {
    uint8_t* scales = cols + static_cast<size_t>(g) * gb;
    uint8_t* codes = scales + static_cast<size_t>(n_out) * 2;
    auto block = [&](int64_t h) { return rows + static_cast<size_t>(h) * row_bytes + static_cast<size_t>(g) * bb; };
    for (int64_t h = 0; h < n_out; ++h) std::memcpy(scales + 2 * h, block(h), 2);
    if (type == TensorType::Q8_0) {
      for (int64_t h = 0; h < n_out; ++h)
        for (int j = 0; j < kQK; ++j) codes[static_cast<size_t>(j) * cb + static_cast<size_t>(h)] = block(h)[2 + j];
      continue;
    }
    // Q4_0: each output byte pairs outputs h (low nibble) and h + 16 (high) of one neuron.
    for (int64_t c = 0; c < n_out / kQK; ++c) {
      for (int i = 0; i < 16; ++i) {
        const uint8_t* lo = block(c * kQK + i) + 2;
        const uint8_t* hi = block(c * kQK + 16 + i) + 2;
        uint8_t* dst = codes + static_cast<size_t>(c) * 16 + static_cast<size_t>(i);
        for (int j = 0; j < 16; ++j) {
          dst[static_cast<size_t>(j) * cb] = static_cast<uint8_t>((lo[j] & 0x0F) | (hi[j] << 4));
          dst[static_cast<size_t>(j + 16) * cb] = static_cast<uint8_t>((lo[j] >> 4) | (hi[j] & 0xF0));
        }
      }
    }
  }
}

void neuron_columns_to_rows(TensorType type, const uint8_t* cols, int64_t n_out, int64_t n_ff, uint8_t* rows) {
  if (!neuron_columns_supported(type, n_out, n_ff))
    throw std::invalid_argument("neuron columns: unsupported type or shape " + std::string(tensor_type_name(type)));
  if (!is_block_type(type)) return transpose(cols, n_ff, n_out, float_bytes(type), rows);
  const int64_t n_groups = n_ff / kQK;
  const size_t bb = type == TensorType::Q4_0 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0);
  const size_t row_bytes = static_cast<size_t>(n_groups) * bb;
  const size_t gb = group_bytes(type, n_out), cb = code_bytes_per_neuron(type, n_out);
  for (int64_t g = 0; g < n_groups; ++g) {
    const uint8_t* scales = cols + static_cast<size_t>(g) * gb;
    const uint8_t* codes = scales + static_cast<size_t>(n_out) * 2;
    for (int64_t h = 0; h < n_out; ++h) {
      uint8_t* blk = rows + static_cast<size_t>(h) * row_bytes + static_cast<size_t>(g) * bb;
      std::memcpy(blk, scales + 2 * h, 2);
      if (type == TensorType::Q4_0) std::memset(blk + 2, 0, 16);
      for (int j = 0; j < kQK; ++j) {
        const uint8_t* col = codes + static_cast<size_t>(j) * cb;
        if (type == TensorType::Q4_0) {
          const uint8_t q = get_q4(col, h);
          blk[2 + (j % 16)] |= static_cast<uint8_t>(j < 16 ? q : q << 4);
        } else {
          blk[2 + j] = col[h];
        }
      }
    }
  }
}

void neuron_columns_down(TensorType type, const uint8_t* cols, int64_t n_out, int64_t n_ff, const void* act_row,
                         std::span<const int32_t> active, int64_t h0, int64_t h1, float* out) {
  static const GroupFn group = group_fn(active_isa());
  down_impl(group, type, cols, n_out, n_ff, act_row, active, h0, h1, out);
}

void neuron_columns_down_isa(Isa isa, TensorType type, const uint8_t* cols, int64_t n_out, int64_t n_ff,
                             const void* act_row, std::span<const int32_t> active, int64_t h0, int64_t h1, float* out) {
  const auto usable = available_isas();
  if (std::find(usable.begin(), usable.end(), isa) == usable.end())
    throw std::runtime_error("neuron columns: ISA " + std::string(isa_name(isa)) + " is not usable on this CPU");
  down_impl(group_fn(isa), type, cols, n_out, n_ff, act_row, active, h0, h1, out);
}

}  // namespace st
