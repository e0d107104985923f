// SplitMix64 (Steele, Lea, Flood 2014): the 64-bit mixer every seeded stream in kvlab derives
// from (dummy prompts, sampling seeds, device-side dummy weights). Host and device callable.
#pragma once

#include <cstdint>

#include "core/host_device.h"

namespace kvlab {

inline constexpr uint64_t kSplitMix64Gamma = 0x9e3779b97f4a7c15ULL;

// The finalizer: a bijection of 64-bit words with full avalanche.
KVLAB_CUDA_HD uint64_t splitmix64_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// One step from state x: the generator's output for state x + gamma.
KVLAB_CUDA_HD uint64_t splitmix64(uint64_t x) { return splitmix64_mix(x + kSplitMix64Gamma); }

}  // namespace kvlab
