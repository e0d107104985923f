// Every scheduler configuration over seeded random workloads with memory pressure, run to
// the end: the harness checks the per-step contracts (queues and statuses agree, budgets
// hold, the manager audits clean), and at the end every request is finished with all its
// tokens or rejected with a reason, first admissions follow arrival order (FCFS), and
// preemption really happened.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tests/scheduling/scheduler_harness.h"

namespace kvlab::testing {
namespace {

struct Case {
  std::string batching;
  int32_t chunk_size;
  std::string preemption;
  int32_t block_size;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  return c.batching + "_chunk" + std::to_string(c.chunk_size) + "_" + c.preemption + "_block" +
         std::to_string(c.block_size);
}

// Uniform in [lo, hi] by modulo: the bias is irrelevant here, and unlike
// std::uniform_int_distribution it gives the same numbers on every platform.
int32_t uniform(std::mt19937_64& rng, int32_t lo, int32_t hi) {
  return lo + static_cast<int32_t>(rng() % static_cast<uint64_t>(hi - lo + 1));
}

class RandomWorkloadTest : public ::testing::TestWithParam<Case> {};

TEST_P(RandomWorkloadTest, RunsToTheEndWithinTheContracts) {
  const Case& c = GetParam();
  int64_t preemptions = 0;
  int64_t swaps = 0;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const SchedulerConfig config =
        with_settings(SchedulerConfig{.batching = c.batching,
                                      .max_num_seqs = 8,
                                      .max_batched_tokens = 64,
                                      .max_seq_len = 64},
                      {{"scheduler.chunk_size", std::to_string(c.chunk_size)},
                       {"scheduler.preemption", c.preemption}});
    SchedulerHarness h(config, slot_budget(128, 96, c.block_size));
    std::mt19937_64 rng(seed);
    const int32_t num_requests = 60;
    double arrival = 0.0;
    for (RequestId id = 0; id < num_requests; ++id) {
      arrival += 0.25 * uniform(rng, 0, 6);
      const int32_t roll = uniform(rng, 0, 9);
      const int32_t n = roll < 7 ? 1 : roll < 9 ? 2 : 3;
      // Up to 72 tokens: a few exceed max_seq_len and must be rejected.
      h.add(id, arrival, uniform(rng, 1, 48), uniform(rng, 1, 24), n);
    }

    StepView view;
    int64_t steps = 0;
    while (h.step(&view)) {
      ASSERT_FALSE(::testing::Test::HasFailure()) << "after step " << steps << ": " << view;
      ASSERT_LT(++steps, 20000) << "no end in sight";
    }

    double last_first_scheduled = 0.0;
    for (RequestId id = 0; id < num_requests; ++id) {
      const SequenceGroup& g = h.group(id);
      preemptions += g.num_preemptions;
      swaps += g.num_swaps;
      if (g.status == GroupStatus::kRejected) {
        EXPECT_FALSE(g.reject_reason.empty()) << id;
        continue;
      }
      ASSERT_EQ(g.status, GroupStatus::kFinished) << id;
      EXPECT_EQ(static_cast<int32_t>(g.seqs.size()), g.spec.n) << id;
      for (const Sequence& s : g.seqs) EXPECT_EQ(s.num_generated, g.spec.output_len) << id;
      EXPECT_GE(g.first_scheduled_s, last_first_scheduled) << "request " << id << " overtook";
      last_first_scheduled = g.first_scheduled_s;
    }
  }
  EXPECT_GT(preemptions, 0) << "the workload never ran out of memory";
  if (c.preemption == "swap") {
    EXPECT_GT(swaps, 0);
  }
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (const char* preemption : {"recompute", "swap", "auto"}) {
    for (int32_t block_size : {1, 4}) {
      cases.push_back({"continuous", 0, preemption, block_size});
      cases.push_back({"continuous", 16, preemption, block_size});
      cases.push_back({"static", 0, preemption, block_size});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Configs, RandomWorkloadTest, ::testing::ValuesIn(all_cases()), case_name);

}  // namespace
}  // namespace kvlab::testing
