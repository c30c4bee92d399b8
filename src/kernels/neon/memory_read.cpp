// kernels/memory_read.h with 16-byte loads (the widest NEON has): one cache line of each stream per step.
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "kernels/memory_read.h"

namespace st::neon {

uint64_t read_all(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  constexpr int S = kReadStreams;
  const size_t part = n / S / 64 * 64;  // each stream's bytes, whole cache lines
  uint64x2_t acc[S];
  for (auto& a : acc) a = vdupq_n_u64(0);
  for (size_t i = 0; i < part; i += 64)
    for (int s = 0; s < S; ++s) {
      const uint8_t* q = b + static_cast<size_t>(s) * part + i;
      const uint64x2_t l0 = vaddq_u64(vreinterpretq_u64_u8(vld1q_u8(q)), vreinterpretq_u64_u8(vld1q_u8(q + 16)));
      const uint64x2_t l1 = vaddq_u64(vreinterpretq_u64_u8(vld1q_u8(q + 32)), vreinterpretq_u64_u8(vld1q_u8(q + 48)));
      acc[s] = vaddq_u64(acc[s], vaddq_u64(l0, l1));
    }
  uint64x2_t all = acc[0];
  for (int s = 1; s < S; ++s) all = vaddq_u64(all, acc[s]);
  uint64_t sum = vaddvq_u64(all);
  for (size_t i = part * S; i < n; ++i) sum += b[i];
  return sum;
}

}  // namespace st::neon
