#include "kernels/model/weight_source.h"

#include <cmath>
#include <random>

#include "core/errors.h"

namespace kvlab {

namespace {

// FNV-1a: a stable hash of the tensor name (std::hash is not specified across platforms).
uint64_t fnv1a(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace

void DummyWeightSource::load(const std::string& name, std::span<const int64_t> shape,
                             std::span<float> out) const {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  check_invariant(!shape.empty() && count == static_cast<int64_t>(out.size()),
                  "DummyWeightSource: '" + name + "' shape does not match its buffer");
  double center = 0.0;
  double half_width = 0.0;
  if (name.find("embed_tokens") != std::string::npos) {
    half_width = 1.0;
  } else if (shape.size() == 1) {
    center = 1.0;
    half_width = 0.1;
  } else {
    half_width = std::sqrt(3.0 / static_cast<double>(shape.back()));
  }
  std::mt19937_64 rng(seed_ ^ fnv1a(name));
  for (float& x : out) {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;  // [0, 1)
    x = static_cast<float>(center + half_width * (2.0 * u - 1.0));
  }
}

}  // namespace kvlab
