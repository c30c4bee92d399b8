// "Neuron bundles": an expert's up and down matrices re-laid so that everything one ReGLU
// neuron needs beyond the gate is one contiguous run of bytes, for sparse ReGLU. In the file
// an active neuron j needs up row j (contiguous) and down column j, which is scattered over
// every row of down (Q4_0/Q8_0 blocks run along the neuron axis: 32 neurons share a block).
// A decode step with most neurons exactly zero then reads, per active neuron, one bundle:
// short reads at addresses that only go up, which the memory system streams nearly as well
// as whole matrices (768-byte columns and 864-byte rows read apart streamed at half speed).
//
// Layout (Q4_0 and Q8_0; same size as up + down together, bit-exact values): two parts, part
// p holding the neurons of 32-neuron blocks [p * NB / 2, (p + 1) * NB / 2) (NB = n_ff / 32,
// even), each part:
//   - per block of the part: the n_embd fp16 scales of that block in down (one per output);
//   - per neuron j of the part: up row j as in the file, then down column j's codes (Q4_0:
//     n_embd / 2 bytes, output h of each 32-output chunk in the low nibble of byte h % 16 for
//     h % 32 < 16, the high nibble otherwise; Q8_0: n_embd int8).
// Each part has exactly the size of up (and of down), so a cache slot holding up and down
// apart can keep the bundles in the same two places.
//
// The product (bundle_ffn) follows the dense path's arithmetic: up rows are dotted with the
// quantized activations like any row; the ReGLU activations of each block are quantized to
// Q8_0 as the dense path quantizes them for down, and each output adds, per block in order,
// the block's exact integer sum times (weight scale x activation scale). Results agree with
// the dense computation up to float summation order.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "formats/tensor_type.h"
#include "kernels/kernel_table.h"

namespace st {

bool bundles_supported(TensorType type, int64_t n_embd, int64_t n_ff);

// Sizes and places of one expert's bundles.
struct BundleShape {
  TensorType type;
  int64_t n_embd, n_ff;
  size_t up_row_bytes;  // one up row (n_embd elements)
  size_t code_bytes;    // one down column's codes (n_embd elements)
  size_t bundle_bytes;  // up_row_bytes + code_bytes
  int64_t part_blocks;  // 32-neuron blocks per part
  size_t part_bytes;    // = n_ff * up_row_bytes / 2
  BundleShape(TensorType t, int64_t embd, int64_t ff);
  // Within a part: scales of local block b, and bundle of local neuron k.
  size_t scales_offset(int64_t b) const { return static_cast<size_t>(b) * static_cast<size_t>(n_embd) * 2; }
  size_t bundle_offset(int64_t k) const {
    return scales_offset(part_blocks) + static_cast<size_t>(k) * bundle_bytes;
  }
};

// up: [n_ff rows] and down: [n_embd rows], the file's layouts -> part0, part1 (part_bytes each).
void rows_to_bundles(TensorType type, const uint8_t* up, const uint8_t* down, int64_t n_embd, int64_t n_ff,
                     uint8_t* part0, uint8_t* part1);
// One part of that (p = 0 or 1): the two parts can be made in parallel.
void rows_to_bundle_part(TensorType type, const uint8_t* up, const uint8_t* down, int64_t n_embd, int64_t n_ff, int p,
                         uint8_t* part);
// The inverse (tests).
void bundles_to_rows(TensorType type, const uint8_t* part0, const uint8_t* part1, int64_t n_embd, int64_t n_ff,
                     uint8_t* up, uint8_t* down);

// The sparse FFN of one expert over one part's neurons, for n_tok tokens:
//   out[t * n_embd + h] = sum over active neurons j of the part of relu(gate_j) * up_j(x_t) * down[h][j]
// where gate is [n_tok][n_ff] (the dense gate products; a neuron is active when its gate is
// > 0), x are the tokens' activations in Q8_0 (act rows of act_row_bytes, with their block
// sums as quantize_acts keeps them), and out is written (not accumulated). The two parts'
// outputs add up to the expert's output.
struct BundleCounts {
  int64_t zero = 0;       // (token, neuron) pairs of the part whose activation was exactly 0
  int64_t rows_read = 0;  // neurons of the part some token needed (bundles read)
};
BundleCounts bundle_ffn(const BundleShape& shape, const uint8_t* part, int p, const float* gate, int64_t n_tok,
                        const uint8_t* act, size_t act_row_bytes, const int32_t* act_sums, float* out);
// The same with a given ISA's kernels (tests compare every ISA).
BundleCounts bundle_ffn_isa(Isa isa, const BundleShape& shape, const uint8_t* part, int p, const float* gate,
                            int64_t n_tok, const uint8_t* act, size_t act_row_bytes, const int32_t* act_sums,
                            float* out);

}  // namespace st
