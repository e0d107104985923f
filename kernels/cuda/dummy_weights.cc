#include "kernels/cuda/dummy_weights.h"

#include <cmath>

namespace kvlab::cuda {

uint64_t dummy_tensor_seed(uint64_t weights_seed, const std::string& name) {
  // FNV-1a, as kernels/model/weight_source.cc hashes tensor names.
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return weights_seed ^ h;
}

DummyRange dummy_range(const std::string& name, bool is_vector, int64_t in_features) {
  // DummyWeightSource::load's rule (kernels/model/weight_source.cc), case for case.
  if (name.find("embed_tokens") != std::string::npos ||
      name.find("embed_positions") != std::string::npos) {
    return DummyRange{0.0f, 1.0f};
  }
  const bool is_bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
  if (is_vector && is_bias) return DummyRange{0.0f, 0.1f};
  if (is_vector) return DummyRange{1.0f, 0.1f};
  return DummyRange{0.0f, static_cast<float>(std::sqrt(3.0 / static_cast<double>(in_features)))};
}

}  // namespace kvlab::cuda
