// Neuron-bundle layout of an expert's up and down matrices and the sparse FFN over it (see
// the header). The per-block down products are the kernel table's column-group kernels
// (NeuronColumnsFn: ref/ and <isa>/neuron_columns.cpp): the active neurons of a 32-neuron
// block, their columns col_stride bytes apart, each output's exact integer sum scaled once
// per block.
#include "kernels/neuron_bundles.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/float_convert.h"

namespace st {

namespace {

bool is_block_type(TensorType t) { return t == TensorType::Q4_0 || t == TensorType::Q8_0; }

// Q4_0 code column: 32 outputs per 16 bytes, output h in the low nibble of byte h (of its
// chunk), output h + 16 in the high nibble.
inline uint8_t get_q4(const uint8_t* col, int64_t h) {
  const uint8_t b = col[(h / 32) * 16 + (h % 16)];
  return (h % 32) < 16 ? (b & 0x0F) : (b >> 4);
}

// Per-thread buffers of one call; they only grow.
struct Scratch {
  std::vector<int32_t> rows;  // active neurons of the part (any token), local indices
  std::vector<float> up;      // [n_tok][neurons of the part] up products of the listed rows
  std::vector<float> acc;     // the column kernels' scratch
};

BundleCounts ffn_impl(const KernelTable& kt, const KernelTable& q8, NeuronColumnsFn group, const BundleShape& s,
                 const uint8_t* part, int p, const float* gate, int64_t n_tok, const uint8_t* act, size_t act_row_bytes,
                 const int32_t* act_sums, float* out) {
  thread_local Scratch sc;
  const int64_t H = s.n_embd, F = s.n_ff, n_local = 32 * s.part_blocks, j0 = p * n_local;
  if (sc.rows.size() < static_cast<size_t>(n_local)) sc.rows.resize(static_cast<size_t>(n_local));
  if (sc.up.size() < static_cast<size_t>(n_tok * n_local)) sc.up.resize(static_cast<size_t>(n_tok * n_local));
  if (sc.acc.size() < static_cast<size_t>(H)) sc.acc.resize(static_cast<size_t>(H));

  // Up products of the neurons some token needs, in one pass over their bundles (in address
  // order; the row kernels prefetch whole rows ahead, i.e. whole bundles, so the down codes
  // are in the caches by the time the column kernels want them).
  int64_t n_rows = 0;
  for (int64_t k = 0; k < n_local; ++k)
    for (int64_t t = 0; t < n_tok; ++t)
      if (gate[t * F + j0 + k] > 0.0f) {
        sc.rows[static_cast<size_t>(n_rows++)] = static_cast<int32_t>(k);
        break;
      }
  const uint8_t* bundles = part + s.bundle_offset(0);
  if (n_rows > 0) {
    if (kt.gemm_rows) {
      kt.gemm_rows(H, bundles, s.bundle_bytes, sc.rows.data(), n_rows, act, act_row_bytes, act_sums, n_tok,
                   sc.up.data(), n_local);
    } else {
      for (int64_t t = 0; t < n_tok; ++t)
        for (int64_t i = 0; i < n_rows; ++i) {
          const int32_t k = sc.rows[static_cast<size_t>(i)];
          sc.up[static_cast<size_t>(t * n_local + k)] =
              kt.vec_dot(H, bundles + static_cast<size_t>(k) * s.bundle_bytes, act + static_cast<size_t>(t) * act_row_bytes);
        }
    }
  }

  // Per token and block: ReGLU activations, quantized to Q8_0 as the dense path quantizes
  // them for down, then the block's active columns.
  int64_t zero = 0;
  for (int64_t t = 0; t < n_tok; ++t) {
    float* o = out + t * H;
    std::fill(o, o + H, 0.0f);
    const float* g = gate + t * F + j0;
    const float* u = sc.up.data() + t * n_local;
    for (int64_t b = 0; b < s.part_blocks; ++b) {
      float a[kQK];
      int live = 0;
      for (int i = 0; i < kQK; ++i) {
        const int64_t k = b * kQK + i;
        a[i] = g[k] > 0.0f ? g[k] * u[k] : 0.0f;
        live += a[i] != 0.0f;
      }
      zero += kQK - live;
      if (live == 0) continue;
      BlockQ8_0 qa;
      q8.quantize_row(a, &qa, kQK);
      int32_t js[kQK];
      int n_js = 0;
      for (int i = 0; i < kQK; ++i)
        if (qa.qs[i] != 0) js[n_js++] = i;
      if (n_js == 0) continue;
      group(s.type, part + s.scales_offset(b), bundles + static_cast<size_t>(b * kQK) * s.bundle_bytes + s.up_row_bytes,
            s.bundle_bytes, qa.qs, fp16_to_fp32(qa.d), js, n_js, 0, H, sc.acc.data(), o);
    }
  }
  return {zero, n_rows};
}

}  // namespace

bool bundles_supported(TensorType type, int64_t n_embd, int64_t n_ff) {
  return is_block_type(type) && n_embd % kQK == 0 && n_ff % (2 * kQK) == 0 && n_embd > 0 && n_ff > 0;
}

BundleShape::BundleShape(TensorType t, int64_t embd, int64_t ff) : type(t), n_embd(embd), n_ff(ff) {
  if (!bundles_supported(t, embd, ff))
    throw std::invalid_argument("neuron bundles: unsupported type or shape (" + std::string(tensor_type_name(t)) + ", " +
                                std::to_string(embd) + " x " + std::to_string(ff) + ")");
  up_row_bytes = row_bytes(t, embd);
  code_bytes = static_cast<size_t>(t == TensorType::Q4_0 ? embd / 2 : embd);
  bundle_bytes = up_row_bytes + code_bytes;
  part_blocks = ff / kQK / 2;
  part_bytes = bundle_offset(32 * part_blocks);
}

void rows_to_bundle_part(TensorType type, const uint8_t* up, const uint8_t* down, int64_t n_embd, int64_t n_ff, int p,
                         uint8_t* part) {
  const BundleShape s(type, n_embd, n_ff);
  const bool q4 = type == TensorType::Q4_0;
  const size_t bb = q4 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0);
  const size_t down_row_bytes = row_bytes(type, n_ff);
  // Runs per expert read by a budgeted cache, so it goes a tile at a time: a 32-output chunk
  // of one block's codes is gathered into L1 and written out neuron by neuron (one 16- or
  // 32-byte store each), instead of one scattered byte per (output, neuron).
  uint8_t tile[32][32];
  for (int64_t b = 0; b < s.part_blocks; ++b) {
    const int64_t g = p * s.part_blocks + b;  // the block's index along down's rows
    const uint8_t* col0 = down + static_cast<size_t>(g) * bb;
    uint8_t* scales = part + s.scales_offset(b);
    for (int64_t h = 0; h < n_embd; ++h) std::memcpy(scales + 2 * h, col0 + static_cast<size_t>(h) * down_row_bytes, 2);
    for (int i = 0; i < kQK; ++i) {
      const int64_t k = b * kQK + i;  // local neuron
      std::memcpy(part + s.bundle_offset(k), up + static_cast<size_t>(p * 32 * s.part_blocks + k) * s.up_row_bytes,
                  s.up_row_bytes);
    }
    for (int64_t h0 = 0; h0 < n_embd; h0 += 32) {
      for (int r = 0; r < 32; ++r)
        std::memcpy(tile[r], col0 + static_cast<size_t>(h0 + r) * down_row_bytes + 2, q4 ? 16 : 32);
      for (int i = 0; i < kQK; ++i) {
        uint8_t* codes = part + s.bundle_offset(b * kQK + i) + s.up_row_bytes;
        uint8_t out[32];
        if (q4) {
          // Element i of a Q4_0 block: the low nibble of byte i (i < 16) or the high nibble of
          // byte i - 16. Column byte r pairs outputs h0 + r (low) and h0 + 16 + r (high).
          const int byte = i % 16, shift = i < 16 ? 0 : 4;
          for (int r = 0; r < 16; ++r)
            out[r] = static_cast<uint8_t>(((tile[r][byte] >> shift) & 0x0F) | ((tile[16 + r][byte] >> shift) & 0x0F) << 4);
          std::memcpy(codes + h0 / 2, out, 16);
        } else {
          for (int r = 0; r < 32; ++r) out[r] = tile[r][i];
          std::memcpy(codes + h0, out, 32);
        }
      }
    }
  }
}

void rows_to_bundles(TensorType type, const uint8_t* up, const uint8_t* down, int64_t n_embd, int64_t n_ff,
                     uint8_t* part0, uint8_t* part1) {
  rows_to_bundle_part(type, up, down, n_embd, n_ff, 0, part0);
  rows_to_bundle_part(type, up, down, n_embd, n_ff, 1, part1);
}

void bundles_to_rows(TensorType type, const uint8_t* part0, const uint8_t* part1, int64_t n_embd, int64_t n_ff,
                     uint8_t* up, uint8_t* down) {
  const BundleShape s(type, n_embd, n_ff);
  const bool q4 = type == TensorType::Q4_0;
  const size_t bb = q4 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0);
  const size_t down_row_bytes = row_bytes(type, n_ff);
  const uint8_t* parts[2] = {part0, part1};
  for (int p = 0; p < 2; ++p)
    for (int64_t b = 0; b < s.part_blocks; ++b) {
      const int64_t g = p * s.part_blocks + b;
      for (int64_t h = 0; h < n_embd; ++h) {
        uint8_t* blk = down + static_cast<size_t>(h) * down_row_bytes + static_cast<size_t>(g) * bb;
        std::memcpy(blk, parts[p] + s.scales_offset(b) + 2 * h, 2);
        if (q4) std::memset(blk + 2, 0, 16);
        for (int i = 0; i < kQK; ++i) {
          const uint8_t* codes = parts[p] + s.bundle_offset(b * kQK + i) + s.up_row_bytes;
          if (!q4) {
            blk[2 + i] = codes[h];
            continue;
          }
          const uint8_t q = get_q4(codes, h);
          blk[2 + i % 16] |= static_cast<uint8_t>(i < 16 ? q : q << 4);
        }
      }
      for (int i = 0; i < kQK; ++i) {
        const int64_t k = b * kQK + i;
        std::memcpy(up + static_cast<size_t>(p * 32 * s.part_blocks + k) * s.up_row_bytes, parts[p] + s.bundle_offset(k),
                    s.up_row_bytes);
      }
    }
}

BundleCounts bundle_ffn(const BundleShape& shape, const uint8_t* part, int p, const float* gate, int64_t n_tok,
                        const uint8_t* act, size_t act_row_bytes, const int32_t* act_sums, float* out) {
  const KernelTable& kt = kernel_table(shape.type);
  return ffn_impl(kt, kernel_table(TensorType::Q8_0), kt.neuron_columns, shape, part, p, gate, n_tok, act,
                  act_row_bytes, act_sums, out);
}

BundleCounts bundle_ffn_isa(Isa isa, const BundleShape& shape, const uint8_t* part, int p, const float* gate,
                            int64_t n_tok, const uint8_t* act, size_t act_row_bytes, const int32_t* act_sums,
                            float* out) {
  const KernelTable& kt = kernel_table(shape.type, isa);
  return ffn_impl(kt, kernel_table(TensorType::Q8_0, isa), kt.neuron_columns, shape, part, p,
                  gate, n_tok, act, act_row_bytes, act_sums, out);
}

}  // namespace st
