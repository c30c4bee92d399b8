// How weight bytes are laid out, and the one place that converts between the layouts: the
// resident source converts whole layers with relay_expert(), the expert store one cache slot
// at a time, PackedWeights every packable matrix at load.
//
// Each matrix (TensorView::layout) is in one WeightLayout; an expert's three matrices
// (ExpertLayouts) then say which MoE path computes it (model/moe_block.cpp):
//
//   gate, up, down in rows or row_groups    moe_dense.cpp (row groups only change speed)
//   up in requested_rows                    moe_dense.cpp, gate products first (sparse reads)
//   down transposed                         moe_down_transposed.cpp (PowerInfer files)
//   up and down bundle_part                 moe_bundles.cpp (sparse ReGLU, model/sparsity_policy.h)
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace st {

class PackedWeights;
class ThreadPool;
struct TensorView;
struct ExpertView;

enum class WeightLayout : uint8_t {
  rows,            // the file's rows
  row_groups,      // rows interleaved in groups of 16 (kernels/row_groups.h): only matmuls read
                   // it, and row()/rows() stay on group boundaries
  requested_rows,  // the file's rows, but only those asked for (ExpertSourceHints::request_up_rows)
                   // hold data; the rest read as zero
  transposed,      // an expert's down stored [n_ff x n_embd]: one row per neuron, read row by row
  bundle_part,     // neuron bundles (kernels/neuron_bundles.h): an expert's up view holds part 0,
                   // its down view part 1, each of up's size
};

// The layouts an expert's three matrices are in (or a source wants them in).
struct ExpertLayouts {
  WeightLayout gate, up, down;
};

// Where relay_expert may write each converted matrix (null: the matrix stays where it is).
// A place may be the matrix's own bytes (an expert cache slot): converted in place.
struct ExpertPlaces {
  uint8_t* gate = nullptr;
  uint8_t* up = nullptr;
  uint8_t* down = nullptr;
};

// True when `v` can be put in row groups: in rows, a type with a row-group kernel on this
// CPU, and row counts (of the whole view and of each `unit_rows` slice, e.g. one expert's)
// in whole groups.
bool can_pack_rows(const TensorView& v, int64_t unit_rows);

// Whether experts with this up and down (types, shapes, layouts) can be neuron bundles.
bool can_bundle(const TensorView& up, const TensorView& down);

// The one conversion routine. `v`'s matrices re-laid toward `want` where it can be done
// (rows <-> row_groups; up and down to bundle_part, or up to rows where bundles are not
// possible); `v` then describes the result. Matrices already as wanted, or in a layout that
// is not converted (requested_rows, transposed), stay. `scratch` stages in-place work; with
// `pool`, large matrices convert in parallel slices.
void relay_expert(ExpertView& v, ExpertLayouts want, const ExpertPlaces& places, std::vector<uint8_t>& scratch,
                  ThreadPool* pool = nullptr);

// One matrix re-laid as `to` (rows or row_groups) at dst; `m` then describes dst.
void relay_matrix(TensorView& m, WeightLayout to, uint8_t* dst, std::vector<uint8_t>& scratch,
                  ThreadPool* pool = nullptr);

// What becomes of the bytes a conversion superseded (resident weights: resident memory stays
// about the file's size). drop_mapped_pages: pages inside the file mapping [map, map + map_len)
// are dropped, other ranges ignored. release_superseded: a packed copy is freed, anything else
// goes to `drop`.
using ReleaseBytes = std::function<void(const uint8_t*, size_t)>;
ReleaseBytes drop_mapped_pages(const uint8_t* map, uint64_t map_len);
ReleaseBytes release_superseded(ReleaseBytes drop, PackedWeights* packed);

}  // namespace st
