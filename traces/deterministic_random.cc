#include "traces/deterministic_random.h"

#include <cmath>
#include <limits>

#include "core/errors.h"

namespace kvlab {

uint64_t derive_seed(uint64_t seed, uint64_t stream) {
  // SplitMix64 (Steele, Lea, Flood 2014) over seed and stream.
  uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (stream + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double uniform_open01(std::mt19937_64& rng) {
  const uint64_t k = rng() >> 11;  // 53 bits
  return (static_cast<double>(k) + 0.5) * 0x1.0p-53;
}

int64_t uniform_int(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  check_invariant(lo <= hi, "uniform_int: lo > hi");
  const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
  if (span == std::numeric_limits<uint64_t>::max()) return static_cast<int64_t>(rng());
  const uint64_t range = span + 1;
  // Accept draws below the largest multiple of `range`, so every residue is equally likely.
  const uint64_t limit =
      std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % range;
  uint64_t draw;
  do {
    draw = rng();
  } while (draw >= limit);
  return static_cast<int64_t>(static_cast<uint64_t>(lo) + draw % range);
}

double standard_normal(std::mt19937_64& rng) {
  while (true) {
    const double u = 2.0 * uniform_open01(rng) - 1.0;
    const double v = 2.0 * uniform_open01(rng) - 1.0;
    const double s = u * u + v * v;
    if (s >= 1.0 || s == 0.0) continue;
    return u * std::sqrt(-2.0 * std::log(s) / s);
  }
}

double exponential(std::mt19937_64& rng, double rate) {
  check_invariant(rate > 0, "exponential: rate <= 0");
  return -std::log(uniform_open01(rng)) / rate;
}

double gamma_variate(std::mt19937_64& rng, double shape, double scale) {
  check_invariant(shape > 0 && scale > 0, "gamma_variate: shape or scale <= 0");
  if (shape < 1.0) {
    const double boosted = gamma_variate(rng, shape + 1.0, 1.0);
    return boosted * std::pow(uniform_open01(rng), 1.0 / shape) * scale;
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  while (true) {
    const double x = standard_normal(rng);
    double v = 1.0 + c * x;
    if (v <= 0.0) continue;
    v = v * v * v;
    const double u = uniform_open01(rng);
    const double x2 = x * x;
    if (u < 1.0 - 0.0331 * x2 * x2) return d * v * scale;
    if (std::log(u) < 0.5 * x2 + d * (1.0 - v + std::log(v))) return d * v * scale;
  }
}

}  // namespace kvlab
