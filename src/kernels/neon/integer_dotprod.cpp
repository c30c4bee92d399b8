// The integer dot kernels with SDOT (ARMv8.2 dotprod; this file alone is built with +dotprod).
// dispatch.cpp calls override_kernels_dotprod only when getauxval(AT_HWCAP) has
// HWCAP_ASIMDDP, so no SDOT instruction runs on a CPU without it.
#include <arm_neon.h>

#include "kernels/neon/integer_dots.h"
#include "kernels/neon/neon.h"

namespace st::neon {
namespace {

struct DotSdot {
  static int32x4_t dot(int32x4_t acc, int8x16_t a, int8x16_t b) { return vdotq_s32(acc, a, b); }
};

}  // namespace

// The row-group products too (row_groups_dotprod.cpp); the packer stays override_kernels'.
void override_kernels_dotprod(KernelTable& t) {
  set_integer_kernels<DotSdot>(t);
  set_row_group_kernels_dotprod(t);
  if (t.type == TensorType::Q4_0 || t.type == TensorType::Q8_0) t.neuron_columns = neuron_columns_group_dotprod;
}

}  // namespace st::neon
