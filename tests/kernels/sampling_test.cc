// Sampling: greedy and its tie-break, repetition penalty, top-k / top-p / temperature on
// known logits, and determinism of the seeded draw.
#include "kernels/cpu/sampling.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <vector>

#include "core/errors.h"

namespace kvlab::cpu {
namespace {

std::vector<float> logits_of(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
  return l;
}

SamplingParams random_params(float temperature = 1.0f, int32_t top_k = 0, float top_p = 1.0f) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = top_k;
  p.top_p = top_p;
  p.seed = 1234;
  return p;
}

TEST(Greedy, ArgmaxWithLowestIdOnTies) {
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f};
  EXPECT_EQ(argmax(logits), 1);
  SamplingParams greedy;
  EXPECT_TRUE(is_greedy(greedy));
  EXPECT_EQ(sample_token(logits, greedy, {}, 0, 10), 1);
}

TEST(RepetitionPenalty, DividesPositiveMultipliesNegativeOncePerToken) {
  const std::vector<float> logits = {2.0f, -1.0f, 3.0f, 0.5f};
  const std::vector<int32_t> history = {2, 1, 2, 2, 99, -3};  // repeats and junk ids
  const std::vector<float> out = apply_repetition_penalty(logits, 2.0f, history);
  EXPECT_EQ(out, (std::vector<float>{2.0f, -2.0f, 1.5f, 0.5f}));
  // Greedy sees the penalized logits: token 2 (3.0 -> 1.5) loses to token 0.
  SamplingParams greedy;
  greedy.repetition_penalty = 2.0f;
  EXPECT_EQ(sample_token(logits, greedy, history, 0, 0), 0);
  EXPECT_EQ(apply_repetition_penalty(logits, 1.0f, history), logits);
}

TEST(Distribution, TemperatureScalesLogits) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.0f};
  const std::vector<double> p = sampling_distribution(logits, random_params(2.0f), {});
  const double z = std::exp(0.5) + std::exp(1.0) + std::exp(0.0);
  EXPECT_NEAR(p[0], std::exp(0.5) / z, 1e-12);
  EXPECT_NEAR(p[1], std::exp(1.0) / z, 1e-12);
  EXPECT_NEAR(p[2], 1.0 / z, 1e-12);
}

TEST(Distribution, TopKKeepsTheKLargestWithIdTieBreak) {
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 3.0f, 0.0f};
  std::vector<double> p = sampling_distribution(logits, random_params(1.0f, 2), {});
  EXPECT_EQ(p, (std::vector<double>{0, 0.5, 0, 0.5, 0}));
  p = sampling_distribution(logits, random_params(1.0f, 3), {});
  const double z = 2 * std::exp(3.0) + std::exp(2.0);
  EXPECT_NEAR(p[1], std::exp(3.0) / z, 1e-12);
  EXPECT_NEAR(p[2], std::exp(2.0) / z, 1e-12);
  EXPECT_NEAR(p[3], std::exp(3.0) / z, 1e-12);
  EXPECT_EQ(p[0], 0.0);
  EXPECT_EQ(p[4], 0.0);
  // Ties at the cut: the lower id stays.
  p = sampling_distribution(std::vector<float>{5.0f, 1.0f, 1.0f, 1.0f}, random_params(1.0f, 2), {});
  EXPECT_GT(p[1], 0.0);
  EXPECT_EQ(p[2], 0.0);
  EXPECT_EQ(p[3], 0.0);
  // k >= vocab and k == 0 keep everything.
  EXPECT_EQ(sampling_distribution(logits, random_params(1.0f, 5), {}),
            sampling_distribution(logits, random_params(1.0f, 0), {}));
}

TEST(Distribution, TopPKeepsTheSmallestPrefixReachingP) {
  const std::vector<float> logits = logits_of({0.05, 0.5, 0.15, 0.3});
  std::vector<double> p = sampling_distribution(logits, random_params(1.0f, 0, 0.7f), {});
  EXPECT_NEAR(p[1], 0.5 / 0.8, 1e-6);
  EXPECT_NEAR(p[3], 0.3 / 0.8, 1e-6);
  EXPECT_EQ(p[0], 0.0);
  EXPECT_EQ(p[2], 0.0);
  p = sampling_distribution(logits, random_params(1.0f, 0, 0.85f), {});
  EXPECT_NEAR(p[2], 0.15 / 0.95, 1e-6);
  EXPECT_EQ(p[0], 0.0);
  // A tiny p keeps the single most likely token.
  p = sampling_distribution(logits, random_params(1.0f, 0, 0.01f), {});
  EXPECT_EQ(p, (std::vector<double>{0, 1, 0, 0}));
  // top-k first, then top-p over the renormalized top-k mass: k = 3 keeps {.5, .3, .15}
  // (total .95); p = .8 needs .76 of it: .5 + .3 = .8 >= .76 keeps two.
  p = sampling_distribution(logits, random_params(1.0f, 3, 0.8f), {});
  EXPECT_NEAR(p[1], 0.5 / 0.8, 1e-6);
  EXPECT_NEAR(p[3], 0.3 / 0.8, 1e-6);
  EXPECT_EQ(p[2], 0.0);
}

TEST(Sample, SameSeedIndexAndPositionGiveTheSameToken) {
  const std::vector<float> logits = logits_of({0.25, 0.25, 0.25, 0.25});
  const SamplingParams params = random_params();
  std::vector<int32_t> a, b, other_index, other_seed;
  SamplingParams reseeded = params;
  reseeded.seed = 99;
  for (int64_t pos = 0; pos < 64; ++pos) {
    a.push_back(sample_token(logits, params, {}, 0, pos));
    b.push_back(sample_token(logits, params, {}, 0, pos));
    other_index.push_back(sample_token(logits, params, {}, 1, pos));
    other_seed.push_back(sample_token(logits, reseeded, {}, 0, pos));
  }
  EXPECT_EQ(a, b);
  EXPECT_NE(a, other_index);
  EXPECT_NE(a, other_seed);
  EXPECT_NE(sampling_seed(1, 0, 5), sampling_seed(1, 5, 0));
  EXPECT_NE(sampling_seed(1, 0, 5), sampling_seed(5, 0, 1));
}

TEST(Sample, FrequenciesFollowTheDistributionAndNeverLeaveTheKeptSet) {
  const std::vector<float> logits = logits_of({0.5, 0.3, 0.15, 0.05});
  const int draws = 4000;
  std::vector<int> counts(4, 0);
  for (int64_t pos = 0; pos < draws; ++pos) {
    ++counts[static_cast<size_t>(sample_token(logits, random_params(), {}, 0, pos))];
  }
  const double expected[] = {0.5, 0.3, 0.15, 0.05};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(counts[i] / double(draws), expected[i], 0.03) << "token " << i;
  }
  std::set<int32_t> seen;
  for (int64_t pos = 0; pos < 500; ++pos) {
    seen.insert(sample_token(logits, random_params(1.0f, 2), {}, 3, pos));
  }
  EXPECT_EQ(seen, (std::set<int32_t>{0, 1}));
}

TEST(Sample, UniformDrawUsesTheTop53Bits) {
  EXPECT_EQ(uniform_01(0), 0.0);
  EXPECT_LT(uniform_01(~uint64_t{0}), 1.0);
  EXPECT_EQ(uniform_01(uint64_t{1} << 63), 0.5);
}

TEST(Sample, RejectsBadParameters) {
  const std::vector<float> logits = {0.0f, 1.0f};
  auto expect_field = [&](SamplingParams p, const char* field) {
    try {
      sample_token(logits, p, {}, 0, 0);
      ADD_FAILURE() << "no error for " << field;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  };
  SamplingParams p;
  p.temperature = -1.0f;
  expect_field(p, "sampling.temperature");
  p = random_params();
  p.top_p = 0.0f;
  expect_field(p, "sampling.top_p");
  p = random_params();
  p.top_p = 1.5f;
  expect_field(p, "sampling.top_p");
  p = random_params();
  p.top_k = -2;
  expect_field(p, "sampling.top_k");
  p = random_params();
  p.repetition_penalty = 0.0f;
  expect_field(p, "sampling.repetition_penalty");
}

}  // namespace
}  // namespace kvlab::cpu
