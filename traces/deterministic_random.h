// Random variates computed from std::mt19937_64's raw 64-bit outputs by transformations
// written here. The standard's distributions (std::exponential_distribution, ...) are
// implementation-defined, so the same seed would give different workloads with libstdc++ and
// libc++; these do not (up to the last-ulp accuracy of std::log / std::sqrt / std::exp, which
// is the same on every IEEE platform we build on). Functions are pure given the engine state.
#pragma once

#include <cstdint>
#include <random>

namespace kvlab {

// An independent-looking seed for `stream` derived from `seed` (SplitMix64 of both), so
// arrivals and lengths drawn from one user seed do not share a sequence.
uint64_t derive_seed(uint64_t seed, uint64_t stream);

// Uniform on the open interval (0, 1), from the top 53 bits: (k + 0.5) / 2^53.
double uniform_open01(std::mt19937_64& rng);

// Uniform integer in [lo, hi] by rejection (no modulo bias). REQUIRES: lo <= hi.
int64_t uniform_int(std::mt19937_64& rng, int64_t lo, int64_t hi);

// Standard normal by Marsaglia's polar method (one value per accepted pair).
double standard_normal(std::mt19937_64& rng);

// Exponential with the given rate (mean 1 / rate). REQUIRES: rate > 0.
double exponential(std::mt19937_64& rng, double rate);

// Gamma(shape, scale) by Marsaglia and Tsang (2000); shape < 1 by boosting:
// Gamma(a) = Gamma(a + 1) * U^(1/a). Mean shape * scale. REQUIRES: shape > 0, scale > 0.
double gamma_variate(std::mt19937_64& rng, double shape, double scale);

}  // namespace kvlab
