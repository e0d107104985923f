// The GPU sampler's logic on the host, no device needed: the per-row mt19937_64 first output
// and seed mixing against the standard library and kernels/cpu/sampling.cc, the float key, and
// sampling_row.h's whole row pipeline (radix top-k / top-p, tie cuts, inverse CDF) run by a team
// of std::threads with a barrier in place of a thread block, against cpu::sample_token.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <cstdint>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#include "kernels/cpu/sampling.h"
#include "kernels/cuda/sampling.h"
#include "kernels/cuda/sampling_row.h"
#include "tests/gpu/sampling_test_util.h"

namespace kvlab {
namespace {

namespace sampling = cuda::sampling;

TEST(SamplingRng, FirstMt19937_64OutputEqualsTheStandardEngine) {
  std::vector<uint64_t> seeds = {0,
                                 1,
                                 5489,
                                 0x7fffffffULL,
                                 0x80000000ULL,
                                 0xffffffffULL,
                                 0xFFFFFFFF80000000ULL,
                                 std::numeric_limits<uint64_t>::max()};
  std::mt19937_64 rng(123);
  for (int i = 0; i < 20000; ++i) seeds.push_back(rng());
  for (uint64_t s = 0; s < 2000; ++s) seeds.push_back(s);
  for (uint64_t seed : seeds) {
    std::mt19937_64 reference(seed);
    ASSERT_EQ(sampling::mt19937_64_first(seed), reference()) << "seed " << seed;
  }
}

TEST(SamplingRng, SeedAndUniformEqualTheCpuSampler) {
  std::mt19937_64 rng(9);
  for (int i = 0; i < 5000; ++i) {
    const uint64_t seed = i < 10 ? static_cast<uint64_t>(i) : rng();
    const auto index = static_cast<int32_t>(i % 7 == 0 ? -1 : static_cast<int32_t>(rng() % 16));
    const auto position =
        static_cast<int64_t>(i % 11 == 0 ? -5 : static_cast<int64_t>(rng() >> 20));
    const uint64_t s = cpu::sampling_seed(seed, index, position);
    ASSERT_EQ(sampling::sampling_seed(seed, index, position), s);
    std::mt19937_64 engine(s);
    const double u = cpu::uniform_01(engine());
    ASSERT_EQ(sampling::sampling_u(seed, index, position), u);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
  EXPECT_EQ(sampling::uniform_01(~uint64_t{0}), cpu::uniform_01(~uint64_t{0}));
  EXPECT_EQ(sampling::uniform_01(0), 0.0);
}

TEST(SamplingKey, PreservesOrderAndTiesSignedZeros) {
  const std::vector<float> values = {-std::numeric_limits<float>::infinity(),
                                     -3e38f,
                                     -1.5f,
                                     -1e-40f,  // denormal
                                     0.0f,
                                     1e-40f,
                                     1.0f,
                                     1.0000001f,
                                     3e38f,
                                     std::numeric_limits<float>::infinity()};
  for (size_t i = 0; i + 1 < values.size(); ++i) {
    EXPECT_LT(sampling::float_key(values[i]), sampling::float_key(values[i + 1])) << values[i];
  }
  EXPECT_EQ(sampling::float_key(-0.0f), sampling::float_key(0.0f));
  for (float v : values) EXPECT_EQ(sampling::key_float(sampling::float_key(v)), v);
  std::mt19937_64 rng(3);
  std::normal_distribution<float> normal(0.0f, 10.0f);
  for (int i = 0; i < 10000; ++i) {
    const float a = normal(rng), b = normal(rng);
    ASSERT_EQ(a < b, sampling::float_key(a) < sampling::float_key(b));
    ASSERT_EQ(a == b, sampling::float_key(a) == sampling::float_key(b));
  }
}

// The team's shared state: what a thread block's shared memory holds.
struct HostTeamState {
  HostTeamState(int32_t n, int32_t vocab)
      : size(n),
        barrier(n),
        d(static_cast<size_t>(n)),
        u(static_cast<size_t>(n)),
        i(static_cast<size_t>(n)),
        bins(static_cast<size_t>(sampling::kBins * n)),
        marks(static_cast<size_t>((vocab + 31) / 32)) {}
  int32_t size;
  std::barrier<> barrier;
  std::vector<double> d;
  std::vector<uint32_t> u;
  std::vector<int32_t> i;
  std::vector<double> bins;
  double totals[sampling::kBins] = {};
  std::vector<uint32_t> marks;
};

// sampling_row.h's team as host threads: every collective writes its slot, waits, reads all
// slots in rank order, waits.
class HostTeam {
 public:
  HostTeam(HostTeamState& s, int32_t rank) : s_(s), rank_(rank) {}
  int32_t rank() const { return rank_; }
  int32_t size() const { return s_.size; }
  void sync() { s_.barrier.arrive_and_wait(); }

  double sum(double x) {
    s_.d[slot()] = x;
    sync();
    double t = 0.0;
    for (double v : s_.d) t += v;
    sync();
    return t;
  }
  uint32_t max(uint32_t x) {
    s_.u[slot()] = x;
    sync();
    uint32_t best = 0;
    for (uint32_t v : s_.u) best = std::max(best, v);
    sync();
    return best;
  }
  int32_t min(int32_t x) {
    s_.i[slot()] = x;
    sync();
    int32_t best = x;
    for (int32_t v : s_.i) best = std::min(best, v);
    sync();
    return best;
  }
  int32_t exclusive_scan(int32_t x, int32_t* total) { return scan(x, total, s_.i); }
  double exclusive_scan(double x, double* total) { return scan(x, total, s_.d); }
  double& bin(int32_t d) { return s_.bins[static_cast<size_t>(d * s_.size + rank_)]; }
  const double* reduce_bins() {
    sync();
    if (rank_ == 0) {
      for (int32_t b = 0; b < sampling::kBins; ++b) {
        double t = 0.0;
        for (int32_t r = 0; r < s_.size; ++r) t += s_.bins[static_cast<size_t>(b * s_.size + r)];
        s_.totals[b] = t;
      }
    }
    sync();
    return s_.totals;
  }
  uint32_t* marks() { return s_.marks.data(); }
  void mark(uint32_t* words, int32_t bit) {
    std::atomic_ref<uint32_t>(words[bit >> 5]).fetch_or(1u << (bit & 31));
  }

 private:
  size_t slot() const { return static_cast<size_t>(rank_); }
  template <typename T>
  T scan(T x, T* total, std::vector<T>& slots) {
    slots[slot()] = x;
    sync();
    T before = 0, all = 0;
    for (int32_t r = 0; r < s_.size; ++r) {
      if (r == rank_) before = all;
      all += slots[static_cast<size_t>(r)];
    }
    sync();
    *total = all;
    return before;
  }

  HostTeamState& s_;
  int32_t rank_;
};

// sample_row on `threads` host threads; every member must return the same token.
int32_t host_sample(const gpu_testing::DrawInput& d, int32_t threads) {
  const auto vocab = static_cast<int32_t>(d.logits.size());
  const sampling::RowSpec spec = cuda::row_spec(gpu_testing::as_draw(d, 0), 0);
  HostTeamState state(threads, vocab);
  std::vector<int32_t> tokens(static_cast<size_t>(threads), -1);
  auto run = [&](int32_t rank) {
    HostTeam team(state, rank);
    tokens[static_cast<size_t>(rank)] =
        sampling::sample_row(team, d.logits.data(), vocab, spec, d.history.data());
  };
  std::vector<std::thread> pool;
  for (int32_t r = 1; r < threads; ++r) pool.emplace_back(run, r);
  run(0);
  for (std::thread& t : pool) t.join();
  for (int32_t t : tokens) EXPECT_EQ(t, tokens[0]) << "team members disagree";
  return tokens[0];
}

class SamplingRowOnHost : public ::testing::TestWithParam<gpu_testing::SamplingCase> {};

TEST_P(SamplingRowOnHost, EqualsCpuSampleToken) {
  const gpu_testing::SamplingCase& c = GetParam();
  // Team sizes: one thread (everything sequential), a few, and one with idle members
  // (more threads than some chunks have ids).
  for (int32_t threads : {1, 3, 8}) {
    for (int32_t vocab : {1, 7, 300, 2000}) {
      SCOPED_TRACE("threads " + std::to_string(threads) + ", vocab " + std::to_string(vocab));
      const std::vector<gpu_testing::DrawInput> draws =
          gpu_testing::make_draws(c, vocab, vocab < 100 ? 20 : 40, 1000 + vocab + threads);
      std::vector<int32_t> got;
      for (const gpu_testing::DrawInput& d : draws) got.push_back(host_sample(d, threads));
      EXPECT_TRUE(gpu_testing::agrees_with_cpu(draws, got));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, SamplingRowOnHost,
                         ::testing::ValuesIn(gpu_testing::sampling_cases()), [](const auto& info) {
                           std::string name = info.param.name;
                           for (char& ch : name) {
                             if (ch == '.') ch = '_';
                           }
                           return name;
                         });

TEST(SamplingRowOnHostLargeVocab, EqualsCpuSampleTokenAt32000) {
  for (const gpu_testing::SamplingCase& c : gpu_testing::sampling_cases()) {
    SCOPED_TRACE(c.name);
    const std::vector<gpu_testing::DrawInput> draws = gpu_testing::make_draws(c, 32000, 3, 77);
    std::vector<int32_t> got;
    for (const gpu_testing::DrawInput& d : draws) got.push_back(host_sample(d, 4));
    EXPECT_TRUE(gpu_testing::agrees_with_cpu(draws, got));
  }
}

// The cuts themselves: top-k keeps exactly k tokens with ties by id, top-p's nucleus is the
// CPU's, on inputs built so the answer is known.
TEST(SamplingRowOnHostCuts, TopKTiesGoToTheLowestIds) {
  gpu_testing::DrawInput d;
  d.logits.assign(100, 0.0f);
  for (int i : {90, 10, 50, 70, 30}) d.logits[static_cast<size_t>(i)] = 5.0f;  // 5 tied maxima
  d.params = gpu_testing::params(1.0f, 3, 1.0f, 1.0f);
  // top-3 keeps ids 10, 30, 50 with equal probability: every draw is one of them, and over
  // many seeds all three appear.
  std::vector<int> seen(100, 0);
  for (uint64_t seed = 0; seed < 300; ++seed) {
    d.params.seed = seed;
    const int32_t t = host_sample(d, 4);
    ASSERT_EQ(t, cpu::sample_token(d.logits, d.params, d.history, 0, 0));
    ++seen[static_cast<size_t>(t)];
  }
  EXPECT_GT(seen[10], 50);
  EXPECT_GT(seen[30], 50);
  EXPECT_GT(seen[50], 50);
  EXPECT_EQ(seen[10] + seen[30] + seen[50], 300);
}

TEST(SamplingRowOnHostCuts, PenaltyCanChangeTheGreedyToken) {
  gpu_testing::DrawInput d;
  d.logits = {1.0f, 3.0f, 2.5f, -1.0f};
  d.params = gpu_testing::params(0.0f, 0, 1.0f, 2.0f);
  d.history = {1, 1, 1, 3, 99, -1};
  EXPECT_EQ(host_sample(d, 2), 2);  // 3 / 2 = 1.5 < 2.5
  d.params.repetition_penalty = 1.0f;
  EXPECT_EQ(host_sample(d, 2), 1);
}

}  // namespace
}  // namespace kvlab
