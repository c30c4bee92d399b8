// Scale searches shared by the weight quantizers (Q4_0..Q6_K). The ideas are ggml's: try a
// few candidate scales around the naive max/qmax one, and for each candidate's integer codes
// solve the weighted least-squares problem for the best scale (and min) in closed form.
#pragma once
#include <cstdint>

namespace st::ref {

// Round to nearest, ties to even, for |v| < 2^22 (all callers pass bounded values): adding
// 1.5*2^23 pushes the fraction out of the float mantissa and the FPU does the rounding.
int nearest_int(float v);

// True when all n values are finite. Weight quantizers turn a block holding NaN/inf into a
// NaN scale with zero codes, so the problem shows up downstream instead of being hidden.
bool all_finite(const float* x, int64_t n);

// Symmetric codes L[i] in [0, 2*nmax) meaning (L[i] - nmax) * scale, minimising
// sum w_i (x_i - scale*(L_i - nmax))^2 with w_i = x_i^2 (big values matter most).
// Returns the scale; the sign of the scale follows the largest-magnitude element.
float search_symmetric_scale(int n, int nmax, const float* x, uint8_t* L);

// Asymmetric codes L[i] in [0, nmax] meaning scale*L[i] - min_out (min_out >= 0), minimising
// sum w_i (x_i - (scale*L_i - min_out))^2. Candidate scales are (nmax + rmin + rdelta*k)/range
// for k in [0, nstep]. `aux` is scratch of n bytes. Returns the scale.
float search_scale_min(int n, int nmax, const float* x, const float* w, uint8_t* L, float* min_out, uint8_t* aux,
                       float rmin, float rdelta, int nstep);

// Codes idx[i] (indices into the IQ4_NL grid kIq4nlValues) and the scale d minimising
// sum w_i (x_i - d * grid[idx_i])^2 over a few candidate scales (ref/iq4_nl.cpp).
float search_grid_scale(int n, const float* x, uint8_t* idx);

}  // namespace st::ref
