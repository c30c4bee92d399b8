// kernels/memory_read.h with 16-byte loads, four per step (the widest NEON has).
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

namespace st::neon {

uint64_t read_all(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  uint64x2_t acc[4] = {vdupq_n_u64(0), vdupq_n_u64(0), vdupq_n_u64(0), vdupq_n_u64(0)};
  size_t i = 0;
  for (; i + 64 <= n; i += 64)
    for (int k = 0; k < 4; ++k) acc[k] = vaddq_u64(acc[k], vreinterpretq_u64_u8(vld1q_u8(b + i + 16 * k)));
  uint64_t sum = vaddvq_u64(vaddq_u64(vaddq_u64(acc[0], acc[1]), vaddq_u64(acc[2], acc[3])));
  for (; i < n; ++i) sum += b[i];
  return sum;
}

}  // namespace st::neon
