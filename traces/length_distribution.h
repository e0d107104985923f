// Token lengths of synthetic requests, from the workload.prompt_len / output_len keys:
//   "N"                   always N (N >= 1)
//   "uniform:A:B"         uniform integer in [A, B], 1 <= A <= B
//   "lognormal:MU:SIGMA"  round(exp(MU + SIGMA * Z)), Z standard normal, clamped to
//                         [1, 2^31 - 1]; MU and SIGMA are of ln(tokens), SIGMA >= 0
// Sampling uses deterministic_random.h, so one seed gives the same lengths everywhere.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace kvlab {

class LengthDistribution {
 public:
  // Throws InputError naming `key` (e.g. "workload.prompt_len") when `spec` is malformed.
  static LengthDistribution parse(const std::string& spec, const std::string& key);

  int32_t sample(std::mt19937_64& rng) const;
  // Mean of the distribution (of the unclamped lognormal for lognormal), for messages.
  double mean() const;

 private:
  enum class Kind { kConstant, kUniform, kLognormal };
  Kind kind_ = Kind::kConstant;
  int64_t lo_ = 1;
  int64_t hi_ = 1;
  double mu_ = 0;
  double sigma_ = 0;
};

}  // namespace kvlab
