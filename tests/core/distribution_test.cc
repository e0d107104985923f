// core/distribution.h: sums and percentiles that do not depend on the order values come in,
// and a distribution that spills to a temporary file gives the same answers as one held in
// memory (the streamed and in-memory summaries are the same, app/results_writer.h).
#include "core/distribution.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "core/metrics.h"

namespace kvlab {
namespace {

std::vector<double> latencies(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> d(-3.0, 1.5);
  std::vector<double> v(n);
  for (double& x : v) x = d(rng);
  return v;
}

TEST(ExactSum, OrderDoesNotChangeTheSum) {
  std::vector<double> v = latencies(100000, 1);
  v.push_back(1e9);
  v.push_back(-1e9);
  v.push_back(1e-15);
  ExactSum forward;
  for (double x : v) forward.add(x);
  std::mt19937_64 rng(7);
  for (int round = 0; round < 5; ++round) {
    std::shuffle(v.begin(), v.end(), rng);
    ExactSum shuffled;
    for (double x : v) shuffled.add(x);
    EXPECT_EQ(shuffled.value(), forward.value());
  }
  // A naive sum of the same values does depend on the order: the test would catch a naive sum.
  double naive_a = 0, naive_b = 0;
  for (double x : v) naive_a += x;
  std::reverse(v.begin(), v.end());
  for (double x : v) naive_b += x;
  EXPECT_NE(naive_a, naive_b);
  EXPECT_NEAR(forward.value(), naive_a, 1e-6);
}

TEST(ExactSum, MergedPartsEqualOneSum) {
  const std::vector<double> v = latencies(10000, 2);
  ExactSum whole, a, b;
  for (size_t i = 0; i < v.size(); ++i) {
    whole.add(v[i]);
    (i % 3 == 0 ? a : b).add(v[i]);
  }
  a.add(b);
  EXPECT_EQ(a.value(), whole.value());
}

TEST(ExactSum, NonFiniteValuesAndOverflowFollowIeee) {
  ExactSum s;
  s.add(1.5);
  EXPECT_EQ(s.value(), 1.5);
  s.add(std::numeric_limits<double>::infinity());
  EXPECT_EQ(s.value(), std::numeric_limits<double>::infinity());
  s.add(-std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(s.value()));
  ExactSum n;
  n.add(std::nan(""));
  EXPECT_TRUE(std::isnan(n.value()));
  ExactSum big;
  big.add(1e300);
  big.add(1.0);
  EXPECT_EQ(big.value(), 1e300);  // past the fixed point's range: a double sum
  EXPECT_EQ(ExactSum{}.value(), 0.0);
}

TEST(Distribution, PercentilesAreNumpysLinearInterpolation) {
  Distribution<double> d;
  for (double x : {5.0, 1.0, 4.0, 2.0, 3.0}) d.add(x);
  EXPECT_EQ(d.percentile(0), 1.0);
  EXPECT_EQ(d.percentile(50), 3.0);
  EXPECT_EQ(d.percentile(100), 5.0);
  EXPECT_DOUBLE_EQ(d.percentile(90), 4.6);
  EXPECT_EQ(d.mean(), 3.0);
  EXPECT_TRUE(std::isnan(Distribution<double>{}.percentile(50)));
  EXPECT_TRUE(std::isnan(Distribution<double>{}.mean()));
}

template <typename T>
void expect_spill_matches_memory(const std::vector<T>& values) {
  Distribution<T> memory;
  Distribution<T> spilled(1000);  // a file past 1,000 values
  for (T v : values) {
    memory.add(v);
    spilled.add(v);
  }
  ASSERT_FALSE(memory.spilled());
  ASSERT_TRUE(spilled.spilled());
  EXPECT_EQ(spilled.size(), memory.size());
  EXPECT_EQ(spilled.mean(), memory.mean());
  for (double p : {0.0, 1.0, 10.0, 25.0, 50.0, 90.0, 99.0, 99.9, 100.0}) {
    EXPECT_EQ(spilled.percentile(p), memory.percentile(p)) << "p" << p;
  }
  std::vector<T> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t k : {int64_t{0}, int64_t{17}, static_cast<int64_t>(sorted.size() / 2),
                    static_cast<int64_t>(sorted.size() - 1)}) {
    EXPECT_EQ(spilled.order_statistic(k), sorted[static_cast<size_t>(k)]);
  }
  // A copy of a spilled distribution has its own file and the same answers.
  Distribution<T> copy = spilled;
  copy.add(sorted.back());
  EXPECT_EQ(copy.size(), spilled.size() + 1);
  EXPECT_EQ(spilled.percentile(50), memory.percentile(50));
}

TEST(Distribution, SpilledToAFileGivesTheSameAnswersBitForBit) {
  std::vector<double> v = latencies(50000, 3);
  // Negative values, zeros and ties too (the order-preserving key handles signs).
  for (int i = 0; i < 500; ++i) v.push_back(-v[static_cast<size_t>(i)]);
  for (int i = 0; i < 300; ++i) v.push_back(0.0);
  for (int i = 0; i < 300; ++i) v.push_back(v[7]);
  expect_spill_matches_memory(v);
  std::vector<float> f;
  for (double x : v) f.push_back(static_cast<float>(x));
  expect_spill_matches_memory(f);
}

TEST(Distribution, OrderOfAdditionDoesNotMatter) {
  std::vector<double> v = latencies(20000, 4);
  Distribution<double> a(512);
  for (double x : v) a.add(x);
  std::reverse(v.begin(), v.end());
  Distribution<double> b;
  for (double x : v) b.add(x);
  EXPECT_EQ(a.mean(), b.mean());
  EXPECT_EQ(a.percentile(99), b.percentile(99));
  Distribution<double> merged;
  merged.add(a);
  EXPECT_EQ(merged.percentile(37), b.percentile(37));
}

// summarize() gives the same summary whatever the order of a run's requests and steps.
TEST(SummaryAccumulator, RequestAndStepOrderDoNotChangeTheSummary) {
  RunResult run;
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(0.001, 2.0);
  for (int i = 0; i < 400; ++i) {
    RequestRecord r;
    r.id = i;
    r.arrival_s = u(rng);
    r.first_scheduled_s = r.arrival_s + u(rng) / 10;
    r.first_token_s = r.first_scheduled_s + u(rng) / 10;
    r.finish_s = r.first_token_s + u(rng);
    r.prompt_len = 10 + i % 50;
    r.output_len = 1 + i % 7;
    r.generated_tokens = r.output_len;
    r.outcome = i % 11 == 0 ? RequestOutcome::kRejected : RequestOutcome::kFinished;
    for (int k = 1; k < r.output_len; ++k) r.itl_s.push_back(static_cast<float>(u(rng) / 20));
    run.requests.push_back(r);
  }
  for (int i = 0; i < 300; ++i) {
    StepRecord s;
    s.time_s = i * 0.01;
    s.duration_s = u(rng) / 50;
    s.batch_size = 1 + i % 13;
    s.num_running = s.batch_size;
    s.memory.capacity = 1000;
    s.memory.token_states = 10 * (i % 90);
    s.memory.free = 1000 - s.memory.token_states;
    s.mfu = static_cast<float>(u(rng) / 4);
    s.mbu = static_cast<float>(u(rng) / 4);
    run.steps.push_back(s);
  }
  const Summary forward = summarize(run, 1000, 0.5);
  std::shuffle(run.requests.begin(), run.requests.end(), rng);
  std::shuffle(run.steps.begin(), run.steps.end(), rng);
  const Summary shuffled = summarize(run, 1000, 0.5);
  ASSERT_EQ(forward.values.size(), shuffled.values.size());
  for (size_t i = 0; i < forward.values.size(); ++i) {
    const auto& [name, value] = forward.values[i];
    if (std::isnan(value)) {
      EXPECT_TRUE(std::isnan(shuffled.values[i].second)) << name;
    } else {
      EXPECT_EQ(shuffled.values[i].second, value) << name;
    }
  }
  // Spilling every distribution after 16 values gives the same summary as well.
  SummaryAccumulator spill(MetricOptions{}, 16);
  for (const RequestRecord& r : run.requests) spill.add(r);
  for (const StepRecord& s : run.steps) spill.add(s);
  const Summary spilled = spill.finish(run, 1000, 0.5);
  for (size_t i = 0; i < forward.values.size(); ++i) {
    const auto& [name, value] = forward.values[i];
    if (!std::isnan(value)) {
      EXPECT_EQ(spilled.values[i].second, value) << name;
    }
  }
}

}  // namespace
}  // namespace kvlab
