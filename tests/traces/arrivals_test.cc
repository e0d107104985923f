// Arrival processes and the deterministic random transforms under them: rates, burstiness
// (coefficient of variation), determinism across seeds, and the documented transforms.
#include "traces/arrivals.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include "core/errors.h"
#include "traces/deterministic_random.h"

namespace kvlab {
namespace {

constexpr int64_t kDraws = 20000;

struct IntervalStats {
  double mean = 0;
  double cv = 0;  // standard deviation / mean
};

IntervalStats interval_stats(const std::vector<double>& times) {
  std::vector<double> gaps;
  for (size_t i = 1; i < times.size(); ++i) gaps.push_back(times[i] - times[i - 1]);
  double sum = 0;
  for (double g : gaps) sum += g;
  const double mean = sum / static_cast<double>(gaps.size());
  double squares = 0;
  for (double g : gaps) squares += (g - mean) * (g - mean);
  const double stddev = std::sqrt(squares / static_cast<double>(gaps.size() - 1));
  return {mean, stddev / mean};
}

void expect_starts_at_zero_and_never_decreases(const std::vector<double>& times) {
  ASSERT_FALSE(times.empty());
  EXPECT_EQ(times[0], 0.0);
  for (size_t i = 1; i < times.size(); ++i) ASSERT_GE(times[i], times[i - 1]) << i;
}

TEST(PoissonArrivals, MeanRateAndUnitCoefficientOfVariation) {
  for (uint64_t seed : {0, 1, 2, 12345}) {
    SCOPED_TRACE(seed);
    const auto times = poisson_arrivals(kDraws, 5.0, seed);
    ASSERT_EQ(times.size(), static_cast<size_t>(kDraws));
    expect_starts_at_zero_and_never_decreases(times);
    const double rate = static_cast<double>(kDraws - 1) / times.back();
    EXPECT_NEAR(rate, 5.0, 5.0 * 0.03);
    EXPECT_NEAR(interval_stats(times).cv, 1.0, 0.05);
  }
}

TEST(GammaArrivals, BurstinessSetsTheCoefficientOfVariation) {
  // Shape b, mean 1 / rate: CV = 1 / sqrt(b) (vLLM's benchmark_serving burstiness).
  for (double burstiness : {0.25, 0.5, 1.0, 4.0}) {
    SCOPED_TRACE(burstiness);
    const auto times = gamma_arrivals(kDraws, 2.0, burstiness, 3);
    expect_starts_at_zero_and_never_decreases(times);
    const IntervalStats stats = interval_stats(times);
    EXPECT_NEAR(stats.mean, 0.5, 0.5 * 0.05);
    EXPECT_NEAR(stats.cv, 1.0 / std::sqrt(burstiness), 0.1 / std::sqrt(burstiness));
  }
  // Burstier traffic has a larger CV than Poisson, smoother traffic a smaller one.
  EXPECT_GT(interval_stats(gamma_arrivals(kDraws, 1.0, 0.3, 9)).cv, 1.5);
  EXPECT_LT(interval_stats(gamma_arrivals(kDraws, 1.0, 5.0, 9)).cv, 0.6);
}

TEST(Arrivals, SameSeedSameTimesDifferentSeedDifferentTimes) {
  EXPECT_EQ(poisson_arrivals(1000, 3.0, 42), poisson_arrivals(1000, 3.0, 42));
  EXPECT_NE(poisson_arrivals(1000, 3.0, 42), poisson_arrivals(1000, 3.0, 43));
  EXPECT_EQ(gamma_arrivals(1000, 3.0, 0.5, 42), gamma_arrivals(1000, 3.0, 0.5, 42));
  EXPECT_NE(gamma_arrivals(1000, 3.0, 0.5, 42), gamma_arrivals(1000, 3.0, 0.5, 43));
  // A prefix of a longer run is the shorter run.
  const auto long_run = poisson_arrivals(100, 3.0, 5);
  const auto short_run = poisson_arrivals(10, 3.0, 5);
  EXPECT_TRUE(std::equal(short_run.begin(), short_run.end(), long_run.begin()));
}

TEST(Arrivals, BurstAndTraceProcesses) {
  EXPECT_EQ(burst_arrivals(3), (std::vector<double>{0, 0, 0}));
  EXPECT_TRUE(burst_arrivals(0).empty());
  EXPECT_TRUE(poisson_arrivals(0, 1.0, 0).empty());
  EXPECT_EQ(trace_arrivals({10, 12, 11, 10.5}, 2.0), (std::vector<double>{0, 4, 2, 1}));
}

TEST(Arrivals, ParsesProcessNamesAndRejectsUnknownOnes) {
  EXPECT_EQ(parse_arrival_process("gamma"), ArrivalProcess::kGamma);
  EXPECT_STREQ(to_string(parse_arrival_process("poisson")), "poisson");
  try {
    parse_arrival_process("uniform");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              "field 'workload.arrival': unknown arrival process 'uniform' (known: trace, "
              "poisson, gamma, burst)");
  }
}

TEST(DeterministicRandom, UniformIsTheDocumentedTransformOfTheEngineOutput) {
  // std::mt19937_64's output for the default seed is fixed by the C++ standard.
  std::mt19937_64 rng(5489);
  const uint64_t first = 14514284786278117030ULL;
  EXPECT_EQ(uniform_open01(rng), (static_cast<double>(first >> 11) + 0.5) * 0x1.0p-53);
  std::mt19937_64 again(5489);
  EXPECT_EQ(exponential(again, 2.0),
            -std::log((static_cast<double>(first >> 11) + 0.5) * 0x1.0p-53) / 2.0);
}

TEST(DeterministicRandom, UniformIntCoversItsInclusiveRangeOnly) {
  std::mt19937_64 rng(1);
  std::set<int64_t> seen;
  for (int i = 0; i < 2000; ++i) {
    const int64_t v = uniform_int(rng, 3, 7);
    ASSERT_GE(v, 3);
    ASSERT_LE(v, 7);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 5u);
  EXPECT_EQ(uniform_int(rng, 4, 4), 4);
}

TEST(DeterministicRandom, NormalAndGammaMoments) {
  std::mt19937_64 rng(11);
  double sum = 0, squares = 0;
  for (int i = 0; i < kDraws; ++i) {
    const double z = standard_normal(rng);
    sum += z;
    squares += z * z;
  }
  EXPECT_NEAR(sum / kDraws, 0.0, 0.03);
  EXPECT_NEAR(squares / kDraws, 1.0, 0.04);
  for (double shape : {0.3, 1.0, 7.5}) {
    double total = 0;
    for (int i = 0; i < kDraws; ++i) {
      const double g = gamma_variate(rng, shape, 2.0);
      ASSERT_GE(g, 0.0);
      total += g;
    }
    EXPECT_NEAR(total / kDraws, 2.0 * shape, 2.0 * shape * 0.05) << shape;
  }
}

TEST(DeterministicRandom, DerivedSeedsDifferPerStream) {
  EXPECT_NE(derive_seed(0, 1), derive_seed(0, 2));
  EXPECT_NE(derive_seed(0, 1), derive_seed(1, 1));
  EXPECT_EQ(derive_seed(9, 3), derive_seed(9, 3));
}

}  // namespace
}  // namespace kvlab
