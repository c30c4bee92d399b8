// Bit access shared by Q5_0 and Q5_1 (identical code layout, different value rule).
#pragma once
#include <cstdint>
#include <cstring>

#include "kernels/blocks.h"

namespace st::ref {
namespace {

inline uint32_t load_qh(const uint8_t* qh) {
  uint32_t v;
  std::memcpy(&v, qh, 4);  // little-endian hosts only, as everywhere in this engine
  return v;
}

// The 5-bit code of element j (0..31): low 4 bits as in Q4_0, 5th bit = bit j of qh.
inline int code5(const uint8_t* qs, uint32_t qh, int j) {
  const int lo = j < kQK / 2 ? (qs[j] & 0x0F) : (qs[j - kQK / 2] >> 4);
  return lo | static_cast<int>(((qh >> j) & 1u) << 4);
}

// Packs 32 5-bit codes into qs/qh.
inline void pack_code5(const int* q, uint8_t* qs, uint8_t* qh_bytes) {
  uint32_t qh = 0;
  for (int j = 0; j < kQK / 2; ++j) qs[j] = static_cast<uint8_t>((q[j] & 0x0F) | ((q[j + kQK / 2] & 0x0F) << 4));
  for (int j = 0; j < kQK; ++j) qh |= static_cast<uint32_t>(q[j] >> 4) << j;
  std::memcpy(qh_bytes, &qh, 4);
}

}  // namespace
}  // namespace st::ref
