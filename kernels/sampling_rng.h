// The random draw of a sampled token, shared by the CPU sampler (kernels/cpu/sampling.h) and
// the GPU one (kernels/cuda/sampling_row.h), so both draw the same u for the same (request
// seed, sample index, position). Host and device callable.
#pragma once

#include <cstdint>

#include "core/host_device.h"
#include "core/splitmix.h"

namespace kvlab {

// The 64-bit seed of the draw for (request seed, sample index, position): SplitMix64 mixing,
// so nearby inputs give unrelated streams.
KVLAB_CUDA_HD uint64_t sampling_seed(uint64_t request_seed, int32_t sample_index,
                                     int64_t position) {
  uint64_t s = splitmix64(request_seed);
  s = splitmix64(s ^ static_cast<uint64_t>(static_cast<uint32_t>(sample_index)));
  return splitmix64(s ^ static_cast<uint64_t>(position));
}

// A uniform double in [0, 1) from the top 53 bits of a 64-bit word.
KVLAB_CUDA_HD double uniform_01(uint64_t random_bits) {
  return static_cast<double>(random_bits >> 11) * 0x1.0p-53;
}

// The first output of std::mt19937_64(seed), without its 2.5 KB state. Seeding fills
// x[0..311] sequentially (x[i] = f * (x[i-1] ^ (x[i-1] >> 62)) + i); the first output needs only
// the twist of x[0] (with x[1] and x[156]) and the tempering, so 156 seeding steps suffice.
KVLAB_CUDA_HD uint64_t mt19937_64_first(uint64_t seed) {
  constexpr uint64_t kF = 6364136223846793005ULL;
  const uint64_t x0 = seed;
  uint64_t x = seed, x1 = 0;
  for (uint64_t i = 1; i <= 156; ++i) {
    x = kF * (x ^ (x >> 62)) + i;
    if (i == 1) x1 = x;
  }
  const uint64_t y = (x0 & 0xFFFFFFFF80000000ULL) | (x1 & 0x7FFFFFFFULL);
  uint64_t z = x ^ (y >> 1) ^ ((y & 1ULL) != 0 ? 0xB5026F5AA96619E9ULL : 0ULL);
  z ^= (z >> 29) & 0x5555555555555555ULL;
  z ^= (z << 17) & 0x71D67FFFEDA60000ULL;
  z ^= (z << 37) & 0xFFF7EEE000000000ULL;
  z ^= z >> 43;
  return z;
}

// The u of the draw for (seed, sample index, position): uniform_01 of the first output of
// std::mt19937_64 seeded with sampling_seed(...).
KVLAB_CUDA_HD double sampling_u(uint64_t seed, int32_t sample_index, int64_t position) {
  return uniform_01(mt19937_64_first(sampling_seed(seed, sample_index, position)));
}

}  // namespace kvlab
