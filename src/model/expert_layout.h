// How an expert's bytes are laid out, and the one place that converts between the layouts:
// the resident source converts whole layers with these routines, the expert store one cache
// slot at a time. Each matrix's row layout (the file's rows, or 16-row groups for the decode
// kernels) is TensorView::row_groups; the expert as a whole is in one ExpertLayout:
//
//   dense            gate [n_ff x n_embd], up [n_ff x n_embd], down [n_embd x n_ff] as matrices
//   down_transposed  PowerInfer files: down stored [n_ff x n_embd], one row per neuron, read
//                    row by row (never in row groups); gate and up dense
//   bundles          a sparse layer (model/sparsity_policy.h): up and down as neuron bundles
//                    (kernels/neuron_bundles.h), two parts in up's and down's places; gate dense
//
// A sparse layer whose type cannot be bundled keeps `dense` with up in rows (row lists then
// read only the needed rows).
#pragma once
#include <cstdint>
#include <vector>

#include "model/tensor_view.h"

namespace st {

class ThreadPool;

enum class ExpertLayout : uint8_t { dense, down_transposed, bundles };

// Whether experts with this up and down (types, shapes, down's orientation) can be bundles.
bool can_bundle(const TensorView& up, const TensorView& down, bool down_transposed);

// One expert's up [n_ff x n_embd] and down [n_embd x n_ff] (each in rows or row groups) as
// neuron bundles: part0 and part1, each of up's size. The parts may be up's and down's own
// bytes (the rows are staged in `scratch` first). With `pool`, the two parts in parallel.
void convert_to_bundles(const TensorView& up, const TensorView& down, uint8_t* part0, uint8_t* part1,
                        std::vector<uint8_t>& scratch, ThreadPool* pool = nullptr);

// `v`'s bytes in the file's row layout at dst (unpacked where v is in row groups); dst may be
// v's own bytes (then staged through `scratch`).
void copy_as_rows(const TensorView& v, uint8_t* dst, std::vector<uint8_t>& scratch);

}  // namespace st
