// The device-side dummy-weight rule: for models too large to generate on the host (llama-2-7b
// is 6.7e9 parameters; DummyWeightSource's sequential mt19937_64 stream would take minutes),
// every element is a pure function of (tensor seed, element index), so a kernel fills a
// tensor in parallel.
//
//   tensor seed  = backend.weights_seed ^ FNV-1a(Hugging Face tensor name)   (as the CPU's)
//   u_i          = top 53 bits of SplitMix64's i-th output from that seed, in [0, 1)
//   value_i      = center + half_width * (2 u_i - 1)
//
// with center and half_width from the same rule as DummyWeightSource (weight_source.h):
// embeddings (token and position tables) uniform in [-1, 1), 1-D `.bias` tensors uniform
// [-0.1, 0.1), other 1-D tensors 1 + uniform [-0.1, 0.1), other [out][in] tensors
// uniform [-a, a) with a = sqrt(3 / in). Same distributions as the CPU's weights, NOT the same
// values: only host-generated weights (cuda/llama_weights.h) match the CPU model bit for bit.
#pragma once

#include <cstdint>
#include <string>

#include "core/host_device.h"
#include "core/splitmix.h"
#include "kernels/sampling_rng.h"

namespace kvlab::cuda {

struct DummyRange {
  float center = 0.0f;
  float half_width = 0.0f;
};

// Element `index` of the tensor whose seed is `tensor_seed`.
KVLAB_CUDA_HD float dummy_weight_value(uint64_t tensor_seed, int64_t index, DummyRange range) {
  const uint64_t bits =
      splitmix64_mix(tensor_seed + (static_cast<uint64_t>(index) + 1) * kSplitMix64Gamma);
  const double u = uniform_01(bits);
  return static_cast<float>(range.center + range.half_width * (2.0 * u - 1.0));
}

// weights_seed ^ FNV-1a(name), the per-tensor seed DummyWeightSource uses too.
uint64_t dummy_tensor_seed(uint64_t weights_seed, const std::string& name);

// The range DummyWeightSource draws tensor `name` from; `in_features` is the last dimension
// (ignored for 1-D tensors, `is_vector`).
DummyRange dummy_range(const std::string& name, bool is_vector, int64_t in_features);

}  // namespace kvlab::cuda
